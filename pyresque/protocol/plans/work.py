"""Plans for a worker: register, stay alive, take and settle jobs, unregister."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.jsjson import js_dumps
from pyresque.protocol.keys import text
from pyresque.protocol.plan import (
    Arg,
    Batch,
    Call,
    Eval,
    Plan,
    Segment,
    as_bytes,
    as_int,
    as_list,
    load_script,
)
from pyresque.protocol.workers import RUNTIME, Identity, ping_value

__all__ = [
    "Settle",
    "Stepped",
    "Taken",
    "WorkSpec",
    "expand_queues",
    "heartbeat",
    "is_dynamic",
    "move_registration",
    "ping",
    "register",
    "unregister",
    "work_spec",
    "work_step",
]


@dataclass(slots=True)
class Settle:
    """What to do with the job a worker just finished (or gave up on).

    ``done``: count it (``processed``/``failed`` increments) and push ``entry`` (a failure
    entry, or ``b""``). ``requeue``: put ``payload`` back at the head of ``queue``.
    Either way the working-on record goes.
    """

    kind: Literal["done", "requeue"]
    processed: bool = False
    failed: bool = False
    entry: bytes = b""
    queue: str = ""
    payload: bytes = b""
    touch_processed: bool = False
    """With ``processed`` false: add 0 to the ``processed`` counters (they exist after,
    unchanged), as node-resque's Retry leaves them (a success's INCR, then its DECR)."""


@dataclass(slots=True)
class Taken:
    """A job taken from ``queue``: its exact bytes, and whether Redis' cjson could read it."""

    queue: str
    raw: bytes
    decoded: bool


class Stepped(NamedTuple):
    """What a step did: the job it took (or None), and a note for each key it skipped
    because that key could not be used (``SKIPPED <command> <key>: <error>``)."""

    taken: Taken | None
    notes: tuple[str, ...] = ()


_NOTHING = Stepped(None)


@dataclass(frozen=True, slots=True)
class WorkSpec:
    """What a worker's every step sends unchanged, as segments drivers encode once
    (on the hot path the encoding of some twenty constant arguments would cost more than
    the rest of the step)."""

    queues: tuple[str, ...]
    failed_key: bytes
    fixed_keys: Segment  # KEYS[1..6]
    queue_keys: Segment  # KEYS[8..]: pause-all-workers, then the queues
    tail: Segment  # ARGV[9..]: honour pause, worker name, queue names
    splice: bool


def work_spec(
    ctx: Context, who: Identity, queues: Sequence[str], *, honour_pause: bool = False
) -> WorkSpec:
    keys = ctx.keys
    node = ctx.dialect.is_node
    names = [q.encode() if node else js_dumps(q) for q in queues]
    failed = keys.failed().encode()
    return WorkSpec(
        tuple(queues),
        failed,
        Segment(
            keys.worker(who.member).encode(),
            keys.stat("processed").encode(),
            keys.stat("processed", who.stats).encode(),
            keys.stat("failed").encode(),
            keys.stat("failed", who.stats).encode(),
            failed,
        ),
        Segment(keys.pause_all().encode(), *(keys.queue(q).encode() for q in queues)),
        Segment(b"1" if honour_pause else b"0", who.name.encode(), *names),
        not node,
    )


# The settle part of a step is one of a few constant shapes unless it carries a failure
# entry or a payload: segments, encoded once.
_HEADS: dict[tuple[str, bool, bool], Segment] = {
    (kind, processed, failed): Segment(
        kind, b"1" if processed else b"0", b"1" if failed else b"0", b"", b""
    )
    for kind in ("", "done")
    for processed in (False, True)
    for failed in (False, True)
}
_TAKE = {
    (take, splice): Segment(b"1" if take else b"0", b"splice" if splice else b"cjson")
    for take in (False, True)
    for splice in (False, True)
}


def work_step(
    ctx: Context, spec: WorkSpec, *, settle: Settle | None, take: bool, started: str = ""
) -> Plan[Stepped]:
    """Settle the previous job (if any) and take the next one, in one round trip.

    ``started`` is the ``run_at`` to record for the taken job, in the dialect's format.
    """
    head: tuple[Arg | Segment, ...]
    requeue_key = spec.failed_key
    if settle is None:
        head = (_HEADS["", False, False],)
    elif not settle.entry and not settle.payload and not settle.touch_processed:
        head = (_HEADS[settle.kind, settle.processed, settle.failed],)
    else:
        head = (
            settle.kind,
            b"1" if settle.processed else (b"t" if settle.touch_processed else b"0"),
            b"1" if settle.failed else b"0",
            settle.entry,
            settle.payload,
        )
        if settle.kind == "requeue":
            requeue_key = ctx.keys.queue(settle.queue).encode()
    reply = yield Eval(
        load_script("work"),
        (spec.fixed_keys, requeue_key, spec.queue_keys),
        (
            *head,
            _TAKE[bool(take and spec.queues), spec.splice],
            js_dumps(started) if spec.splice else started,
            spec.tail,
        ),
    )
    if reply is None:
        return _NOTHING
    index, raw, decoded, *notes = reply
    found = as_int(index)
    taken = (
        Taken(spec.queues[found - 1], as_bytes(raw) or b"", as_int(decoded) == 1) if found else None
    )
    return Stepped(taken, tuple(text(as_bytes(n) or b"") for n in notes))


