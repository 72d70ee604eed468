"""The :class:`~pyresque.protocol.status.Status` of a namespace (what ``pyresque status``
and an app's ``details`` show), read whatever Redis holds.

Every key is read on its own terms: a key of another type, a working-on record that is not
JSON, a stat that is not an integer, or any other error reply for one key is returned as an
:class:`Unreadable` marker in that key's place, naming the key and why; every other value
is still read. Reads go out in one batch; only when Redis refuses one of its commands is
the batch split (in halves, so a few bad keys among many cost a few more round trips).
Transient refusals and lost connections are not markers: they are raised, as for any call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pyresque.errors import PayloadDecodeError, RedisReplyError, TransientReplyError, WrongTypeError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.jsjson import loads
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_working_on
from pyresque.protocol.plan import Batch, Call, Plan, as_bytes, as_int, as_list, as_pairs
from pyresque.protocol.plans.stats import scan
from pyresque.protocol.plans.workers import split_member
from pyresque.protocol.replies import describe
from pyresque.protocol.status import (
    Counts,
    DelayedStatus,
    QueueStatus,
    Status,
    Unreadable,
    WorkerKind,
    WorkerStatus,
    is_unreadable,
)

__all__ = [
    "Unreadable",
    "is_unreadable",
    "queue_lengths",
    "read_each",
    "status",
]


# The type a command reads, for saying what a key of another type should have held.
_READS = {
    "LLEN": "list",
    "GET": "string",
    "SMEMBERS": "set",
    "ZCARD": "zset",
    "ZRANGE": "zset",
    "HGETALL": "hash",
}
_SHOWN = 60  # characters of a bad value quoted in a reason
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: what INCR and the peers write
_PATTERN = re.compile(r"[*?\[\]{}]")


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _display(raw: bytes) -> str:
    """Bytes as text for people and JSON: bytes that are no UTF-8 as ``\\x..`` escapes."""
    return raw.decode("utf-8", "backslashreplace")


def _marker(key: str, reason: str, raw: str | None = None) -> Unreadable:
    marker = Unreadable(unreadable=reason, key=key)
    if raw is not None:
        marker["raw"] = raw
    return marker


def _each(steps: Sequence[Call]) -> Plan[list[Any]]:
    """Each command's reply, or the :class:`RedisReplyError` Redis answered it with."""
    if not steps:
        return []
    try:
        if len(steps) == 1:
            return [(yield steps[0])]
        return as_list((yield Batch.of(steps)))
    except TransientReplyError:
        raise
    except RedisReplyError as exc:
        if len(steps) == 1:
            return [exc]
    half = len(steps) // 2
    return (yield from _each(steps[:half])) + (yield from _each(steps[half:]))


def read_each(steps: Sequence[Call]) -> Plan[list[Any]]:
    """Each command's raw reply, or an :class:`Unreadable` for the key it could not read
    (for a key of another type, saying which type it holds)."""
    replies = yield from _each(steps)
    failed = [i for i, reply in enumerate(replies) if isinstance(reply, RedisReplyError)]
    if not failed:
        return replies
    keys = [describe(steps[i])[1] or "" for i in failed]
    kinds = yield from _each([Call("TYPE", key) for key in keys])
    for i, key, kind in zip(failed, keys, kinds, strict=True):
        exc, command = replies[i], describe(steps[i])[0]
        reason = " ".join(str(exc).split())
        if isinstance(exc, WrongTypeError) and isinstance(kind, bytes | str):
            reason = f"WRONGTYPE: {key} holds a {text(kind)}, not a {_READS.get(command, '?')}"
        replies[i] = _marker(key, reason)
    return replies


def queue_lengths(ctx: Context, queues: Sequence[str]) -> Plan[dict[str, int | Unreadable]]:
    """The length of each queue (0 for none), or why it cannot be read."""
    replies = yield from read_each([Call("LLEN", ctx.keys.queue(q)) for q in queues])
    return {q: r if is_unreadable(r) else as_int(r) for q, r in zip(queues, replies, strict=True)}


def _names(reply: Any) -> list[str] | Unreadable:
    return reply if is_unreadable(reply) else sorted(text(m) for m in as_list(reply))


def _count(reply: Any) -> int | Unreadable:
    return reply if is_unreadable(reply) else as_int(reply)


def _record(key: str, reply: Any) -> dict[str, Any] | None:
    """A worker's working-on record (None when idle), or a marker in its place or in its
    payload's (pyresque writes a job it could not decode as a string payload)."""
    if is_unreadable(reply):
        return dict(reply)
    raw = as_bytes(reply)
    if raw is None:
        return None
    try:
        record: dict[str, Any] = dict(decode_working_on(raw, key=key))
    except PayloadDecodeError:
        shown = _display(raw)
        return dict(_marker(key, f"{key} is not a JSON object: {_shown(shown)}", shown))
    payload = record.get("payload")
    if not isinstance(payload, dict):
        shown = payload if isinstance(payload, str) else repr(payload)
        reason = f"the job in {key} is not a JSON object: {_shown(shown)}"
        record["payload"] = _marker(key, reason, shown)
    return record


