"""Failure entries of the ``failed`` list, as each peer writes them.

node-resque: ``{"worker","queue","payload","exception","error","backtrace","failed_at"}``
with ``failed_at`` from JavaScript ``Date.prototype.toString``. Ruby resque:
``{"failed_at","payload","exception","error","backtrace","worker","queue"}`` with
``failed_at`` as ``%Y/%m/%d %H:%M:%S %Z``. Both are appended to with ``retried_at`` by
resque's ``Failure.requeue``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.jsjson import JSONValue

__all__ = [
    "STUCK_MARKER",
    "STUCK_MESSAGE",
    "failure_entry",
    "stuck_entry",
    "with_retried_at",
]

STUCK_MESSAGE = "Worker Timeout (killed manually)"
"""node-resque's exception and error text for a worker cleaned by force."""

STUCK_MARKER = "queue#forceCleanWorker"
"""``backtrace[1]`` of such an entry; ``retry_stuck_jobs`` looks for it."""

RUBY_DIRTY_EXITS = ("Resque::DirtyExit", "Resque::PruneDeadWorkerDirtyExit")
"""Ruby's exception names for jobs whose worker went away mid-job."""


def failure_entry(
    ctx: Context,
    *,
    worker: str,
    queue: str,
    payload: JSONValue,
    exception: str | None,
    error: str | None,
    backtrace: Sequence[str] | None,
) -> dict[str, Any]:
    """A failure entry in the dialect's key order and date format.

    ``exception``/``error`` of None are left out (node-resque does so for thrown
    non-Errors); Ruby always writes them.
    """
    now = ctx.clock()
    trace = list(backtrace) if backtrace is not None else None
    if ctx.dialect.is_node:
        entry: dict[str, Any] = {"worker": worker, "queue": queue, "payload": payload}
        if exception is not None:
            entry["exception"] = exception
        if error is not None:
            entry["error"] = error
        entry["backtrace"] = trace
        entry["failed_at"] = times.js_date_string(now * 1000)
        return entry
    return {
        "failed_at": times.ruby_failed_at(now),
        "payload": payload,
        "exception": exception or "",
        "error": error or "",
        "backtrace": trace or [],
        "worker": worker,
        "queue": queue,
    }


def stuck_entry(
    ctx: Context, *, worker_name: str, member: str, record: dict[str, Any]
) -> dict[str, Any]:
    """The entry for a job whose worker was cleaned up by force.

    node dialect: node-resque's ``forceCleanWorker`` entry (``worker`` is the name without
    queues). ruby dialect: the ``Resque::DirtyExit`` entry resque writes when it
    unregisters a worker that still held a job (``worker`` is the full id).
    """
    payload = record.get("payload") or {}
    queue = record.get("queue", "")
    if ctx.dialect.is_node:
        when = times.js_date_string(ctx.now_ms())
        return failure_entry(
            ctx,
            worker=worker_name,
            queue=queue,
            payload=payload,
            exception=STUCK_MESSAGE,
            error=STUCK_MESSAGE,
            backtrace=[f"killed by {ctx.hostname} at {when}", STUCK_MARKER, "node-resque"],
        )
    return failure_entry(
        ctx,
        worker=member,
        queue=queue,
        payload=payload,
        exception="Resque::DirtyExit",
        error="Job still being processed",
        backtrace=[],
    )


def with_retried_at(ctx: Context, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` plus ``retried_at`` (resque's ``Failure.requeue``), in Ruby's format."""
    updated = dict(entry)
    updated["retried_at"] = times.ruby_retried_at(
        ctx.clock(), with_zone=ctx.dialect.resque_version >= 3
    )
    return updated
