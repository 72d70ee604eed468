"""Plans for workers, failed jobs, locks, stats and the scheduler leader."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from pyresque.errors import JobNotFoundError, PayloadDecodeError, PayloadEncodeError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect, job_args
from pyresque.protocol.failures import (
    RUBY_DIRTY_EXITS,
    STUCK_MARKER,
    CleanStyle,
    stuck_entry,
    style_context,
    with_retried_at,
)
from pyresque.protocol.jsjson import js_dumps
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import FailedJob, WorkingOn, decode_failed, decode_working_on
from pyresque.protocol.plan import (
    Batch,
    Call,
    Eval,
    Plan,
    as_bytes,
    as_int,
    as_list,
    as_ruby_int,
    as_scan,
    load_script,
)

__all__ = [
    "Cleaned",
    "all_working_on",
    "clean_old_workers",
    "clean_stuck_worker",
    "delete_lock",
    "failed",
    "failed_count",
    "force_clean_worker",
    "info",
    "leader",
    "locks",
    "prune_dead_worker",
    "remove_failed",
    "remove_failed_at",
    "requeue_failed",
    "retry_and_remove_failed",
    "retry_stuck_jobs",
    "retry_target",
    "scan",
    "split_member",
    "stats",
    "workers",
    "working_on",
]

_RETRIES = 5  # compare-and-set attempts before giving up on a list that keeps changing


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


# -- workers ---------------------------------------------------------------------------


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


def _members(ctx: Context) -> Plan[list[str]]:
    return sorted(text(m) for m in as_list((yield Call("SMEMBERS", ctx.keys.workers()))))


def workers(ctx: Context) -> Plan[dict[str, str | None]]:
    """``{name: queues}`` for every registered worker, node or Ruby."""
    return dict(split_member(m) for m in (yield from _members(ctx)))


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
    members = yield from _members(ctx)
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
    ctx: Context, worker_name: str, *, style: CleanStyle | None = None
) -> Plan[dict[str, Any] | None]:
    """Unregister a worker (node name ``host:pid`` or full id) and fail its job.

    Returns the failure entry written, or None when the worker held no job. ``style``
    picks whose entry that is (default: the dialect's; see :func:`stuck_entry`). Unlike
    node-resque this also removes the working-on record, counts ``stat:failed`` only
    when a job failed in node-resque's style (resque never counts these), and writes
    nothing for a worker it cannot find except its leftover ping and stat keys.
    """
    return (yield from _force_clean(ctx, worker_name, style, None)).entry


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
) -> Plan[Cleaned]:
    members = [
        m
        for m in (yield from _members(ctx))
        if m == worker_name or split_member(m)[0] == worker_name
    ]
    if not members:
        if guard is not None:
            return (yield from _clean_member(ctx, "", worker_name, style, guard))
        yield Call(
            "DEL",
            ctx.keys.worker_ping(worker_name),
            ctx.keys.stat("failed", worker_name),
            ctx.keys.stat("processed", worker_name),
        )
        return Cleaned(True, None)
    entry: dict[str, Any] | None = None
    for member in members:
        name = worker_name if guard is not None else split_member(member)[0]
        done = yield from _clean_member(ctx, member, name, style, guard)
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
            found = stuck_entry(ctx, worker_name=name, member=member, record=record, style=style)
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


# -- failed jobs -----------------------------------------------------------------------


def failed_count(ctx: Context) -> Plan[int]:
    return as_int((yield Call("LLEN", ctx.keys.failed())))


def failed(ctx: Context, start: int = 0, stop: int = -1) -> Plan[list[FailedJob]]:
    key = ctx.keys.failed()
    items = as_list((yield Call("LRANGE", key, start, stop)))
    return [decode_failed(as_bytes(i) or b"", key=key) for i in items]


def _candidates(ctx: Context, entry: dict[str, Any]) -> list[bytes]:
    """How ``entry`` may be stored: as node-resque's JSON.stringify would have written it
    (its ``removeFailed`` relies on that), then as Ruby's encoders would."""
    out: list[bytes] = []
    for dialect in (ctx.dialect, ctx.dialect.other, Dialect("ruby", json_adapter="oj")):
        try:
            encoded = dialect.dumps(entry)
        except PayloadEncodeError:  # a value one peer cannot write just isn't a candidate
            continue
        if encoded not in out:
            out.append(encoded)
    return out


def _find_raw(ctx: Context, entry: dict[str, Any]) -> Plan[bytes | None]:
    """The stored bytes of ``entry``, found by comparing parsed values (slow path)."""
    key = ctx.keys.failed()
    start = 0
    while True:
        chunk = as_list((yield Call("LRANGE", key, start, start + 499)))
        if not chunk:
            return None
        for item in chunk:
            raw = as_bytes(item) or b""
            try:
                if decode_failed(raw) == entry:
                    return raw
            except PayloadDecodeError:
                continue
        start += len(chunk)


def remove_failed(ctx: Context, failed_job: FailedJob | dict[str, Any]) -> Plan[int]:
    """Remove one entry equal to ``failed_job``; returns 1 or 0."""
    entry = dict(failed_job)
    script = load_script("remove_failed")
    removed = as_int((yield Eval(script, (ctx.keys.failed(),), tuple(_candidates(ctx, entry)))))
    if removed:
        return removed
    raw = yield from _find_raw(ctx, entry)
    if raw is None:
        return 0
    return as_int((yield Eval(script, (ctx.keys.failed(),), (raw,))))


def retry_target(
    ctx: Context, entry: dict[str, Any], queue: str | None = None
) -> tuple[str, str, list[Any]]:
    """Where and what a failed entry's retry enqueues: ``(queue, class, args)``."""
    payload = entry.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("class"), str):
        raise PayloadDecodeError("failed entry has no job payload to retry", key=ctx.keys.failed())
    args = payload.get("args")
    if args == {}:
        args = []  # Lua cjson's spelling of an empty array, in stuck-worker entries
    target = queue or entry.get("queue") or payload.get("queue")
    if not isinstance(target, str) or not target:
        raise PayloadDecodeError("failed entry names no queue to retry into", key=ctx.keys.failed())
    return target, payload["class"], job_args(args)


