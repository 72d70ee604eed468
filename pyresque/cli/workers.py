"""``pyresque workers`` and ``pyresque workers clean``: every peer's workers through
:class:`pyresque.fleet.Fleet` (``spec/admin.md``)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pyresque.cli.fleetrun import on_fleet
from pyresque.cli.status import _name, shown
from pyresque.cli.when import iso, relative
from pyresque.errors import PyresqueError
from pyresque.fleet import Fleet, WorkerInfo
from pyresque.protocol.status import is_unreadable

__all__ = ["clean", "format_workers", "list_workers"]

_HEADER = ("NAME", "KIND", "HOST", "PID", "QUEUES", "JOB", "LAST SEEN", "")


def _moment(value: object, now_ms: float) -> str:
    """A time in ms as ``<ISO> (<span> ago)``; an unreadable marker as such; ``never``."""
    if value is None:
        return "never"
    if not isinstance(value, int):
        return shown(value)
    return f"{iso(value).replace('.000Z', 'Z')} ({relative(now_ms - value)} ago)"


def _job(worker: WorkerInfo, now_ms: float) -> str:
    if worker.job is None:
        return "idle"
    if is_unreadable(worker.job):
        return shown(worker.job)
    job = f"{_name(worker.job_class or '?')}@{_name(worker.job_queue or '?')}"
    return f"{job} since {_moment(worker.job_since, now_ms)}"


def _row(worker: WorkerInfo, now_ms: float) -> tuple[str, ...]:
    return (
        _name(worker.name),
        worker.kind or "?",
        _name(worker.host),
        "?" if worker.pid is None else str(worker.pid),
        _name(",".join(worker.queues)) or "?",
        _job(worker, now_ms),
        _moment(worker.seen_at, now_ms),
        "STALE" if worker.stale else "",
    )


def format_workers(workers: list[WorkerInfo], now_ms: float) -> str:
    """A table, one worker a line: name, kind, host, pid, queues, current job (class@queue
    since when), last seen, ``STALE``; then how many, and how many are stale."""
    rows = [_HEADER, *(_row(w, now_ms) for w in workers)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    stale = sum(w.stale for w in workers)
    lines.append(f"{len(workers)} worker{'' if len(workers) == 1 else 's'}, {stale} stale")
    return "\n".join(lines)


def list_workers(options: argparse.Namespace) -> int:
    """``pyresque workers``: the table (or JSON)."""

    async def work(fleet: Fleet) -> list[WorkerInfo]:
        return await fleet.workers.list(stale_after_ms=options.stale_after)

    workers = on_fleet(options, work)
    if options.json:
        print(json.dumps([w.as_dict() for w in workers], indent=2, ensure_ascii=False))
    else:
        print(format_workers(workers, time.time() * 1000))
    return 0


def _failed_job(entry: dict[str, Any]) -> str:
    payload = entry.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    job_class, args = payload.get("class", "?"), payload.get("args", [])
    queue = entry.get("queue") or payload.get("queue") or "?"
    reason = entry.get("exception") or "?"
    described = f"{_name(job_class)}@{_name(queue)} {json.dumps(args, ensure_ascii=False)}"
    return f"its job {described} went to failed ({_name(reason)})"


def clean(options: argparse.Namespace) -> int:
    """``pyresque workers clean ID``: unregister a stale worker (any with ``--force``)."""
    now = time.time() * 1000

    async def work(fleet: Fleet) -> tuple[WorkerInfo, dict[str, Any] | None]:
        workers = await fleet.workers.list(stale_after_ms=options.stale_after)
        found = [w for w in workers if options.worker in (w.id, w.name)]
        if not found:
            raise PyresqueError(f"no worker {options.worker!r} is registered")
        if len(found) > 1:
            ids = ", ".join(repr(w.id) for w in found)
            raise PyresqueError(
                f"{options.worker!r} names {len(found)} workers: give the id ({ids})"
            )
        worker = found[0]
        if not worker.stale and not options.force:
            raise PyresqueError(
                f"worker {worker.id!r} is not stale (last seen {_moment(worker.seen_at, now)}); "
                "--force cleans it anyway"
            )
        return worker, await fleet.workers.clean(worker)

    worker, entry = on_fleet(options, work)
    line = f"cleaned worker {_name(worker.id)} ({worker.kind or '?'})"
    print(f"{line}; {_failed_job(entry)}" if entry is not None else f"{line}; it held no job")
    return 0
