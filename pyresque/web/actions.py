"""The dashboard's changes: what each POST does, given its fields. Each returns a short
sentence saying what it did, or raises :class:`~pyresque.errors.WebRefusal`.

The fields name things as the pages show them (a queue's name, a job's or entry's text
as read), and each change finds its target by value, never by a position that another
client may have shifted since the page was read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pyresque.errors import JobNotFoundError, PayloadDecodeError, WebRefusal
from pyresque.protocol.payloads import decode_failed, decode_job
from pyresque.protocol.status import is_unreadable
from pyresque.queue import Queue
from pyresque.web import data
from pyresque.web.config import WebConfig

__all__ = ["ACTIONS", "Action"]

Action = Callable[[Queue, WebConfig, Mapping[str, Any]], Awaitable[str]]


def _field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise WebRefusal(400, f"the field {name!r} is missing")
    return value


def _many(fields: Mapping[str, Any], name: str) -> list[str]:
    # A row's own button sends ``one``: that entry alone, whatever boxes are ticked.
    value = fields.get("one") or fields.get(name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise WebRefusal(400, f"select at least one entry ({name!r} is empty)")
    return value


def _job(raw: str) -> dict[str, Any]:
    try:
        return dict(decode_job(raw))
    except PayloadDecodeError as exc:
        raise WebRefusal(400, f"not a job: {exc}") from None


def _entry(raw: str) -> dict[str, Any]:
    try:
        return dict(decode_failed(raw))
    except PayloadDecodeError as exc:
        raise WebRefusal(400, f"not a failure entry: {exc}") from None


async def clear_queue(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Delete a queue and its jobs; ``confirm`` must repeat its name."""
    name = _field(fields, "queue")
    if fields.get("confirm") != name:
        raise WebRefusal(400, f"type the queue's name ({name}) to confirm clearing it")
    await queue.delete_queue(name)
    return f"cleared queue {name}"


async def delete_job(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove one job equal to ``job`` (its text) from ``queue``."""
    name, job = _field(fields, "queue"), _job(_field(fields, "job"))
    removed = await queue.delete(name, str(job.get("class")), job.get("args"), count=1)
    if not removed:
        raise WebRefusal(409, f"that job is no longer in {name}")
    return f"removed a {job.get('class')} job from {name}"


async def clean_worker(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Force-clean a worker that is stale or dead (its job goes to failed, as the peers'
    clean-ups do); a live one is refused."""
    name = _field(fields, "worker")
    status = await queue.status()
    worker = None if is_unreadable(status.workers) else status.workers.get(name)
    if worker is None:
        raise WebRefusal(404, f"no worker {name} is registered")
    state = data.worker_state(worker, status.read_at, config)
    if state not in ("stale", "dead"):
        raise WebRefusal(409, f"worker {name} is {state}: only a stale or dead one is cleaned")
    await queue.force_clean_worker(name)
    return f"cleaned worker {name}"


async def retry_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Retry the selected failure entries (``selected``: their texts)."""
    done = 0
    for raw in _many(fields, "selected"):
        try:
            done += bool(await queue.retry_and_remove_failed(_entry(raw)))
        except JobNotFoundError:
            continue  # retried or removed by someone else meanwhile
    return f"retried {done} failed job(s)"


async def remove_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove the selected failure entries."""
    done = 0
    for raw in _many(fields, "selected"):
        done += bool(await queue.remove_failed(_entry(raw)))
    return f"removed {done} failed job(s)"


def _filter(fields: Mapping[str, Any]) -> data.FailedFilter:
    def get(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) and value else None

    return data.FailedFilter(get("queue"), get("class"), get("exception"), get("q"))


async def _matching(queue: Queue, where: data.FailedFilter) -> list[str]:
    found = await data.failed_page(queue, where, 0, 1 << 30)
    return [entry["raw"] for entry in found["entries"] if entry["problem"] is None]


async def retry_all_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Retry every failure entry the filter fields match (all with no filter)."""
    raws = await _matching(queue, _filter(fields))
    return await retry_failed(queue, config, {"selected": raws}) if raws else "nothing matched"


async def remove_all_failed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove every failure entry the filter fields match."""
    raws = await _matching(queue, _filter(fields))
    return await remove_failed(queue, config, {"selected": raws}) if raws else "nothing matched"


async def remove_delayed(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Remove a delayed job (every copy of it, as resque-scheduler's remove does)."""
    job = _job(_field(fields, "job"))
    removed = await queue.delete_delayed(
        str(job.get("queue")), str(job.get("class")), job.get("args")
    )
    if not removed:
        raise WebRefusal(409, "that job is no longer delayed")
    return f"removed delayed {job.get('class')} ({len(removed)} copy/copies)"


async def delete_lock(queue: Queue, config: WebConfig, fields: Mapping[str, Any]) -> str:
    """Delete a plugin lock by the name the locks page shows."""
    name = _field(fields, "lock")
    if not await queue.delete_lock(name):
        raise WebRefusal(409, f"lock {name} is already gone")
    return f"deleted lock {name}"


ACTIONS: dict[str, Action] = {
    "clear-queue": clear_queue,
    "delete-job": delete_job,
    "clean-worker": clean_worker,
    "retry-failed": retry_failed,
    "remove-failed": remove_failed,
    "retry-all-failed": retry_all_failed,
    "remove-all-failed": remove_all_failed,
    "remove-delayed": remove_delayed,
    "delete-lock": delete_lock,
}
"""Every change, by the name its POST path ends in."""


def describe(fields: Mapping[str, Any]) -> str:
    """The fields, for a log line (texts cut short)."""
    return json.dumps({k: (v[:80] if isinstance(v, str) else v) for k, v in fields.items()})
