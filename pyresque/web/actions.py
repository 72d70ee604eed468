"""The dashboard's changes: what each POST does, given its fields. Each returns a short
sentence saying what it did, or raises :class:`~pyresque.errors.WebRequestError`.

A page names a stored item by a token holding its position and its exact bytes
(:func:`~pyresque.web.data.token`); a change checks those bytes before it acts, so it
never acts on something another client put in that position since the page was read.
A failure entry that moved is found again by its bytes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pyresque.errors import FailedEntryMovedError, PayloadDecodeError, WebRequestError
from pyresque.fleet import DelayedJob, FailedEntry, FailedFilter, Fleet
from pyresque.protocol.payloads import decode_job
from pyresque.queue import Queue
from pyresque.web import data
from pyresque.web.config import WebConfig

__all__ = ["ACTIONS", "Action", "describe"]

Action = Callable[[Queue, WebConfig, Mapping[str, Any]], Awaitable[str]]


def _field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise WebRequestError(400, f"the field {name!r} is missing")
    return value


def _many(fields: Mapping[str, Any], name: str) -> list[str]:
    # A row's own button sends ``one``: that entry alone, whatever boxes are ticked.
    value = fields.get("one") or fields.get(name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise WebRequestError(400, f"select at least one entry ({name!r} is empty)")
    return value


async def clear_queue(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Delete a queue and its jobs; ``confirm`` must repeat its name."""
    name = _field(fields, "queue")
    if fields.get("confirm") != name:
        raise WebRequestError(400, f"type the queue's name ({name}) to confirm clearing it")
    await queue.delete_queue(name)
    return f"cleared queue {name}"


async def delete_job(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove one job equal to ``job`` (its text) from ``queue``, whichever peer wrote it."""
    name = _field(fields, "queue")
    try:
        job = dict(decode_job(_field(fields, "job")))
    except PayloadDecodeError as exc:
        raise WebRequestError(400, f"not a job: {exc}") from None
    removed = await queue.delete(name, str(job.get("class")), job.get("args"), count=1)
    if not removed:
        raise WebRequestError(409, f"that job is no longer in {name}")
    return f"removed a {job.get('class')} job from {name}"


async def clean_worker(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Force-clean a worker that is stale or dead (its job goes to failed, as the peers'
    clean-ups do); a live one is refused."""
    name = _field(fields, "worker")
    fleet = Fleet(queue, stale_after_ms=config.stale_after_ms)
    found = [w for w in await fleet.workers.list() if w.name == name]
    if not found:
        raise WebRequestError(404, f"no worker {name} is registered")
    state = data.worker_state(found[0], int(queue.context.now_ms()), config)
    if state not in ("stale", "dead"):
        raise WebRequestError(409, f"worker {name} is {state}: only a stale or dead one is cleaned")
    await fleet.workers.clean(found[0])
    return f"cleaned worker {name}"


def _entries(queue: Queue, fields: Mapping[str, Any]) -> list[FailedEntry]:
    key = queue.context.keys.failed()
    return [FailedEntry.decode(*data.parse_token(t), key) for t in _many(fields, "selected")]


async def _relocated(fleet: Fleet, entries: list[FailedEntry]) -> list[FailedEntry]:
    """``entries`` where they are now (by their bytes); those gone are left out."""
    found: list[FailedEntry] = []
    for entry in entries:
        text = entry.raw.decode("utf-8", "surrogateescape")
        page = await fleet.failed.search(FailedFilter(text=text), limit=len(entries) + 10)
        taken = {e.index for e in found}
        now = [e for e in page.entries if e.raw == entry.raw and e.index not in taken]
        found.extend(now[:1])
    return found


async def _on_entries(queue: Queue, fields: Mapping[str, Any], retry: bool) -> int:
    fleet = Fleet(queue)
    entries = _entries(queue, fields)
    act = fleet.failed.retry if retry else fleet.failed.remove
    try:
        return await act(entries)
    except FailedEntryMovedError:
        # The list shifted since the page was read: find each entry again by its bytes.
        return await act(await _relocated(fleet, entries))


async def retry_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Retry the selected failure entries (``selected``, or one row's ``one``: tokens)."""
    return f"retried {await _on_entries(queue, fields, True)} failed job(s)"


async def remove_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove the selected failure entries."""
    return f"removed {await _on_entries(queue, fields, False)} failed job(s)"


def _filter(fields: Mapping[str, Any]) -> FailedFilter:
    def get(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) and value else None

    return FailedFilter(get("queue"), get("class"), get("exception"), get("q"))


async def retry_all_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Retry every failure entry the filter fields match (all with no filter)."""
    done = await Fleet(queue).failed.retry_matching(_filter(fields))
    return f"retried {done} failed job(s)"


async def remove_all_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove every failure entry the filter fields match; with no filter, ``confirm``
    must say ``clear`` (the whole list goes)."""
    where = _filter(fields)
    failed = Fleet(queue).failed
    if where.empty:
        if fields.get("confirm") != "clear":
            raise WebRequestError(400, "type clear to confirm removing every failed job")
        return f"removed {await failed.clear()} failed job(s)"
    return f"removed {await failed.remove_matching(where)} failed job(s)"


def _delayed(queue: Queue, fields: Mapping[str, Any]) -> DelayedJob:
    second, raw = data.parse_token(_field(fields, "job"))
    return DelayedJob.decode(second, raw, queue.context.keys.delayed(second))


async def run_delayed_now(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Enqueue one delayed job now, atomically, whichever scheduler holds the lock."""
    job = _delayed(queue, fields)
    if not await Fleet(queue).delayed.run_now(job):
        raise WebRequestError(409, "that job is no longer delayed at that time")
    return f"enqueued {job.job_class} on {job.queue} now"


async def remove_delayed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove one delayed job from its due second."""
    job = _delayed(queue, fields)
    if not await Fleet(queue).delayed.remove(job):
        raise WebRequestError(409, "that job is no longer delayed at that time")
    return f"removed delayed {job.job_class}"


async def delete_lock(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Delete a plugin lock by the name the locks page shows."""
    name = _field(fields, "lock")
    if not await queue.delete_lock(name):
        raise WebRequestError(409, f"lock {name} is already gone")
    return f"deleted lock {name}"


ACTIONS: dict[str, Action] = {
    "clear-queue": clear_queue,
    "delete-job": delete_job,
    "clean-worker": clean_worker,
    "retry-failed": retry_failed,
    "remove-failed": remove_failed,
    "retry-all-failed": retry_all_failed,
    "remove-all-failed": remove_all_failed,
    "run-delayed-now": run_delayed_now,
    "remove-delayed": remove_delayed,
    "delete-lock": delete_lock,
}
"""Every change, by the name its POST path ends in."""


def describe(fields: Mapping[str, Any]) -> str:
    """The fields, for a log line (texts cut short)."""
    return json.dumps({k: (v[:80] if isinstance(v, str) else v) for k, v in fields.items()})
