"""Plans for the ``failed`` list: reading it, removing and retrying entries (node-resque's
calls, and resque's by-index ``Failure.requeue`` / ``Failure.remove``), and re-enqueueing
the jobs of workers that died.
"""

from __future__ import annotations

import uuid
from typing import Any

from pyresque.errors import JobNotFoundError, PayloadDecodeError, PayloadEncodeError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect, job_args
from pyresque.protocol.failures import RUBY_DIRTY_EXITS, STUCK_MARKER, with_retried_at
from pyresque.protocol.payloads import FailedJob, decode_failed
from pyresque.protocol.plan import Call, Eval, Plan, as_bytes, as_int, as_list, load_script

__all__ = [
    "failed",
    "failed_count",
    "remove_failed",
    "remove_failed_at",
    "requeue_failed",
    "retry_and_remove_failed",
    "retry_stuck_jobs",
    "retry_target",
]

_RETRIES = 5  # compare-and-set attempts before giving up on a list that keeps changing


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
