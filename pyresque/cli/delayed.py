"""``pyresque delayed list|run-now|remove``: the delayed schedule through
:class:`pyresque.fleet.Fleet` (``spec/admin.md``)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

from pyresque.cli.enqueue import parse_json
from pyresque.cli.fleetrun import on_fleet
from pyresque.cli.options import one_line
from pyresque.cli.status import _name
from pyresque.cli.when import iso, relative
from pyresque.errors import PyresqueError, UsageError
from pyresque.fleet import DelayedJob, Fleet

__all__ = ["Pick", "format_job", "list_delayed", "pick", "remove", "run_now"]

_SECONDS_PER_READ = 50  # due seconds read per round trip while walking the schedule
_PER_SECOND = 1000  # jobs of one second read at once


def _second(ms: float) -> str:
    """``ms`` as ISO 8601 UTC to the second: ``2026-12-06T10:00:00Z``."""
    return iso(ms).replace(".000Z", "Z")


def format_job(job: DelayedJob, now_ms: float) -> str:
    """One line: due time (ISO 8601 UTC, and from now), queue, class, args."""
    ago = relative(job.at - now_ms)
    due = f"{_second(job.at)} ({'in ' + ago if job.at >= now_ms else ago + ' ago'})"
    if job.job is None:
        why = job.unreadable["unreadable"] if job.unreadable else "no JSON object"
        return f"{due}  unreadable ({one_line(why)})"
    args = json.dumps(job.args, ensure_ascii=False) if job.args is not None else "?"
    return f"{due}  {_name(job.queue or '?')}  {_name(job.job_class or '?')}  {args}"


async def _jobs(fleet: Fleet, offset: int, limit: int) -> tuple[list[DelayedJob], int]:
    """Jobs ``[offset, offset + limit)`` of the schedule, earliest first, and how many
    seconds the schedule holds."""
    found: list[DelayedJob] = []
    skip, seconds, total = offset, 0, 0
    while len(found) < limit:
        wanted = skip + limit - len(found)
        page = await fleet.delayed.page(seconds, _SECONDS_PER_READ, per_second=wanted)
        total = page.total
        for slot in page.slots:
            if skip >= slot.count:
                skip -= slot.count
                continue
            found.extend(slot.jobs[skip:])
            skip = 0
            if len(found) >= limit:
                break
        if len(page.slots) < _SECONDS_PER_READ:
            break
        seconds += _SECONDS_PER_READ
    return found[:limit], total


def list_delayed(options: argparse.Namespace) -> int:
    """``pyresque delayed list``: a page of the delayed jobs, earliest first."""

    async def work(fleet: Fleet) -> tuple[list[DelayedJob], int]:
        return await _jobs(fleet, options.offset, options.limit)

    jobs, seconds = on_fleet(options, work)
    if options.json:
        document = {
            "jobs": [job.as_dict() for job in jobs],
            "offset": options.offset,
            "limit": options.limit,
            "seconds": seconds,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    now = time.time() * 1000
    footer = f"{len(jobs)} job{'' if len(jobs) == 1 else 's'} shown"
    if options.offset:
        footer += f" (from {options.offset})"
    print("\n".join([*(format_job(job, now) for job in jobs), f"{footer}; {seconds} "
                     f"timestamp{'' if seconds == 1 else 's'} in the schedule"]))  # fmt: skip
    return 0


@dataclass(frozen=True, slots=True)
class Pick:
    """The jobs ``--at SECOND --class C [--queue Q] [--args JSON]`` select."""

    second: int
    job_class: str
    queue: str | None = None
    args: list[Any] | None = None

    def matches(self, job: DelayedJob) -> bool:
        """Whether ``job`` is one of them."""
        if job.timestamp != self.second or job.job_class != self.job_class:
            return False
        if self.queue is not None and job.queue != self.queue:
            return False
        return self.args is None or job.args == self.args

    def describe(self) -> str:
        """``add jobs due at <ISO>`` (with the queue and args when given)."""
        found = f"{_name(self.job_class)} jobs due at {_second(self.second * 1000)}"
        if self.queue is not None:
            found += f" on queue {_name(self.queue)!r}"
        if self.args is not None:
            found += f" with args {json.dumps(self.args, ensure_ascii=False)}"
        return found


def pick(options: argparse.Namespace) -> Pick | None:
    """What ``--at`` and its companions select, None without ``--at``; UsageError for a
    companion without it, or ``--at`` without ``--class``."""
    if options.at is None:
        given = [f for f, v in (("--class", options.job_class), ("--queue", options.queue),
                                ("--args", options.args)) if v is not None]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)}: only with --at SECOND (and --class)")
        return None
    if options.job_class is None:
        raise UsageError("--at needs --class: the class of the jobs to select at that second")
    args = None
    if options.args is not None:
        parsed = parse_json("--args", options.args)
        args = parsed if isinstance(parsed, list) else [parsed]
    return Pick(options.at, options.job_class, options.queue, args)


async def _picked(fleet: Fleet, chosen: Pick) -> list[DelayedJob]:
    """The jobs of ``chosen``'s second that it selects (every one there is read)."""
    due_by = chosen.second * 1000
    before = (await fleet.delayed.page(0, 0, due_by=due_by)).total  # seconds up to it
    if before == 0:
        return []
    per_second = _PER_SECOND
    while True:
        page = await fleet.delayed.page(before - 1, 1, per_second=per_second, due_by=due_by)
        slot = next((s for s in page.slots if s.timestamp == chosen.second), None)
        if slot is None:
            return []
        if len(slot.jobs) >= slot.count:
            return [job for job in slot.jobs if chosen.matches(job)]
        per_second = slot.count