def _stat(key: str, reply: Any) -> int | Unreadable:
    if is_unreadable(reply):
        return reply
    value = _display(as_bytes(reply) or b"")
    if _INTEGER.fullmatch(value):
        return int(value)
    return _marker(key, f"{key} holds {_shown(value)}, not an integer", value)


def _stats(ctx: Context) -> Plan[dict[str, int | Unreadable]]:
    """Every ``stat:`` key, by its name after ``stat:`` (as node-resque's ``stats()``)."""
    keys = sorted(text(k) for k in (yield from scan(ctx, "stat:*")))
    replies = yield from read_each([Call("GET", key) for key in keys])
    found: dict[str, int | Unreadable] = {}
    for key, reply in zip(keys, replies, strict=True):
        if reply is not None:  # None: gone since the scan
            found[ctx.keys.unprefixed(key).removeprefix("stat:")] = _stat(key, reply)
    return found


def _counts(stats: dict[str, int | Unreadable], *whose: str) -> Counts:
    """The counters of the first of ``whose`` ("" for the namespace's) that has each one,
    taken out of ``stats`` (what is left there is shown as ``other_stats``)."""
    found: dict[str, int | Unreadable] = {}
    for kind in ("processed", "failed"):
        for who in whose:
            value = stats.pop(f"{kind}:{who}" if who else kind, None)
            if value is not None:
                found[kind] = value
                break
    return Counts(**found)


def _literal_queues(queues: str | None) -> list[str]:
    """The queue names in a registration, patterns (``*``, ``!q``, ``q*`` ...) left out."""
    names = (queues or "").split(",")
    return [q for q in names if q and not q.startswith("!") and not _PATTERN.search(q)]


def status(ctx: Context) -> Plan[Status]:
    """Queues, delayed jobs, workers (what they work on, since when, their counters),
    the failed count, stats and the leader, each value read on its own (see the module
    docstring)."""
    read_at = round(ctx.now_ms())
    first, second = ctx.keys.leader_lock(), ctx.keys.master_lock()
    if not ctx.dialect.is_node:
        first, second = second, first
    replies = yield from read_each(
        [
            Call("SMEMBERS", ctx.keys.queues()),
            Call("SMEMBERS", ctx.keys.workers()),
            Call("ZCARD", ctx.keys.schedule()),
            Call("ZRANGE", ctx.keys.schedule(), 0, -1),
            Call("LLEN", ctx.keys.failed()),
            Call("GET", first),
            Call("GET", second),
        ]
    )
    known, members = _names(replies[0]), _names(replies[1])
    # name -> member; of two members with one name, the last in sort order (node-resque's
    # workers() keeps one of them too).
    registered = {} if is_unreadable(members) else {split_member(m)[0]: m for m in members}
    named = {q for m in registered.values() for q in _literal_queues(split_member(m)[1])}
    listed = set() if is_unreadable(known) else set(known)
    lengths = yield from queue_lengths(ctx, sorted(named | listed))
    delayed = yield from _delayed(ctx, replies[2], replies[3], read_at)
    stats = yield from _stats(ctx)
    workers = yield from _workers(ctx, registered, lengths, stats)
    leader = next((r for r in replies[5:] if r is not None), None)
    return Status(
        namespace=ctx.keys.prefix,
        read_at=read_at,
        queues=known
        if is_unreadable(known)
        else {q: QueueStatus(n) for q, n in lengths.items() if q in listed or is_unreadable(n)},
        delayed=delayed,
        workers=members if is_unreadable(members) else workers,
        failed=_count(replies[4]),
        stats=_counts(stats, ""),
        other_stats=stats,
        leader=leader
        if leader is None or is_unreadable(leader)
        else _display(as_bytes(leader) or b""),
    )


def _delayed(ctx: Context, size: Any, members: Any, now_ms: int) -> Plan[DelayedStatus]:
    """The schedule's timestamps and the jobs waiting at them (``jobs`` and ``due`` marked
    with the first of their timestamp lists that cannot be read)."""
    if is_unreadable(members):
        return DelayedStatus(members, _count(size), members, None, 0)
    # Members are due times in seconds (a prefix before a colon is left out, as elsewhere).
    suffixes = (text(as_bytes(m) or b"").rsplit(":", 1)[-1] for m in as_list(members))
    seconds = sorted({int(s) for s in suffixes if _INTEGER.fullmatch(s)})
    lengths = yield from read_each([Call("LLEN", ctx.keys.delayed(s)) for s in seconds])
    pairs = zip(seconds, lengths, strict=True)
    held = [(s * 1000, n) for s, n in pairs if is_unreadable(n) or as_int(n)]  # jobs wait there
    earliest = held[0][0] if held else None
    return DelayedStatus(
        jobs=_sum(n for _, n in held),
        timestamps=_count(size),
        due=_sum(n for at, n in held if at <= now_ms),
        earliest_at=earliest,
        overdue_ms=0 if earliest is None else max(0, now_ms - earliest),
    )


def _sum(lengths: Iterable[Any]) -> int | Unreadable:
    """The total of LLEN replies, or the first marker among them."""
    total = 0
    for length in lengths:
        if is_unreadable(length):
            return length
        total += as_int(length)
    return total