def register(ctx: Context, who: Identity, runtime_ttl: int | None = None) -> Plan[None]:
    """Join the ``workers`` set with the dialect's ``started`` value and first liveness mark
    (node's ping, Ruby's heartbeat: a worker is never registered without one), in one step;
    with ``runtime_ttl`` also pyresque's runtime mark, living that many seconds."""
    keys = ctx.keys
    if ctx.dialect.is_node:
        now = ctx.now_ms()
        liveness, mark = keys.worker_ping(who.name), "ping"
        value = ping_value(who.name, who.queues, now)
        started: str | int = times.js_bucket(now)
    else:
        liveness, mark = keys.heartbeats(), "heartbeat"
        value = (yield from _redis_now(ctx)).encode()
        started = times.ruby_time_to_s(ctx.clock())
    keys_: tuple[str, ...] = (keys.workers(), keys.worker_started(who.member), liveness)
    args: tuple[Arg, ...] = (who.member, started, mark, value)
    if runtime_ttl is not None:
        keys_ += (keys.worker_runtime(who.member),)
        args += (RUNTIME, runtime_ttl)
    yield Eval(load_script("register_worker"), keys_, args)


def _runtime(ctx: Context, who: Identity, runtime_ttl: int | None) -> list[Call]:
    if runtime_ttl is None:
        return []
    return [Call("SET", ctx.keys.worker_runtime(who.member), RUNTIME, "EX", runtime_ttl)]


def ping(ctx: Context, who: Identity, runtime_ttl: int | None = None) -> Plan[None]:
    """node-resque's liveness: rewrite the ping key (and refresh the runtime mark, in the
    same round trip)."""
    value = ping_value(who.name, who.queues, ctx.now_ms())
    beat = Call("SET", ctx.keys.worker_ping(who.name), value)
    refresh = _runtime(ctx, who, runtime_ttl)
    yield Batch.of([beat, *refresh]) if refresh else beat


def _redis_now(ctx: Context) -> Plan[str]:
    """Redis' clock as Ruby's heartbeat writes it: local ISO-8601."""
    seconds, _micros = as_list((yield Call("TIME")))
    return times.ruby_iso8601(int(seconds))


def heartbeat(ctx: Context, who: Identity, runtime_ttl: int | None = None) -> Plan[None]:
    """Ruby's liveness: ``workers:heartbeat[id]`` = Redis' clock as local ISO-8601 (and the
    runtime mark refreshed with it)."""
    stamp = yield from _redis_now(ctx)
    beat = Call("HSET", ctx.keys.heartbeats(), who.member, stamp)
    refresh = _runtime(ctx, who, runtime_ttl)
    yield Batch.of([beat, *refresh]) if refresh else beat


def unregister(ctx: Context, who: Identity) -> Plan[None]:
    """Leave the ``workers`` set and delete every per-worker key, as the peer does (and
    pyresque's runtime mark)."""
    keys = ctx.keys
    node = ctx.dialect.is_node
    yield Eval(
        load_script("unregister_worker"),
        (
            keys.workers(),
            keys.worker_ping(who.name) if node else keys.heartbeats(),
            keys.worker(who.member),
            keys.worker_started(who.member),
            keys.stat("failed", who.stats),
            keys.stat("processed", who.stats),
            keys.worker_runtime(who.member),
        ),
        (who.member, "ping" if node else "heartbeat"),
    )


def move_registration(ctx: Context, old: Identity, new: Identity) -> Plan[None]:
    """A wildcard worker's queue list changed: move its set member, ``started`` key and
    runtime mark.

    node-resque untracks and re-tracks itself instead, deleting its own ping, ``started``
    and per-worker stats every idle cycle; this keeps them.
    """
    keys = ctx.keys
    yield Eval(
        load_script("move_registration"),
        (
            keys.workers(),
            keys.worker_started(old.member),
            keys.worker_started(new.member),
            keys.worker_runtime(old.member),
            keys.worker_runtime(new.member),
        ),
        (old.member, new.member),
    )


def expand_queues(ctx: Context, patterns: Sequence[str]) -> Plan[list[str]]:
    """The queues a worker with these patterns works now, in order.

    node: every known queue, sorted as JavaScript sorts strings (UTF-16 code units). ruby:
    each pattern (literal names too) matched against the known queues with ``*``, ``?``,
    ``[...]``, minus the ``!name`` patterns, each pattern's matches sorted, concatenated
    without repeats, as resque does.
    """
    known = [text(q) for q in as_list((yield Call("SMEMBERS", ctx.keys.queues())))]
    if ctx.dialect.is_node:
        return sorted(known, key=lambda q: q.encode("utf-16-be"))
    skip = [p[1:] for p in patterns if p.startswith("!")]
    found: dict[str, None] = {}
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        matches = [
            q
            for q in known
            if fnmatch.fnmatchcase(q, pattern) and not any(fnmatch.fnmatchcase(q, s) for s in skip)
        ]
        found.update(dict.fromkeys(sorted(matches, key=lambda q: q.encode())))
    return list(found)


def is_dynamic(ctx: Context, queues: Sequence[str]) -> bool:
    """Must the queue list be expanded against the known queues before each take?

    node: a lone ``*`` (or no queues). ruby: any ``!exclusion`` or any of ``* ? { } [ ]``.
    """
    if ctx.dialect.is_node:
        return not queues or list(queues) == ["*"]
    return any(q.startswith("!") for q in queues) or any(c in "".join(queues) for c in "*?{}[]")