def _jobs_word(count: int) -> str:
    return f"{count} delayed job{'' if count == 1 else 's'}"


def run_now(options: argparse.Namespace) -> int:
    """``pyresque delayed run-now``: enqueue the selected delayed jobs now."""
    chosen = pick(options)
    modes = [m for m, on in (("--due", options.due), ("--all", options.all),
                             ("--at", chosen is not None)) if on]  # fmt: skip
    if len(modes) != 1:
        raise UsageError(
            "say which jobs, one way: --due, --all, or --at SECOND --class C"
            + (f" (not {' and '.join(modes)})" if modes else "")
        )
    now = time.time() * 1000

    async def work(fleet: Fleet) -> int:
        if chosen is None:
            return await fleet.delayed.run_due(now if options.due else None)
        jobs = await _picked(fleet, chosen)
        if not jobs:
            raise PyresqueError(f"no delayed job to run: there are no {chosen.describe()}")
        return sum([await fleet.delayed.run_now(job) for job in jobs])

    done = on_fleet(options, work)
    what = f" due by {iso(now)}" if options.due else ""
    print(f"enqueued {_jobs_word(done)}{what} now")
    return 0


async def _remove_all(fleet: Fleet) -> int:
    """Remove every delayed job, second by second (emptied seconds stay in the schedule
    until a scheduler passes them, as with both peers)."""
    removed, offset = 0, 0
    while True:
        page = await fleet.delayed.page(offset, _SECONDS_PER_READ, per_second=_PER_SECOND)
        if not page.slots:
            return removed
        more = False
        for slot in page.slots:
            gone = [await fleet.delayed.remove(job) for job in slot.jobs]
            removed += sum(gone)
            more = more or (slot.count > len(slot.jobs) and sum(gone) > 0)
        if not more:  # else read the same seconds again: their next jobs
            offset += len(page.slots)


def remove(options: argparse.Namespace) -> int:
    """``pyresque delayed remove``: remove the selected delayed jobs."""
    chosen = pick(options)
    if options.all == (chosen is not None):
        raise UsageError("say which jobs, one way: --at SECOND --class C, or --all --yes")
    if options.all and not options.yes:
        raise UsageError("--all removes every delayed job: add --yes to do it")

    async def work(fleet: Fleet) -> int:
        if chosen is None:
            return await _remove_all(fleet)
        jobs = await _picked(fleet, chosen)
        if not jobs:
            raise PyresqueError(f"no delayed job to remove: there are no {chosen.describe()}")
        return sum([await fleet.delayed.remove(job) for job in {j.raw: j for j in jobs}.values()])

    print(f"removed {_jobs_word(on_fleet(options, work))}")
    return 0
