"""Failure entries of the ``failed`` list, as each peer writes them.

node-resque: ``{"worker","queue","payload","exception","error","backtrace","failed_at"}``
with ``failed_at`` from JavaScript ``Date.prototype.toString``. Ruby resque:
``{"failed_at","payload","exception","error","backtrace","worker","queue"}`` with
``failed_at`` as ``%Y/%m/%d %H:%M:%S %Z``. Both are appended to with ``retried_at`` by
resque's ``Failure.requeue``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from pyresque.errors import PayloadEncodeError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import NODE, RUBY
from pyresque.protocol.jsjson import JSONValue, js_dumps
from pyresque.protocol.keys import text

__all__ = [
    "PRUNE_EXIT",
    "RUBY_DIRTY_EXITS",
    "STUCK_MARKER",
    "STUCK_MESSAGE",
    "CleanStyle",
    "encode_failure",
    "failure_entry",
    "style_context",
    "stuck_entry",
    "with_retried_at",
]

STUCK_MESSAGE = "Worker Timeout (killed manually)"
"""node-resque's exception and error text for a worker cleaned by force."""

STUCK_MARKER = "queue#forceCleanWorker"
"""``backtrace[1]`` of such an entry; ``retry_stuck_jobs`` looks for it."""

RUBY_DIRTY_EXITS = ("Resque::DirtyExit", "Resque::PruneDeadWorkerDirtyExit")
"""Ruby's exception names for jobs whose worker went away mid-job."""

PRUNE_EXIT = "Resque::PruneDeadWorkerDirtyExit"
"""What resque's dead-worker pruning (expired heartbeat) records for the job held."""

CleanStyle = Literal["node", "ruby", "ruby_prune"]
"""Whose entry a forced clean writes: node-resque's ``forceCleanWorker`` entry, resque's
``DirtyExit`` (``unregister_worker``), or resque's ``PruneDeadWorkerDirtyExit`` (pruning
by heartbeat)."""


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


def encode_failure(ctx: Context, entry: dict[str, Any], raw: bytes | str | None = None) -> bytes:
    """``entry`` in the dialect's bytes, whatever its payload holds.

    A payload the dialect cannot write (a number past the float range such as ``1e400``,
    which any JSON writer may put in a queue) is kept as its original text instead:
    ``raw``, the job's bytes as read (invalid UTF-8 kept as ``\\udcXX`` escapes, which
    :func:`~pyresque.protocol.keys.to_bytes` turns back into the same bytes), so the job
    can always be recovered from its entry. Never raises for the payload.
    """
    try:
        return ctx.dialect.dumps(entry)
    except PayloadEncodeError:
        kept = dict(entry)
        kept["payload"] = text(raw) if raw is not None else repr(entry.get("payload"))
        try:
            return ctx.dialect.dumps(kept)
        except PayloadEncodeError:  # the error text itself holds what cannot be written
            return js_dumps(kept, non_finite="null")


def style_context(ctx: Context, style: CleanStyle) -> Context:
    """``ctx`` writing as the peer whose entry ``style`` is (same keys, clock and host);
    the dialect's own options are kept when it is that peer already."""
    node = style == "node"
    if ctx.dialect.is_node == node:
        return ctx
    return dataclasses.replace(ctx, dialect=NODE if node else RUBY)


def stuck_entry(
    ctx: Context,
    *,
    worker_name: str,
    member: str,
    record: dict[str, Any],
    style: CleanStyle | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The entry for a job whose worker was cleaned up by force.

    ``style`` (default: the dialect's, ``node`` or ``ruby``) picks whose entry it is:
    ``node``, node-resque's ``forceCleanWorker`` entry (``worker`` is the name without
    queues); ``ruby``, the ``Resque::DirtyExit`` entry resque writes when it unregisters a
    worker that still held a job; ``ruby_prune``, the ``Resque::PruneDeadWorkerDirtyExit``
    entry of resque's pruning by heartbeat (both with the full id as ``worker``). Each is in
    its peer's key order and date format; encode it with :func:`style_context`'s dialect.
    ``reason``, when given, is the ``error`` text instead of the style's own (the
    exception name stays the style's, so each peer's tools still recognise the entry).
    """
    if style is None:
        style = "node" if ctx.dialect.is_node else "ruby"
    ctx = style_context(ctx, style)
    payload = record.get("payload") or {}
    queue = record.get("queue", "")
    if style == "node":
        when = times.js_date_string(ctx.now_ms())
        return failure_entry(
            ctx,
            worker=worker_name,
            queue=queue,
            payload=payload,
            exception=STUCK_MESSAGE,
            error=reason or STUCK_MESSAGE,
            backtrace=[f"killed by {ctx.hostname} at {when}", STUCK_MARKER, "node-resque"],
        )
    if style == "ruby_prune":
        # resque: PruneDeadWorkerDirtyExit.new(worker.to_s, job['payload']['class'] rescue nil)
        job_class = payload.get("class") if isinstance(payload, dict) else None
        return failure_entry(
            ctx,
            worker=member,
            queue=queue,
            payload=payload,
            exception=PRUNE_EXIT,
            error=reason
            or f"Worker {member} did not gracefully exit while processing {_ruby_to_s(job_class)}",
            backtrace=[],
        )
    return failure_entry(
        ctx,
        worker=member,
        queue=queue,
        payload=payload,
        exception="Resque::DirtyExit",
        error=reason or "Job still being processed",
        backtrace=[],
    )


def _ruby_to_s(job_class: object) -> str:
    """``"#{job || '<Unknown Job>'}"`` for the JSON scalars a class may be."""
    if job_class is None:
        return "<Unknown Job>"
    if isinstance(job_class, bool):
        return "true" if job_class else "false"
    return str(job_class)


def with_retried_at(ctx: Context, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` plus ``retried_at`` (resque's ``Failure.requeue``), in Ruby's format."""
    updated = dict(entry)
    updated["retried_at"] = times.ruby_retried_at(
        ctx.clock(), with_zone=ctx.dialect.resque_version >= 3
    )
    return updated
