"""Plans that read the namespace as a whole: key scans, plugin locks, stats counters, the
scheduler leader, and Ruby's ``Resque.info``.
"""

from __future__ import annotations

from typing import Any

from pyresque.protocol.context import Context
from pyresque.protocol.keys import text
from pyresque.protocol.plan import (
    Batch,
    Call,
    Plan,
    as_bytes,
    as_int,
    as_list,
    as_ruby_int,
    as_scan,
)
from pyresque.protocol.plans.workers import registered

__all__ = ["delete_lock", "info", "leader", "locks", "scan", "stats"]


def scan(ctx: Context, *patterns: str) -> Plan[list[bytes]]:
    """Every key matching any of ``patterns`` (glob text after the escaped namespace)."""
    found: dict[bytes, None] = {}
    for pattern in patterns:
        match = ctx.keys.pattern(pattern)
        cursor = 0
        while True:
            cursor, keys = as_scan((yield Call("SCAN", cursor, "MATCH", match, "COUNT", 1000)))
            found.update(dict.fromkeys(keys))
            if cursor == 0:
                break
    return list(found)


def _values(ctx: Context, keys: list[bytes], prefix: str) -> Plan[dict[str, str | None]]:
    if not keys:
        return {}
    values = as_list((yield Call("MGET", *keys)))
    out: dict[str, str | None] = {}
    for key, value in sorted(zip(keys, values, strict=True)):
        name = ctx.keys.unprefixed(key)
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        data = as_bytes(value)
        out[name] = None if data is None else text(data)
    return out


def locks(ctx: Context) -> Plan[dict[str, str | None]]:
    """Plugin locks (``lock:*`` and ``workerslock:*``) and their values."""
    keys = yield from scan(ctx, "lock:*", "workerslock:*")
    return (yield from _values(ctx, keys, ""))


def delete_lock(ctx: Context, key: str) -> Plan[int]:
    return as_int((yield Call("DEL", ctx.keys.key(key))))


def stats(ctx: Context) -> Plan[dict[str, str | None]]:
    """``{"processed": "12", "failed:host:pid": "1", ...}`` as node-resque reports them."""
    keys = yield from scan(ctx, "stat:*")
    return (yield from _values(ctx, keys, "stat:"))


def leader(ctx: Context) -> Plan[str | None]:
    """The scheduler holding the dialect's lock, else the other peer's."""
    first, second = ctx.keys.leader_lock(), ctx.keys.master_lock()
    if not ctx.dialect.is_node:
        first, second = second, first
    values = yield Batch.of([Call("GET", first), Call("GET", second)])
    for value in values:
        data = as_bytes(value)
        if data is not None:
            return text(data)
    return None


def info(ctx: Context) -> Plan[dict[str, Any]]:
    """Ruby's ``Resque.info`` (pending, processed, queues, workers, working, failed), read
    as Ruby reads it: ``processed`` with ``String#to_i`` (a value that is no integer counts
    as its leading digits, else 0); a queue or list key of another type raises
    :class:`~pyresque.errors.WrongTypeError` naming it, as Ruby raises. For a view that
    reads around such keys, see :mod:`pyresque.protocol.plans.overview`."""
    names = sorted(text(q) for q in as_list((yield Call("SMEMBERS", ctx.keys.queues()))))
    members = yield from registered(ctx)
    replies = yield Batch.of(
        [
            Call("GET", ctx.keys.stat("processed")),
            Call("LLEN", ctx.keys.failed()),
            *(Call("LLEN", ctx.keys.queue(q)) for q in names),
            *(Call("EXISTS", ctx.keys.worker(m)) for m in members),
        ]
    )
    lengths = [as_int(r) for r in replies[2 : 2 + len(names)]]
    working = sum(as_int(r) for r in replies[2 + len(names) :])
    return {
        "pending": sum(lengths),
        "processed": as_ruby_int(replies[0]),
        "queues": len(names),
        "workers": len(members),
        "working": working,
        "failed": as_int(replies[1]),
    }
