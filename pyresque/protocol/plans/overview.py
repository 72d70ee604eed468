"""What ``pyresque status`` and an app's ``details`` show, read whatever Redis holds.

Every key is read on its own terms: a key of another type, a working-on record that is not
JSON, a stat that is not an integer, or any other error reply for one key is returned as an
:class:`Unreadable` marker in that key's place, naming the key and why; every other value
is still read. Reads go out in one batch; only when Redis refuses one of its commands is
the batch split (in halves, so a few bad keys among many cost a few more round trips).
Transient refusals and lost connections are not markers: they are raised, as for any call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict, TypeGuard

from pyresque.errors import PayloadDecodeError, RedisReplyError, TransientReplyError, WrongTypeError
from pyresque.protocol.context import Context
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_working_on
from pyresque.protocol.plan import Batch, Call, Plan, as_bytes, as_int, as_list
from pyresque.protocol.plans.stats import scan
from pyresque.protocol.plans.workers import split_member
from pyresque.protocol.replies import describe

__all__ = [
    "Delayed",
    "Overview",
    "Unreadable",
    "is_unreadable",
    "overview",
    "queue_lengths",
    "read_each",
]


class Unreadable(TypedDict):
    """A value that could not be read: ``unreadable`` says why (naming the key), ``key`` is
    where it is, ``raw`` its text when there was one. Plain data, so it prints as JSON."""

    unreadable: str
    key: str
    raw: NotRequired[str]


def is_unreadable(value: object) -> TypeGuard[Unreadable]:
    return isinstance(value, dict) and isinstance(value.get("unreadable"), str) and "key" in value


class Delayed(TypedDict):
    jobs: int | Unreadable
    timestamps: int | Unreadable


class Overview(TypedDict):
    """``queues``: known queues (and queues workers name whose key cannot be read) and
    their lengths. ``workers``: name -> queues. ``working``: the busy workers' records
    (a record whose job cannot be read keeps its other fields, its ``payload`` marked).
    ``skipping``: per worker, the queues it names whose key cannot be read, which it skips.
    ``stats``: node-resque's raw strings, those that are no integer marked."""

    queues: dict[str, int | Unreadable] | Unreadable
    delayed: Delayed
    workers: dict[str, str | None] | Unreadable
    working: dict[str, dict[str, Any]]
    skipping: dict[str, list[str]]
    failed: int | Unreadable
    leader: str | Unreadable | None
    stats: dict[str, str | Unreadable]


# The type a command reads, for saying what a key of another type should have held.
_READS = {"LLEN": "list", "GET": "string", "SMEMBERS": "set", "ZCARD": "zset", "ZRANGE": "zset"}
_SHOWN = 60  # characters of a bad value quoted in a reason
_INTEGER = re.compile(r"-?\d+")
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


def _stat(key: str, reply: Any) -> str | Unreadable:
    if is_unreadable(reply):
        return reply
    value = _display(as_bytes(reply) or b"")
    if _INTEGER.fullmatch(value):
        return value
    return _marker(key, f"{key} holds {_shown(value)}, not an integer", value)


def _stats(ctx: Context) -> Plan[dict[str, str | Unreadable]]:
    keys = sorted(text(k) for k in (yield from scan(ctx, "stat:*")))
    replies = yield from read_each([Call("GET", key) for key in keys])
    found: dict[str, str | Unreadable] = {}
    for key, reply in zip(keys, replies, strict=True):
        if reply is not None:  # None: gone since the scan
            found[ctx.keys.unprefixed(key).removeprefix("stat:")] = _stat(key, reply)
    return found


def _literal_queues(queues: str | None) -> list[str]:
    """The queue names in a registration, patterns (``*``, ``!q``, ``q*`` ...) left out."""
    names = (queues or "").split(",")
    return [q for q in names if q and not q.startswith("!") and not _PATTERN.search(q)]


def overview(ctx: Context) -> Plan[Overview]:
    """Queues, delayed jobs, workers and what they work on, failed count, leader and stats,
    each value read on its own (see the module docstring)."""
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
    registered = {} if is_unreadable(members) else dict(split_member(m) for m in members)
    named = sorted({q for queues in registered.values() for q in _literal_queues(queues)})
    probed = sorted(set(named) | set([] if is_unreadable(known) else known))
    lengths = yield from queue_lengths(ctx, probed)
    delayed = yield from _delayed(ctx, replies[2], replies[3])
    working: dict[str, dict[str, Any]] = {}
    if not is_unreadable(members):
        keys = [ctx.keys.worker(m) for m in members]
        records = yield from read_each([Call("GET", key) for key in keys])
        for member, key, reply in zip(members, keys, records, strict=True):
            record = _record(key, reply)
            if record is not None:
                working[split_member(member)[0]] = record
    leader = next((r for r in replies[5:] if r is not None), None)
    return Overview(
        queues=known
        if is_unreadable(known)
        else {q: n for q, n in lengths.items() if q in known or is_unreadable(n)},
        delayed=delayed,
        workers=members if is_unreadable(members) else registered,
        working=working,
        skipping={
            name: skipped
            for name, queues in registered.items()
            if (skipped := [q for q in _literal_queues(queues) if is_unreadable(lengths[q])])
        },
        failed=_count(replies[4]),
        leader=leader
        if leader is None or is_unreadable(leader)
        else _display(as_bytes(leader) or b""),
        stats=(yield from _stats(ctx)),
    )


def _delayed(ctx: Context, size: Any, members: Any) -> Plan[Delayed]:
    """The schedule's timestamps and the jobs waiting at them (``jobs`` marked with the
    first timestamp list that cannot be read)."""
    if is_unreadable(members):
        return Delayed(jobs=members, timestamps=_count(size))
    # Members are due times in seconds (a prefix before a colon is left out, as elsewhere).
    suffixes = (text(as_bytes(m) or b"").rsplit(":", 1)[-1] for m in as_list(members))
    seconds = sorted({int(s) for s in suffixes if _INTEGER.fullmatch(s)})
    lengths = yield from read_each([Call("LLEN", ctx.keys.delayed(s)) for s in seconds])
    jobs: int | Unreadable = next(
        (n for n in lengths if is_unreadable(n)), sum(as_int(n) for n in lengths)
    )
    return Delayed(jobs=jobs, timestamps=_count(size))
