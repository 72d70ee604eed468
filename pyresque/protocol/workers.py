"""How a worker presents itself in Redis: its id, liveness values and failure entries.

node-resque: a worker *name* (``host:pid`` by default) plus its queues; the ``workers`` set
holds ``<name>:<q1,q2>``, the working-on record is ``worker:<name>:<q1,q2>``, liveness is a
ping key refreshed every ``timeout`` ms. Ruby resque: the id ``host:pid:q1,q2`` is the set
member and names every key; liveness is the ``workers:heartbeat`` hash.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.failures import failure_entry
from pyresque.protocol.jsjson import JSONValue, js_dumps

__all__ = [
    "Identity",
    "backtrace_lines",
    "exception_entry",
    "ping_value",
    "ruby_record",
    "run_at",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """A worker's names. ``name`` is node's worker name (also Ruby's ``host:pid``);
    ``queues`` the comma-joined queue list; ``member`` the ``workers`` set member, which
    names the working-on and ``started`` keys; ``stats`` the suffix of per-worker stat keys
    (node: the name; Ruby: the full id)."""

    name: str
    queues: str
    member: str
    stats: str

    @classmethod
    def create(cls, ctx: Context, name: str, queues: Sequence[str]) -> Identity:
        csv = ",".join(queues) if queues else "*"
        member = f"{name}:{csv}"
        return cls(name, csv, member, name if ctx.dialect.is_node else member)

    def with_queues(self, ctx: Context, queues: Sequence[str]) -> Identity:
        return Identity.create(ctx, self.name, queues)


def ping_value(name: str, queues: str, now_ms: float) -> bytes:
    """node-resque's ping: ``{"time":<s>,"name":...,"queues":...}``."""
    return js_dumps({"time": times.js_bucket(now_ms), "name": name, "queues": queues})


def run_at(ctx: Context, now_ms: float, zone: str | None = None) -> str:
    """The working-on record's ``run_at`` in the dialect's format."""
    if ctx.dialect.is_node:
        return times.js_date_string(now_ms, zone)
    return times.ruby_iso8601_utc(now_ms / 1000)


def ruby_record(ctx: Context, queue: str, started: str, payload: JSONValue) -> bytes:
    """Ruby's working-on record, ``{"queue","run_at","payload"}``, as MultiJson writes it."""
    return ctx.dialect.dumps({"queue": queue, "run_at": started, "payload": payload})


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PLUMBING = (os.sep + "concurrent" + os.sep + "futures" + os.sep, os.sep + "asyncio" + os.sep)


def _plumbing(filename: str) -> bool:
    """Frames of pyresque itself and of the executor/event loop that called the job."""
    return filename.startswith(_PACKAGE) or any(part in filename for part in _PLUMBING)


def backtrace_lines(ctx: Context, exc: BaseException) -> list[str]:
    """The job's traceback frames, innermost first, in the dialect's style.

    node: ``    at perform (/app/jobs.py:12)`` like a V8 stack line; ruby:
    ``/app/jobs.py:12:in `perform'`` like a Ruby backtrace line. The frames that led into
    the job (pyresque's worker, the thread pool, the event loop) are left out, as resque
    cuts its own frames.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and _plumbing(frames[0].filename):
        frames.pop(0)
    lines = []
    for frame in reversed(frames):
        if ctx.dialect.is_node:
            lines.append(f"    at {frame.name} ({frame.filename}:{frame.lineno})")
        else:
            lines.append(f"{frame.filename}:{frame.lineno}:in `{frame.name}'")
    return lines


def exception_entry(
    ctx: Context,
    *,
    worker: str,
    queue: str,
    payload: JSONValue,
    exc: BaseException,
    exception: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The failure entry for a job that raised ``exc``; ``exception``/``error`` override the
    class name and message (for failures that are not Python exceptions of the job)."""
    return failure_entry(
        ctx,
        worker=worker,
        queue=queue,
        payload=payload,
        exception=exception if exception is not None else type(exc).__name__,
        error=error if error is not None else str(exc),
        backtrace=backtrace_lines(ctx, exc),
    )
