"""Plans for delayed jobs (the resque-scheduler layout both peers share).

Units follow node-resque: due times are given in milliseconds, ``scheduled_at`` and
``delete_delayed`` answer in seconds, ``timestamps`` and ``all_delayed`` in milliseconds.
Ruby's own calls (``remove_delayed``, ``delayed_queue_peek`` ...) keep Ruby's seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from pyresque.errors import ArgumentError, DuplicateJobError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import job_args
from pyresque.protocol.jsjson import JSONValue
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import Job, decode_job
from pyresque.protocol.plan import (
    Batch,
    Call,
    Eval,
    Plan,
    as_bytes,
    as_int,
    as_list,
    as_ruby_int,
    load_script,
)
from pyresque.protocol.plans.jobs import enqueue, replicated

__all__ = [
    "DelayedAt",
    "all_delayed",
    "count_all_scheduled_jobs",
    "delayed_at",
    "delayed_encodings",
    "delayed_queue_peek",
    "delayed_queue_schedule_size",
    "delayed_timestamp_peek",
    "delayed_timestamp_size",
    "delay_ms",
    "delete_delayed",
    "enqueue_at",
    "enqueue_in",
    "remove_delayed",
    "scheduled_at",
    "timestamps",
    "to_ms",
]


class DelayedAt(NamedTuple):
    """node-resque's ``delayedAt`` answer: the items and the second they sit at."""

    tasks: list[Job]
    r_timestamp: int


def delayed_encodings(
    ctx: Context, queue: str, job_class: str, args: Sequence[JSONValue]
) -> list[bytes]:
    """The delayed item as each peer would have written it, the dialect's first."""
    first = ctx.dialect.delayed_job(queue, job_class, args)
    second = ctx.dialect.other.delayed_job(queue, job_class, args)
    return [first] if second == first else [first, second]


def to_ms(when: float | datetime) -> float:
    """Unix milliseconds from a number of milliseconds or an aware datetime."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ArgumentError("a naive datetime is ambiguous: give it a tzinfo")
        return when.timestamp() * 1000
    if not isinstance(when, int | float) or isinstance(when, bool) or not math.isfinite(when):
        raise ArgumentError(f"expected a finite number of milliseconds, not {when!r}")
    return float(when) if isinstance(when, float) else when


def delay_ms(delay: float | timedelta) -> float:
    """Milliseconds from a number of milliseconds or a timedelta."""
    if isinstance(delay, timedelta):
        return delay.total_seconds() * 1000
    return to_ms(delay)


def enqueue_in(
    ctx: Context,
    delay: float | timedelta,
    queue: str,
    job_class: str,
    args: object = None,
    *,
    suppress_duplicate: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Plan[bool | None]:
    """``enqueue_at(now + delay)``; ``delay`` in milliseconds (node-resque truncates it to
    whole milliseconds, and so does this)."""
    at = ctx.now_ms() + math.trunc(delay_ms(delay))
    return (
        yield from enqueue_at(
            ctx, at, queue, job_class, args, suppress_duplicate=suppress_duplicate, extra=extra
        )
    )


def enqueue_at(
    ctx: Context,
    at: float | datetime,
    queue: str,
    job_class: str,
    args: object = None,
    *,
    suppress_duplicate: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Plan[bool | None]:
    """Delay a job until ``at`` (unix milliseconds, or an aware datetime).

    node dialect: an identical item at the same second raises :class:`DuplicateJobError`,
    or returns None with ``suppress_duplicate``. ruby dialect: duplicates are kept, and a
    due time not in the future enqueues at once, as resque-scheduler does. ``extra``
    top-level string fields follow the standard ones (an item is a duplicate only when
    its bytes, extra fields included, are the same).
    """
    at_ms = to_ms(at)
    arguments = job_args(args)
    ts = ctx.dialect.bucket(at_ms)
    if not ctx.dialect.is_node and ts <= math.floor(ctx.clock()):
        return (yield from enqueue(ctx, queue, job_class, arguments, extra=extra))
    item = ctx.dialect.delayed_job(queue, job_class, arguments, extra=extra)
    member = ctx.keys.delayed_member(ts)
    added = yield Eval(
        load_script("enqueue_at"),
        (ctx.keys.delayed(ts), ctx.keys.timestamps(item), ctx.keys.schedule()),
        (item, member, ts, "1" if ctx.dialect.is_node else "0"),
    )
    if as_int(added):
        if ctx.replicas:
            yield from replicated(ctx, ctx.keys.delayed(ts))
        return True
    if suppress_duplicate:
        return None
    raise DuplicateJobError("Job already enqueued at this time with same arguments")


def _seconds(members: list[object]) -> list[int]:
    found = set()
    for member in members:
        suffix = text(as_bytes(member) or b"").rsplit(":", 1)[-1]
        try:
            found.add(int(suffix))
        except ValueError:
            continue
    return sorted(found)


def scheduled_at(ctx: Context, queue: str, job_class: str, args: object = None) -> Plan[list[int]]:
    """Seconds at which this exact job is delayed, sorted, whichever peer wrote it."""
    variants = delayed_encodings(ctx, queue, job_class, job_args(args))
    replies = yield Batch.of([Call("SMEMBERS", ctx.keys.timestamps(v)) for v in variants])
    return _seconds([m for reply in replies for m in as_list(reply)])


def _delete_pairs(ctx: Context, variants: list[bytes]) -> Plan[list[tuple[int, int]]]:
    """Remove every delayed copy of ``variants``; [(second, removed)] per copy found."""
    replies = yield Batch.of([Call("SMEMBERS", ctx.keys.timestamps(v)) for v in variants])
    pairs: list[tuple[bytes, int]] = []
    for variant, reply in zip(variants, replies, strict=True):
        pairs.extend((variant, ts) for ts in _seconds(as_list(reply)))
    if not pairs:
        return []
    removed = yield Eval(
        load_script("delete_delayed"),
        (
            *(ctx.keys.timestamps(v) for v, _ in pairs),
            *(ctx.keys.delayed(ts) for _, ts in pairs),
        ),
        (len(pairs), *(v for v, _ in pairs), *(ctx.keys.delayed_member(ts) for _, ts in pairs)),
    )
    return [(ts, as_int(r)) for (_, ts), r in zip(pairs, as_list(removed), strict=True)]


def delete_delayed(
    ctx: Context, queue: str, job_class: str, args: object = None
) -> Plan[list[int]]:
    """node-resque's ``delDelayed``: the seconds from which copies were removed."""
    variants = delayed_encodings(ctx, queue, job_class, job_args(args))
    pairs = yield from _delete_pairs(ctx, variants)
    return sorted({ts for ts, removed in pairs if removed > 0})


