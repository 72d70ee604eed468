"""What ``pyresque status`` and ``pyresque details`` print: every value read on its own
(:mod:`pyresque.protocol.plans.overview`), what cannot be read shown as
``unreadable (<why, naming the key>)`` in the text and as an
``{"unreadable": ..., "key": ...}`` object in the JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyresque.protocol.plans.overview import Overview, Unreadable, is_unreadable
from pyresque.queue import Queue

__all__ = ["collect_status", "format_details", "format_status", "shown", "to_json"]


async def collect_status(queue: Queue) -> Overview:
    """Everything ``pyresque status`` shows, as plain data."""
    return await queue.overview()


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)


def _name(name: object) -> str:
    """A name read from Redis, its bytes that are no UTF-8 as ``\\x..`` escapes."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shown(value: object) -> str:
    """A value for the text output: ``unreadable (why)`` for a marker."""
    if is_unreadable(value):
        return f"unreadable ({value['unreadable']})"
    return str(value)


def _rows(queues: Mapping[str, object] | Unreadable) -> list[str]:
    if is_unreadable(queues):
        return ["queues: " + shown(queues)]
    lines = [f"queues ({len(queues)}):"]
    lines.extend(f"  {_name(name):<24} {shown(length)}" for name, length in queues.items())
    if not queues:
        lines.append("  (none)")
    return lines


def _doing(record: Mapping[str, Any] | None) -> str | None:
    """What a busy worker works on: its job's class, or what could not be read."""
    if record is None:
        return None
    if is_unreadable(record):
        return f"<unreadable record> ({record['unreadable']})"
    payload = record.get("payload")
    if is_unreadable(payload):
        return f"<unreadable job> from {record.get('queue')} ({payload['unreadable']})"
    job_class = payload.get("class") if isinstance(payload, dict) else None
    return _name(job_class) if isinstance(job_class, str) else "<a job without a class>"


def _stats(stats: Mapping[str, object]) -> str:
    return "stats: " + (", ".join(f"{k} {shown(v)}" for k, v in stats.items()) or "(none)")


def format_status(status: Overview, where: str) -> str:
    lines = [f"Redis {where}", *_rows(status["queues"])]
    delayed = status["delayed"]
    jobs, stamps = delayed["jobs"], delayed["timestamps"]
    if is_unreadable(jobs) or is_unreadable(stamps):
        lines.append(f"delayed jobs: {shown(jobs if is_unreadable(jobs) else stamps)}")
    else:
        lines.append(f"delayed jobs: {jobs} at {stamps} timestamps")
    workers = status["workers"]
    if is_unreadable(workers):
        lines.append("workers: " + shown(workers))
    else:
        lines.append(f"workers ({len(workers)}):")
        for name, queues_csv in workers.items():
            doing = _doing(status["working"].get(name))
            line = f"  {_name(name)} [{_name(queues_csv)}]"
            line += f" working on {doing}" if doing else ""
            skipped = status["skipping"].get(name)
            if skipped:
                plural = "s" if len(skipped) > 1 else ""
                line += f"; skips unreadable queue{plural} {', '.join(map(_name, skipped))}"
            lines.append(line)
    lines.append(f"failed: {shown(status['failed'])}")
    lines.append(_stats(status["stats"]))
    leader = status["leader"]
    lines.append(f"leader: {'(none)' if leader is None else shown(leader)}")
    return "\n".join(lines)


def format_details(found: Mapping[str, Any]) -> str:
    """``Tasks.details()`` as text."""
    queues = found["queues"]
    lines = _rows(queues if is_unreadable(queues) else {q: v["length"] for q, v in queues.items()})
    workers = found["workers"]
    if is_unreadable(workers):
        lines.append("workers: " + shown(workers))
    else:
        lines.append(f"workers ({len(workers)}):")
        for name, doing in workers.items():
            lines.append(f"  {_name(name)}: {doing if isinstance(doing, str) else _doing(doing)}")
    lines.append(f"delayed jobs {shown(found['delayed'])}, failed jobs {shown(found['failed'])}")
    lines.append(_stats(found["stats"]))
    leader = found["leader"]
    lines.append(f"leader: {'(none)' if leader is None else shown(leader)}")
    return "\n".join(lines)
