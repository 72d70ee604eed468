"""Plans for workers: who is registered, what each is working on, and cleaning up after
dead ones (node-resque's force-clean and stuck-worker clean, resque's dead-worker pruning).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pyresque.errors import PayloadDecodeError, PayloadEncodeError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.failures import CleanStyle, stuck_entry, style_context
from pyresque.protocol.jsjson import js_dumps
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import WorkingOn, decode_working_on
from pyresque.protocol.plan import Batch, Call, Eval, Plan, as_bytes, as_int, as_list, load_script

__all__ = [
    "Cleaned",
    "all_working_on",
    "clean_old_workers",
    "clean_stuck_worker",
    "force_clean_worker",
    "prune_dead_worker",
    "registered",
    "split_member",
    "workers",
    "working_on",
]

_RETRIES = 5  # compare-and-set attempts before giving up on a record that keeps changing


def split_member(member: str) -> tuple[str, str | None]:
    """``(name, queues)`` of a ``workers`` member, split as node-resque's ``workers()`` does.

    ``host:pid:q1,q2`` (both peers) -> ``("host:pid", "q1,q2")``; ``w1:q`` -> ``("w1", "q")``.
    """
    parts = member.split(":")
    if len(parts) == 1:
        return member, None
    if len(parts) == 2:
        return parts[0], parts[1]
    return f"{parts[0]}:{parts[1]}", ":".join(parts[2:])


def registered(ctx: Context) -> Plan[list[str]]:
    """Every member of the ``workers`` set (``name:queues``, or Ruby's full id), sorted."""
    return sorted(text(m) for m in as_list((yield Call("SMEMBERS", ctx.keys.workers()))))


def workers(ctx: Context) -> Plan[dict[str, str | None]]:
    """``{name: queues}`` for every registered worker, node or Ruby."""
    return dict(split_member(m) for m in (yield from registered(ctx)))


def _record(raw: bytes, key: str) -> dict[str, Any]:
    try:
        return dict(decode_working_on(raw, key=key))
    except PayloadDecodeError:
        # Keep a corrupt record's bytes rather than lose the job it may describe.
        return {"queue": "", "payload": text(raw)}


def working_on(ctx: Context, worker_name: str, queues: str) -> Plan[WorkingOn | None]:
    """The job a worker holds, parsed (node-resque returns the raw JSON string)."""
    key = ctx.keys.worker(worker_name, queues)
    raw = as_bytes((yield Call("GET", key)))
    return None if raw is None else decode_working_on(raw, key=key)


def all_working_on(ctx: Context) -> Plan[dict[str, WorkingOn | str]]:
    """``{name: record or "started"}``, keyed by worker name (also for Ruby records, which
    lack the ``worker`` field node-resque keys them by)."""
    members = yield from registered(ctx)
    if not members:
        return {}
    raws = yield Batch.of([Call("GET", ctx.keys.worker(m)) for m in members])
    result: dict[str, WorkingOn | str] = {}
    for member, raw in zip(members, raws, strict=True):
        name = split_member(member)[0]
        data = as_bytes(raw)
        result[name] = "started" if data is None else _record(data, ctx.keys.worker(member))  # type: ignore[assignment]
    return result


class Cleaned(NamedTuple):
    """What a guarded clean did: ``cleaned`` is False when the worker showed signs of life
    (its ping or heartbeat changed after it was read) and was left alone."""

    cleaned: bool
    entry: dict[str, Any] | None


def force_clean_worker(
    ctx: Context,
    worker_name: str,
    *,
    style: CleanStyle | None = None,
    reason: str | None = None,
) -> Plan[dict[str, Any] | None]:
    """Unregister a worker (node name ``host:pid`` or full id) and fail its job.

    Returns the failure entry written, or None when the worker held no job. ``style``
    picks whose entry that is (default: the dialect's; see :func:`stuck_entry`), ``reason``
    its ``error`` text (default: the style's). Unlike
    node-resque this also removes the working-on record, counts ``stat:failed`` only
    when a job failed in node-resque's style (resque never counts these), and writes
    nothing for a worker it cannot find except its leftover ping and stat keys.
    """
    return (yield from _force_clean(ctx, worker_name, style, None, reason)).entry


def clean_stuck_worker(
    ctx: Context, worker_name: str, ping: bytes, *, style: CleanStyle = "node"
) -> Plan[Cleaned]:
    """node-resque's stuck-worker clean of ``worker_name``, whose ping was read as ``ping``:
    done only while the ping still holds exactly that (a worker that pinged meanwhile is
    alive and left alone)."""
    return (yield from _force_clean(ctx, worker_name, style, ("ping", ping)))


def prune_dead_worker(ctx: Context, member: str, heartbeat: bytes) -> Plan[Cleaned]:
    """resque's pruning of the worker ``member`` (full id) whose heartbeat was read as
    ``heartbeat``: unregistered, even when no longer in ``workers``, with its job failed as
    ``Resque::PruneDeadWorkerDirtyExit`` (not counted in ``stat:failed``), only while the
    heartbeat still holds that value."""
    name = split_member(member)[0]
    return (yield from _clean_member(ctx, member, name, "ruby_prune", ("heartbeat", heartbeat)))


def _force_clean(
    ctx: Context,
    worker_name: str,
    style: CleanStyle | None,
    guard: tuple[str, bytes] | None,
    reason: str | None = None,
) -> Plan[Cleaned]:
    members = [
        m
        for m in (yield from registered(ctx))
        if m == worker_name or split_member(m)[0] == worker_name
    ]
    if not members:
        if guard is not None:
            return (yield from _clean_member(ctx, "", worker_name, style, guard))
        yield Call(
            "DEL",
            ctx.keys.worker_runtime(worker_name),
            ctx.keys.worker_ping(worker_name),
            ctx.keys.stat("failed", worker_name),
            ctx.keys.stat("processed", worker_name),
        )
        return Cleaned(True, None)
    entry: dict[str, Any] | None = None
    for member in members:
        name = worker_name if guard is not None else split_member(member)[0]
        done = yield from _clean_member(ctx, member, name, style, guard, reason)
        if not done.cleaned and guard is not None:
            return Cleaned(False, entry)  # alive after all: leave its other members too
        entry = done.entry or entry
        if guard is not None:
            guard = (guard[0], b"")  # the first clean deleted the ping
    return Cleaned(True, entry)


def _clean_member(
    ctx: Context,
    member: str,
    name: str,
    style: CleanStyle | None,
    guard: tuple[str, bytes] | None,
    reason: str | None = None,
) -> Plan[Cleaned]:
    """Clean one ``workers`` member ("" for none: only ``name``'s ping and stats) in one
    script, retried while its working-on record changes under it."""
    style = style or ("node" if ctx.dialect.is_node else "ruby")
    encoder = style_context(ctx, style).dialect
    stats = {ctx.keys.stat(kind, who) for kind in ("failed", "processed") for who in {name, member}}
    stats.discard(ctx.keys.stat("failed", ""))
    stats.discard(ctx.keys.stat("processed", ""))
    for _attempt in range(_RETRIES):
        raw = as_bytes((yield Call("GET", ctx.keys.worker(member)))) if member else None
        found = None
        encoded = b""
        extra: list[str] = []
        if raw is not None:
            record = _record(raw, ctx.keys.worker(member))
            found = stuck_entry(
                ctx, worker_name=name, member=member, record=record, style=style, reason=reason
            )
            encoded = encoder.dumps(found)
            extra = _job_lock(ctx, record)
        keys = (
            ctx.keys.workers(),
            ctx.keys.worker(member),
            ctx.keys.worker_started(member),
            ctx.keys.worker_ping(name),
            ctx.keys.heartbeats(),
            ctx.keys.failed(),
            ctx.keys.stat("failed"),
            *sorted(stats),
            *([ctx.keys.worker_runtime(member)] if member else []),
            *extra,
        )
        count = "1" if (found is not None and style == "node") else "0"
        args: tuple[str | bytes, ...] = (member, raw or b"", encoded, count)
        script = load_script("force_clean_worker")
        done = as_int((yield Eval(script, keys, args if guard is None else (*args, *guard))))
        if done < 0:
            return Cleaned(False, None)
        if done:
            return Cleaned(True, found)
    return Cleaned(False, None)


def _job_lock(ctx: Context, record: dict[str, Any]) -> list[str]:
    """The JobLock key of a dead worker's job: its run is over, so its lock is stale (left
    alone it refuses the job, a periodic task's next run too, for up to an hour)."""
    payload = record.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("class"), str):
        return []
    args = payload.get("args", [])
    if args == {}:
        args = []  # Lua cjson's spelling of an empty array
    queue = record.get("queue") or payload.get("queue")
    if not isinstance(queue, str) or not isinstance(args, list):
        return []
    try:
        args_json = js_dumps(args).decode()
    except PayloadEncodeError:
        return []
    return [ctx.keys.job_lock(payload["class"], queue, args_json)]


def clean_old_workers(ctx: Context, age_ms: float) -> Plan[dict[str, dict[str, Any]]]:
    """Force-clean every worker whose current job started more than ``age_ms`` ago.

    ``run_at`` is read in either peer's format.
    """
    now = ctx.now_ms()
    cleaned: dict[str, dict[str, Any]] = {}
    for name, record in (yield from all_working_on(ctx)).items():
        if not isinstance(record, dict):
            continue
        started = times.parse_peer_time(str(record.get("run_at", "")))
        if started is not None and now - started * 1000 > age_ms:
            entry = yield from force_clean_worker(ctx, name)
            if entry is not None:
                cleaned[name] = entry
    return cleaned