def _retry_payload(
    ctx: Context, entry: dict[str, Any], queue: str | None = None
) -> tuple[str, bytes]:
    target, job_class, args = retry_target(ctx, entry, queue)
    return target, ctx.dialect.job(target, job_class, args)


def _retry_raw(ctx: Context, candidates: list[bytes], queue: str, payload: bytes) -> Plan[bool]:
    done = yield Eval(
        load_script("retry_failed"),
        (ctx.keys.failed(), ctx.keys.queues(), ctx.keys.queue(queue)),
        (queue, payload, *candidates),
    )
    return bool(as_int(done))


def retry_and_remove_failed(
    ctx: Context, failed_job: FailedJob | dict[str, Any], *, args: list[Any] | None = None
) -> Plan[bool]:
    """Take the entry out of ``failed`` and enqueue its job again, in one atomic step.

    ``args``: enqueue the job with these args instead of the entry's (the task layer's
    validated inputs)."""
    entry = dict(failed_job)
    queue, job_class, found = retry_target(ctx, entry)
    payload = ctx.dialect.job(queue, job_class, found if args is None else args)
    if (yield from _retry_raw(ctx, _candidates(ctx, entry), queue, payload)):
        return True
    raw = yield from _find_raw(ctx, entry)
    if raw is not None and (yield from _retry_raw(ctx, [raw], queue, payload)):
        return True
    raise JobNotFoundError("This job is not in failed queue")


def _is_stuck(entry: dict[str, Any]) -> bool:
    trace = entry.get("backtrace")
    if isinstance(trace, list) and len(trace) > 1 and trace[1] == STUCK_MARKER:
        return True
    return entry.get("exception") in RUBY_DIRTY_EXITS


def retry_stuck_jobs(ctx: Context, upper_limit: int | None = None) -> Plan[int]:
    """Re-enqueue jobs failed because their worker died (node-resque's force-clean marker,
    or Ruby's DirtyExit); returns how many. Looks at the first ``upper_limit`` entries."""
    key = ctx.keys.failed()
    index = retried = 0
    while upper_limit is None or index < upper_limit:
        chunk = as_list((yield Call("LRANGE", key, index, index + 99)))
        if not chunk:
            break
        kept = 0
        for item in chunk:
            raw = as_bytes(item) or b""
            try:
                entry = dict(decode_failed(raw, key=key))
                stuck = _is_stuck(entry)
                if stuck:
                    queue, payload = _retry_payload(ctx, entry)
            except PayloadDecodeError:
                stuck = False
            if stuck and (yield from _retry_raw(ctx, [raw], queue, payload)):
                retried += 1
            else:
                kept += 1
        index += kept  # removed entries shifted the rest down
    return retried


def _entry_at(ctx: Context, index: int) -> Plan[tuple[bytes, dict[str, Any]]]:
    raw = as_bytes((yield Call("LINDEX", ctx.keys.failed(), index)))
    if raw is None:
        raise JobNotFoundError(f"no failed entry at index {index}")
    return raw, dict(decode_failed(raw, key=ctx.keys.failed()))


def requeue_failed(ctx: Context, index: int, queue: str | None = None) -> Plan[bool]:
    """resque's ``Failure.requeue``: stamp ``retried_at`` on the entry and enqueue its job."""
    for _attempt in range(_RETRIES):
        raw, entry = yield from _entry_at(ctx, index)
        target, payload = _retry_payload(ctx, entry, queue)
        updated = ctx.dialect.dumps(with_retried_at(ctx, entry))
        done = yield Eval(
            load_script("failed_at_index"),
            (ctx.keys.failed(), ctx.keys.queues(), ctx.keys.queue(target)),
            (index, raw, "requeue", updated, target, payload),
        )
        if as_int(done):
            return True
    raise JobNotFoundError(f"the failed entry at index {index} kept changing")


def remove_failed_at(ctx: Context, index: int) -> Plan[bool]:
    """resque's ``Failure.remove``: delete the entry at ``index``."""
    for _attempt in range(_RETRIES):
        raw, _entry = yield from _entry_at(ctx, index)
        tombstone = f"pyresque:removed:{uuid.uuid4().hex}"
        done = yield Eval(
            load_script("failed_at_index"),
            (ctx.keys.failed(),),
            (index, raw, "remove", tombstone),
        )
        if as_int(done):
            return True
    raise JobNotFoundError(f"the failed entry at index {index} kept changing")


# -- locks, stats, leader --------------------------------------------------------------


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
    members = yield from _members(ctx)
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