def remove_delayed(ctx: Context, queue: str, job_class: str, args: object = None) -> Plan[int]:
    """resque-scheduler's ``remove_delayed``: how many copies were removed."""
    variants = delayed_encodings(ctx, queue, job_class, job_args(args))
    pairs = yield from _delete_pairs(ctx, variants)
    return sum(removed for _, removed in pairs)


def _live_seconds(ctx: Context) -> Plan[list[int]]:
    """Seconds in the schedule that still hold items, in order."""
    members = as_list((yield Call("ZRANGE", ctx.keys.schedule(), 0, -1)))
    seconds = _seconds(members)
    if not seconds:
        return []
    lengths = yield Batch.of([Call("LLEN", ctx.keys.delayed(ts)) for ts in seconds])
    return [ts for ts, n in zip(seconds, lengths, strict=True) if as_int(n) > 0]


def timestamps(ctx: Context) -> Plan[list[int]]:
    """Milliseconds of every second holding delayed jobs, sorted as numbers.

    node-resque scans ``delayed:*`` and sorts the numbers as strings; this reads the
    schedule instead, so it neither walks the key space nor trips over Ruby's
    ``delayed:last_enqueued_at`` hash.
    """
    return [ts * 1000 for ts in (yield from _live_seconds(ctx))]


def delayed_at(ctx: Context, at: float | datetime) -> Plan[DelayedAt]:
    ts = ctx.dialect.bucket(to_ms(at))
    key = ctx.keys.delayed(ts)
    items = as_list((yield Call("LRANGE", key, 0, -1)))
    return DelayedAt([decode_job(as_bytes(i) or b"", key=key) for i in items], ts)


def all_delayed(ctx: Context) -> Plan[dict[str, list[Job]]]:
    """Every delayed job, keyed by ``str(milliseconds)`` in time order."""
    seconds = yield from _live_seconds(ctx)
    if not seconds:
        return {}
    lists = yield Batch.of([Call("LRANGE", ctx.keys.delayed(ts), 0, -1) for ts in seconds])
    return {
        str(ts * 1000): [
            decode_job(as_bytes(i) or b"", key=ctx.keys.delayed(ts)) for i in as_list(items)
        ]
        for ts, items in zip(seconds, lists, strict=True)
    }


def delayed_queue_peek(ctx: Context, start: int, count: int) -> Plan[list[int]]:
    members = yield Call("ZRANGE", ctx.keys.schedule(), start, start + count - 1)
    return [as_ruby_int(m) for m in as_list(members)]  # Ruby's .map(&:to_i)


def delayed_queue_schedule_size(ctx: Context) -> Plan[int]:
    return as_int((yield Call("ZCARD", ctx.keys.schedule())))


def delayed_timestamp_size(ctx: Context, timestamp: int) -> Plan[int]:
    return as_int((yield Call("LLEN", ctx.keys.delayed(int(timestamp)))))


def delayed_timestamp_peek(ctx: Context, timestamp: int, start: int, count: int) -> Plan[list[Job]]:
    key = ctx.keys.delayed(int(timestamp))
    items = yield Call("LRANGE", key, start, start + count - 1)
    return [decode_job(as_bytes(i) or b"", key=key) for i in as_list(items)]


def count_all_scheduled_jobs(ctx: Context) -> Plan[int]:
    members = as_list((yield Call("ZRANGE", ctx.keys.schedule(), 0, -1)))
    seconds = _seconds(members)
    if not seconds:
        return 0
    lengths = yield Batch.of([Call("LLEN", ctx.keys.delayed(ts)) for ts in seconds])
    return sum(as_int(n) for n in lengths)
