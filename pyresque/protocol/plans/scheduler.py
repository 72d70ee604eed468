"""Plans for the scheduler: leader locks, promotion of due delayed jobs, dead workers.

See spec/scheduler.md for how these steps make up a scheduler and where they differ from
node-resque's ``Scheduler`` and resque-scheduler.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pyresque.errors import PayloadDecodeError, PayloadEncodeError, WrongTypeError
from pyresque.protocol import times
from pyresque.protocol.context import Context, ruby_hostname
from pyresque.protocol.dialect import job_args
from pyresque.protocol.failures import encode_failure, failure_entry
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_json
from pyresque.protocol.plan import (
    Arg,
    Call,
    Eval,
    Plan,
    as_bytes,
    as_int,
    as_list,
    as_pairs,
    as_scan,
    load_script,
)

__all__ = [
    "BATCH",
    "CRON_TICK_TTL",
    "UNSCHEDULABLE",
    "Moved",
    "Stale",
    "Transfer",
    "claim_cron_tick",
    "failed_transfer",
    "hold_locks",
    "lock_keys",
    "lock_values",
    "move",
    "next_due",
    "read_due",
    "release_cron_tick",
    "release_locks",
    "stale_workers",
    "transfer_for",
    "unusable_queue",
]

BATCH = 100
"""Items read and moved per step (resque-scheduler's ``delayed_requeue_batch_size``)."""

UNSCHEDULABLE = "PayloadDecodeError"
"""``exception`` of the failure entry for a delayed item that cannot be enqueued."""

Action = Literal["queue", "fail", "drop"]


# -- leader locks ------------------------------------------------------------------------


def lock_keys(ctx: Context, *, both: bool = False) -> tuple[str, ...]:
    """The lock(s) a scheduler must hold to lead: the dialect's (node-resque's leader lock
    or resque-scheduler's master lock), or with ``both`` the two of them."""
    if both:
        return (ctx.keys.leader_lock(), ctx.keys.master_lock())
    return (ctx.keys.leader_lock(),) if ctx.dialect.is_node else (ctx.keys.master_lock(),)


def lock_values(ctx: Context, keys: Sequence[str], name: str | None, pid: int) -> tuple[str, ...]:
    """The value a scheduler holds each of ``keys`` with: ``name``, else the value its peer
    writes there, ``host:pid``, with node-resque's ``os.hostname()`` in the leader lock and
    resque-scheduler's host lookup (:func:`ruby_hostname`) in the master lock."""
    if name:
        return tuple(name for _ in keys)
    leader = ctx.keys.leader_lock()
    return tuple(
        f"{ctx.hostname if key == leader else ruby_hostname(ctx.hostname)}:{pid}" for key in keys
    )


def hold_locks(ctx: Context, keys: Sequence[str], values: Sequence[str], ttl: int) -> Plan[bool]:
    """Take every lock that is free and refresh those held with our value, atomically;
    False (and nothing of ours kept) when another scheduler holds any of them."""
    reply = yield Eval(load_script("scheduler_lock"), tuple(keys), (int(ttl), *values))
    return as_int(reply) == 1


def release_locks(ctx: Context, keys: Sequence[str], values: Sequence[str]) -> Plan[int]:
    """Delete each lock still holding our value; how many were."""
    return as_int((yield Eval(load_script("scheduler_unlock"), tuple(keys), tuple(values))))


# -- promotion ---------------------------------------------------------------------------


def next_due(ctx: Context, skip: Collection[str] = ()) -> Plan[str | None]:
    """The earliest due second of the schedule, as stored, that is not in ``skip``; None
    when there is none.

    node: scores 0 .. ``Math.round(now)`` (a job may move up to 0.5 s early; negative
    seconds never move). ruby: ``-inf`` .. ``now.to_i``, as resque-scheduler.
    """
    now = ctx.clock()
    low: Arg
    if ctx.dialect.is_node:
        low, high = 0, times.js_bucket(now * 1000)
    else:
        low, high = "-inf", math.floor(now)
    wanted = len(skip) + 1
    reply = yield Call("ZRANGEBYSCORE", ctx.keys.schedule(), low, high, "LIMIT", 0, wanted)
    for member in as_list(reply):
        ts = text(as_bytes(member) or b"")
        if ts not in skip:
            return ts
    return None


def read_due(ctx: Context, ts: str, count: int = BATCH) -> Plan[list[bytes] | None]:
    """The first ``count`` items due at ``ts``; None when its key is not a list."""
    try:
        items = yield Call("LRANGE", ctx.keys.delayed(ts), 0, count - 1)
    except WrongTypeError:
        return None
    return [as_bytes(i) or b"" for i in as_list(items)]


@dataclass(frozen=True, slots=True)
class Transfer:
    """One delayed item and what promoting it writes."""

    raw: bytes
    """The item as stored."""
    job: dict[str, Any] | str
    """The decoded item; its text when it is not a JSON object."""
    queue: str
    job_class: str
    args: list[Any]
    value: bytes
    """The queue payload; for a problem item, its failure entry."""
    problem: str | None = None
    """Why the item cannot be enqueued (it goes to ``failed``), else None."""


def transfer_for(ctx: Context, raw: bytes, *, ts: str, worker: str) -> Transfer:
    """What promoting ``raw`` writes: the dialect's queue payload for any peer's item
    (node ``{"class","queue","args"}``, Ruby ``{"class","args","queue"}``; extra fields
    dropped, as both peers re-encode), or a failure entry (``worker`` names the scheduler)
    for an item that is no JSON object or names no class or queue."""
    try:
        decoded = decode_json(raw, key=ctx.keys.delayed(ts))
    except PayloadDecodeError as exc:
        bad = Transfer(raw, text(raw), "", "", [], b"")
        return failed_transfer(ctx, bad, ts=ts, worker=worker, why=f"not JSON ({exc})")
    if not isinstance(decoded, dict):
        bad = Transfer(raw, text(raw), "", "", [], b"")
        return failed_transfer(ctx, bad, ts=ts, worker=worker, why="not a JSON object")
    queue, job_class = decoded.get("queue"), decoded.get("class")
    args = job_args(decoded.get("args"))
    try:
        payload = ctx.dialect.job(queue, job_class, args)  # type: ignore[arg-type]
    except PayloadEncodeError as exc:
        where = queue if isinstance(queue, str) else ""
        named = job_class if isinstance(job_class, str) else ""
        bad = Transfer(raw, decoded, where, named, args, b"")
        return failed_transfer(ctx, bad, ts=ts, worker=worker, why=str(exc))
    return Transfer(raw, decoded, queue, job_class, args, payload)  # type: ignore[arg-type]


def failed_transfer(
    ctx: Context,
    transfer: Transfer,
    *,
    ts: str,
    worker: str,
    why: str,
    exception: str = UNSCHEDULABLE,
) -> Transfer:
    """``transfer`` sent to ``failed`` instead, with an entry in the dialect's format saying
    ``why`` (not counted in ``stat:failed``: no job ran)."""
    error = f"delayed item due at {ts} cannot be enqueued: {why}"
    entry = failure_entry(
        ctx, worker=worker, queue=transfer.queue, payload=transfer.job, exception=exception,
        error=error, backtrace=[],
    )  # fmt: skip
    value = encode_failure(ctx, entry, transfer.raw)
    return dataclasses.replace(transfer, value=value, problem=error)


def unusable_queue(ctx: Context, transfer: Transfer, *, ts: str, worker: str) -> Transfer:
    """``transfer`` sent to ``failed``: its queue's key holds something else than a list."""
    why = f"its queue key {ctx.keys.queue(transfer.queue)} holds another type than a list"
    return failed_transfer(ctx, transfer, ts=ts, worker=worker, why=why, exception="WrongTypeError")


class Moved(NamedTuple):
    moved: int
    """Items moved; -1 when the list no longer started with them (nothing was done);
    -2 when the second's key is not a list (it left the schedule; the key is untouched);
    -3 when an item's queue key is not a list (nothing was done; ``left`` is its index)."""
    left: int
    """Items still due at that second (at 0 the second has left the schedule); with
    ``moved`` -3, the 1-based index of the item whose queue cannot take it."""


def move(
    ctx: Context, ts: str, transfers: Sequence[Transfer], *, dropped: Sequence[bool] = ()
) -> Plan[Moved]:
    """Move ``transfers`` (the first items of ``delayed:<ts>``, in order) in one script:
    each to its queue, a problem item to ``failed``, a ``dropped`` one (vetoed) nowhere.

    Atomic: a crash leaves every item either still delayed or moved. With no transfers it
    only drops an emptied second from the schedule.
    """
    keys: list[str] = [ctx.keys.delayed(ts), ctx.keys.schedule(), ctx.keys.queues()]
    keys.extend(ctx.keys.timestamps(t.raw) for t in transfers)
    args: list[Arg] = [len(transfers), ctx.keys.delayed_member(ts), ts]
    for i, t in enumerate(transfers):
        action: Action = "queue"
        if i < len(dropped) and dropped[i]:
            action = "drop"
        elif t.problem is not None:
            action = "fail"
        keys.append(ctx.keys.failed() if action != "queue" else ctx.keys.queue(t.queue))
        args.extend((t.raw, action, t.queue, t.value))
    reply = as_list((yield Eval(load_script("promote_delayed"), tuple(keys), tuple(args))))
    return Moved(as_int(reply[0]), as_int(reply[1]))


# -- dead workers ------------------------------------------------------------------------


class Stale(NamedTuple):
    """A worker whose liveness value is older than the stuck-worker timeout."""

    kind: Literal["ping", "heartbeat"]
    name: str
    """node: the worker name of the ping; ruby: the worker id of the heartbeat."""
    value: bytes
    """The liveness value as read (the clean happens only while it is unchanged)."""
    delta: int
    """Seconds since the worker was last seen alive."""


def stale_workers(ctx: Context, timeout_ms: float) -> Plan[list[Stale]]:
    """node-resque pings and resque heartbeats older than ``timeout_ms``.

    Pings as node-resque judges them: ``Math.round(now) - ping.time`` seconds, stale when
    more than ``Math.round(timeout_ms / 1000)``. Heartbeats as resque judges them:
    ``(now - Time.parse(beat)).to_i`` seconds, against the same limit. Values that cannot
    be read are skipped (node-resque and resque raise on them).
    """
    limit = times.js_round(timeout_ms / 1000)
    now = ctx.clock()
    found: list[Stale] = []
    for key, raw in (yield from _pings(ctx)):
        ping = _json_object(raw)
        seen = ping.get("time") if ping else None
        if not isinstance(seen, int | float) or isinstance(seen, bool):
            continue
        delta = times.js_bucket(now * 1000) - seen
        if delta > limit:
            name = ping.get("name") if ping else None
            if not isinstance(name, str):
                name = text(key)[len(ctx.keys.worker_ping("")) + 1 :]
            found.append(Stale("ping", name, raw, int(delta)))
    beats = as_pairs((yield Call("HGETALL", ctx.keys.heartbeats())))
    for member, beat in sorted(beats):
        when = times.parse_peer_time(beat)
        if when is None:
            continue
        delta = int(now - when)
        if delta > limit:
            found.append(Stale("heartbeat", text(member), beat, delta))
    return found


def _pings(ctx: Context) -> Plan[list[tuple[bytes, bytes]]]:
    keys: dict[bytes, None] = {}
    cursor = 0
    while True:
        reply = yield Call("SCAN", cursor, "MATCH", ctx.keys.worker_pings(), "COUNT", 1000)
        cursor, found = as_scan(reply)
        keys.update(dict.fromkeys(found))
        if cursor == 0:
            break
    ordered = sorted(keys)
    out: list[tuple[bytes, bytes]] = []
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        values = as_list((yield Call("MGET", *chunk)))
        out.extend((k, v) for k, v in zip(chunk, map(as_bytes, values), strict=True) if v)
    return out


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = decode_json(raw)
    except PayloadDecodeError:
        return None
    return value if isinstance(value, dict) else None


# -- cron ticks (pyresque only) --------------------------------------------------------------

CRON_TICK_TTL = 3600
"""Seconds a cron tick's claim is kept: long past any catch-up window."""


def claim_cron_tick(ctx: Context, task: str, minute: int, holder: str) -> Plan[bool]:
    """Claim one tick (``minute``: unix seconds) of a task's schedule; False when another
    node has it."""
    reply = yield Call("SET", ctx.keys.cron_tick(task, minute), holder, "NX", "EX", CRON_TICK_TTL)
    return reply is not None


def release_cron_tick(ctx: Context, task: str, minute: int) -> Plan[None]:
    """Give a tick back (its enqueue failed), so a retry or the next leader can have it."""
    yield Call("DEL", ctx.keys.cron_tick(task, minute))