# -- workers --------------------------------------------------------------------------------


def _workers(
    ctx: Context,
    registered: dict[str, str],
    lengths: dict[str, int | Unreadable],
    stats: dict[str, int | Unreadable],
) -> Plan[dict[str, WorkerStatus]]:
    """Each registered worker, with its record, liveness and ``started`` values read in one
    batch (the heartbeats hash in one command), and its counters taken out of ``stats``."""
    if not registered:
        return {}
    keys = ctx.keys
    steps = [
        Call("GET", key)
        for name, member in registered.items()
        for key in (
            keys.worker(member),
            keys.worker_ping(name),
            keys.worker_started(member),
            keys.worker_runtime(member),
        )
    ]
    # HGETALL, not HMGET: REQUIRED_COMMANDS (the ACL list) has it; one field per Ruby worker.
    replies = yield from read_each([*steps, Call("HGETALL", keys.heartbeats())])
    beats = replies.pop()
    if not is_unreadable(beats):
        beats = {text(k): v for k, v in as_pairs(beats)}
    found: dict[str, WorkerStatus] = {}
    for i, (name, member) in enumerate(registered.items()):
        record_reply, ping, started, runtime = replies[4 * i : 4 * i + 4]
        beat = beats if is_unreadable(beats) else beats.get(member)
        record = _record(keys.worker(member), record_reply)
        queues = split_member(member)[1]
        found[name] = WorkerStatus(
            id=member,
            queues=tuple(q for q in (queues or "").split(",") if q),
            kind=_kind(ping, beat, started),
            started_at=_time(keys.worker_started(member), started),
            seen_at=_seen(keys.worker_ping(name), keys.heartbeats(), member, ping, beat),
            working_on=record,
            working_since=_since(keys.worker(member), record),
            skipping=tuple(q for q in _literal_queues(queues) if is_unreadable(lengths.get(q))),
            stats=_counts(stats, member, name),  # Ruby's are the full id's, node's the name's
            runtime=_runtime(runtime),
        )
    return found


def _runtime(reply: Any) -> str | None:
    """pyresque's runtime mark (``pyresque/<version>``); None for the peers' workers, which
    write none (and for a mark that cannot be read: it is pyresque's own, never a peer's)."""
    if reply is None or is_unreadable(reply):
        return None
    return _display(as_bytes(reply) or b"")


def _kind(ping: Any, beat: Any, started: Any) -> WorkerKind | None:
    """node-resque pings, Ruby resque beats; without either, node writes ``started`` as
    unix seconds and Ruby as ``Time#to_s``."""
    if ping is not None and not is_unreadable(ping):
        return "node"
    if beat is not None and not is_unreadable(beat):
        return "ruby"
    if started is None or is_unreadable(started):
        return None
    value = _display(as_bytes(started) or b"").strip()
    if _INTEGER.fullmatch(value):
        return "node"
    return "ruby" if times.parse_peer_time(value) is not None else None


def _ms(seconds: float | None) -> int | None:
    """Seconds as whole ms; None for none, and for a time no clock shows (1e400 parses)."""
    if seconds is None or not math.isfinite(seconds):
        return None
    return round(seconds * 1000)


def _time(key: str, reply: Any, where: str | None = None) -> int | Unreadable | None:
    """A time either peer wrote (unix seconds, ``Time#to_s``, ISO 8601 ...) in ms, read
    from ``key`` (``where`` names a hash field in it)."""
    if reply is None or is_unreadable(reply):
        return reply
    value = _display(as_bytes(reply) or b"")
    found = _ms(times.parse_peer_time(value))
    if found is None:
        return _marker(key, f"{where or key} holds {_shown(value)}, not a time", value)
    return found


def _seen(
    ping_key: str, beats_key: str, member: str, ping: Any, beat: Any
) -> int | Unreadable | None:
    """The last liveness mark in ms: node's ping (``{"time": <s>, ...}``), else Ruby's
    heartbeat; a marker for one that cannot be read when there is no other."""
    if ping is not None and not is_unreadable(ping):
        value = _display(as_bytes(ping) or b"")
        try:
            parsed = loads(value)
        except PayloadDecodeError:
            parsed = None
        seconds = parsed.get("time") if isinstance(parsed, dict) else None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            found = _ms(seconds)
            if found is not None:
                return found
        return _marker(ping_key, f"{ping_key} holds {_shown(value)}, not a ping", value)
    if beat is not None and not is_unreadable(beat):
        return _time(beats_key, beat, f"{beats_key}[{member}]")
    return ping if ping is not None else beat


def _since(key: str, record: dict[str, Any] | None) -> int | Unreadable | None:
    """When the job in a record started: its ``run_at`` (either peer's format) in ms."""
    if record is None or is_unreadable(record):
        return None
    run_at = record.get("run_at")
    found = _ms(times.parse_peer_time(run_at)) if isinstance(run_at, str) else None
    if found is None:
        shown = run_at if isinstance(run_at, str) else repr(run_at)
        return _marker(key, f"the run_at in {key} is not a time: {_shown(shown)}", shown)
    return found
