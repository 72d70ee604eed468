"""What ``pyresque status`` and ``pyresque details`` print: the one status model
(:mod:`pyresque.protocol.status`), as text or as its JSON document. What cannot be read is
shown as ``unreadable (<why, naming the key>)`` in the text and as an
``{"unreadable": ..., "key": ...}`` object in the JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pyresque.connection.settings import Settings, default_url
from pyresque.protocol.status import (
    Counts,
    DelayedStatus,
    QueueStatus,
    Status,
    Unreadable,
    WorkerStatus,
    is_unreadable,
)
from pyresque.queue import Queue

__all__ = ["collect_status", "format_status", "run", "shown", "to_json", "where"]


async def collect_status(queue: Queue) -> Status:
    """Everything ``pyresque status`` shows."""
    return await queue.status()


def to_json(status: Status) -> str:
    """A status as its JSON document (``spec/status.md``), fields in the model's order."""
    return json.dumps(status.as_dict(), indent=2, ensure_ascii=False)


def where(url: str | None, namespace: str) -> str:
    """The first line's Redis and namespace, without credentials."""
    return f"{Settings.from_url(url or default_url()).describe()} namespace {namespace}"


def _name(name: object) -> str:
    """A name read from Redis, its bytes that are no UTF-8 as ``\\x..`` escapes."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shown(value: object) -> str:
    """A value for the text output: ``unreadable (why)`` for a marker."""
    if is_unreadable(value):
        return f"unreadable ({value['unreadable']})"
    return str(value)


def _at(ms: int) -> str:
    """A unix time in ms as ISO 8601 in UTC, to the second (as ms past the calendar)."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # a due time of 10**20 s is read as one
        return f"{ms} ms"


def _span(ms: int) -> str:
    """A duration in ms in its two largest units: ``45s``, ``5m 3s``, ``2h 5m``, ``3d 4h``."""
    seconds = max(0, ms) // 1000
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def _queues(queues: Mapping[str, QueueStatus] | Unreadable) -> list[str]:
    if is_unreadable(queues):
        return ["queues: " + shown(queues)]
    lines = [f"queues ({len(queues)}):"]
    lines.extend(f"  {_name(name):<24} {shown(q.length)}" for name, q in queues.items())
    if not queues:
        lines.append("  (none)")
    return lines


def _delayed(delayed: DelayedStatus) -> str:
    jobs, stamps = delayed.jobs, delayed.timestamps
    if is_unreadable(jobs) or is_unreadable(stamps):
        return f"delayed jobs: {shown(jobs if is_unreadable(jobs) else stamps)}"
    line = f"delayed jobs: {jobs} at {stamps} timestamps, {shown(delayed.due)} due"
    if delayed.earliest_at is not None:
        line += f"; the earliest due {_at(delayed.earliest_at)}"
        if delayed.overdue_ms:
            line += f" ({_span(delayed.overdue_ms)} overdue)"
    return line


def _job(record: Mapping[str, Any] | Unreadable) -> str:
    """What a busy worker works on: its job's class and queue, or what could not be read."""
    if is_unreadable(record):
        return f"<unreadable record> ({record['unreadable']})"
    payload = record.get("payload")
    queue = record.get("queue")
    source = f" from {_name(queue)}" if isinstance(queue, str) and queue else ""
    if is_unreadable(payload):
        return f"<unreadable job>{source} ({payload['unreadable']})"
    job_class = payload.get("class") if isinstance(payload, dict) else None
    name = _name(job_class) if isinstance(job_class, str) else "<a job without a class>"
    return name + source


def _counts(counts: Counts) -> str:
    return f"processed {shown(counts.processed)}, failed {shown(counts.failed)}"


def _worker(name: str, worker: WorkerStatus, now: int) -> str:
    kind = f" {worker.kind}" if worker.kind else ""
    line = f"  {_name(name)} [{_name(','.join(worker.queues))}]{kind}: "
    if worker.working_on is None:
        line += "idle"
    else:
        line += f"working on {_job(worker.working_on)}"
        since = worker.working_since
        if isinstance(since, int):
            line += f" since {_at(since)} ({_span(now - since)})"
        elif since is not None:
            line += f" since {shown(since)}"
    line += f"; {_counts(worker.stats)}"
    if worker.skipping:
        plural = "s" if len(worker.skipping) > 1 else ""
        line += f"; skips unreadable queue{plural} {', '.join(map(_name, worker.skipping))}"
    return line


def format_status(status: Status, at: str) -> str:
    """The text of ``pyresque status`` and ``pyresque details``; ``at`` names the Redis."""
    lines = [f"Redis {at}", *_queues(status.queues), _delayed(status.delayed)]
    workers = status.workers
    if is_unreadable(workers):
        lines.append("workers: " + shown(workers))
    else:
        lines.append(f"workers ({len(workers)}):")
        lines.extend(_worker(name, w, status.read_at) for name, w in workers.items())
    lines.append(f"failed jobs: {shown(status.failed)}")
    lines.append(f"stats: {_counts(status.stats)}")
    if status.other_stats:
        other = ", ".join(f"{_name(k)} {shown(v)}" for k, v in status.other_stats.items())
        lines.append(f"other stats: {other}")
    leader = status.leader
    lines.append(f"leader: {'(none)' if leader is None else shown(leader)}")
    return "\n".join(lines)


def run(options: argparse.Namespace) -> int:
    """``pyresque status``: print the namespace's state."""
    print(asyncio.run(_status(options)))
    return 0


async def _status(options: argparse.Namespace) -> str:
    # Reports what is, now: no waiting for a Redis that is away (enqueue waits a little).
    queue = Queue(options.redis, namespace=options.namespace, dialect=options.dialect, patience=0)
    async with queue as q:
        status = await collect_status(q)
    if options.json:
        return to_json(status)
    return format_status(status, where(options.redis, options.namespace))
