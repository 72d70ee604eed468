"""Plans for node-resque's built-in plugins: JobLock, QueueLock, DelayQueueLock, Retry.

The keys and values are node-resque 9.7.1's, so a node plugin and its pyresque twin on
the same Redis see each other's locks and retry counts. Where node-resque sends several
commands that must go together, these send one script (see ``spec/plugins.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast

from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.jsjson import JSONValue, js_dumps, js_number
from pyresque.protocol.keys import text
from pyresque.protocol.plan import Batch, Call, Eval, Plan, as_bytes, as_int, as_list, load_script
from pyresque.protocol.plans.delayed import delayed_encodings
from pyresque.protocol.plans.jobs import encodings

__all__ = [
    "PeriodicStart",
    "acquire_job_lock",
    "acquire_queue_lock",
    "args_json",
    "delayed_copy_exists",
    "lock_value",
    "mark_periodic_stop",
    "release_lock",
    "release_queue_lock",
    "retry_args_key",
    "retry_attempt",
    "retry_cleanup",
    "retry_last_error",
    "retry_ttl",
    "start_periodic",
    "take_periodic_stop",
]

PeriodicStart = Literal["enqueued", "queued", "delayed", "running", "locked"]
"""What :func:`start_periodic` did: enqueued the task, or found a copy in that state."""


def args_json(args: Sequence[JSONValue]) -> str:
    """``JSON.stringify(args)``, the last part of the lock keys (NaN as ``null``, as JS)."""
    return text(js_dumps(list(args), non_finite="null"))


def lock_value(ctx: Context, lock_timeout: int) -> int:
    """Both locks' value: ``Math.round(now_ms / 1000) + lockTimeout + 1``."""
    return times.js_bucket(ctx.now_ms()) + lock_timeout + 1


def acquire_job_lock(ctx: Context, key: str, lock_timeout: int) -> Plan[bool]:
    """JobLock: ``SET key value EX lockTimeout NX``; True when this worker got the lock."""
    reply = yield Call("SET", key, lock_value(ctx, lock_timeout), "EX", lock_timeout, "NX")
    return reply is not None


def acquire_queue_lock(ctx: Context, key: str, lock_timeout: int) -> Plan[bool]:
    """QueueLock: take the lock, or take over one whose value is in the past; False when
    it is held."""
    now = times.js_bucket(ctx.now_ms())
    taken = yield Eval(
        load_script("queue_lock"), (key,), (now, now + lock_timeout + 1, lock_timeout)
    )
    return as_int(taken) == 1


def release_lock(key: str) -> Plan[None]:
    yield Call("DEL", key)


def release_queue_lock(
    ctx: Context, queue: str, job_class: str, args: Sequence[JSONValue], *, key: str | None = None
) -> Plan[bool]:
    """Delete the QueueLock of this job (``key``, else its default key) unless a copy still
    waits in the queue; True when a lock was deleted. node-resque leaves the lock of a
    deleted job for its TTL (an hour), refusing the job all that time."""
    lock = key or ctx.keys.queue_lock(job_class, queue, args_json(args))
    deleted = yield Eval(
        load_script("release_queue_lock"),
        (ctx.keys.queue(queue), lock),
        tuple(encodings(ctx, queue, job_class, args)),
    )
    return as_int(deleted) == 1


def mark_periodic_stop(ctx: Context, task: str, queue: str, lock_timeout: int) -> Plan[bool]:
    """Mark a periodic task stopped if a run of it holds its JobLock (args ``[{}]``); True
    when marked."""
    marked = yield Eval(
        load_script("mark_periodic_stop"),
        (ctx.keys.job_lock(task, queue, args_json([{}])), ctx.keys.periodic_stop(task)),
        (lock_timeout,),
    )
    return as_int(marked) == 1


def start_periodic(
    ctx: Context,
    queue: str,
    job_class: str,
    args: Sequence[JSONValue],
    *,
    lock_timeout: int,
    queue_lock: str | None = None,
    job_lock: str | None = None,
) -> Plan[PeriodicStart]:
    """A scheduler node's boot enqueue of a periodic task, in one script: enqueue it and
    take its QueueLock (``queue_lock``, else its default key; value and TTL as QueueLock
    sets them) only when no copy exists on any peer: none queued or delayed in either
    encoding, its JobLock (``job_lock``, else the default key) not held, its QueueLock not
    held. A held JobLock with a stop mark loses the mark (the run then goes on with the
    chain this boot asks for). Returns ``"enqueued"`` or the state of the copy found."""
    now = times.js_bucket(ctx.now_ms())
    keys = ctx.keys
    json_args = args_json(args)
    reply = yield Eval(
        load_script("start_periodic"),
        (
            keys.queues(),
            keys.queue(queue),
            queue_lock or keys.queue_lock(job_class, queue, json_args),
            job_lock or keys.job_lock(job_class, queue, json_args),
            keys.periodic_stop(job_class),
            *(keys.timestamps(v) for v in delayed_encodings(ctx, queue, job_class, args)),
        ),
        (
            queue,
            ctx.dialect.job(queue, job_class, args),
            now,
            now + lock_timeout + 1,
            lock_timeout,
            *encodings(ctx, queue, job_class, args),
        ),
    )
    return cast(PeriodicStart, text(as_bytes(reply) or b""))


def take_periodic_stop(ctx: Context, task: str) -> Plan[bool]:
    """Take the stop mark of a periodic task; True when there was one (do not re-enqueue)."""
    deleted = yield Call("DEL", ctx.keys.periodic_stop(task))
    return as_int(deleted) == 1


def delayed_copy_exists(
    ctx: Context,
    queue: str,
    job_class: str,
    args: Sequence[JSONValue],
    *,
    moving_from: str | None = None,
) -> Plan[bool]:
    """DelayQueueLock: is this exact job delayed, as node or Ruby encoded it?

    node-resque looks only at its own encoding (``SMEMBERS timestamps:<payload>``); a set
    exists exactly when it has members, so one ``EXISTS`` covers both encodings.

    ``moving_from`` (a delayed second): the scheduler is moving this job out of that second
    and runs the hooks before the atomic move. node-resque pops the item first, so the copy
    being moved does not count; another copy in the same second still does.
    """
    variants = delayed_encodings(ctx, queue, job_class, args)
    if moving_from is None:
        found = yield Call("EXISTS", *(ctx.keys.timestamps(v) for v in variants))
        return as_int(found) > 0
    member = ctx.keys.delayed_member(moving_from).encode()
    delayed = ctx.keys.delayed(moving_from)
    replies = as_list(
        (
            yield Batch.of(
                [Call("SMEMBERS", ctx.keys.timestamps(v)) for v in variants]
                + [Call("LPOS", delayed, v, "COUNT", 0) for v in variants]
            )
        )
    )
    members = {as_bytes(m) for reply in replies[: len(variants)] for m in as_list(reply)}
    if members - {member}:
        return True
    copies = sum(len(as_list(reply)) for reply in replies[len(variants) :])
    return copies > 1


# -- Retry ---------------------------------------------------------------------------------


def _js_string(value: JSONValue) -> str:
    # typeof "object" (objects, arrays, null) is JSON.stringify'd; the rest is String()'d.
    if value is None or isinstance(value, dict | list):
        return text(js_dumps(value, non_finite="null"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    return str(value)


def retry_args_key(args: Sequence[JSONValue]) -> str:
    """Retry's ``argsKey``: each arg as above, joined with ``-`` (``""`` for no args)."""
    return "-".join(_js_string(a) for a in args)


def retry_ttl(max_delay_ms: float, margin_s: int) -> int:
    """Seconds the retry keys live: never less than node-resque's (which takes the delay
    in ms as seconds), and always the delay itself plus ``margin_s`` of scheduler lag."""
    return max(math.ceil(max_delay_ms), math.ceil(max_delay_ms / 1000) + margin_s)


def retry_last_error(
    ctx: Context,
    *,
    message: str,
    backtrace: Sequence[str],
    args: Sequence[JSONValue],
    job_class: str,
    queue: str,
) -> bytes:
    """The JSON node-resque's Retry keeps of the last error, its key order and formats:
    ``failed_at`` is local ``YYYY/MM/DD HH:MM:SS``, ``payload`` the args, ``worker`` the
    job class, ``message`` is ``String(err)`` and ``backtrace`` starts with it."""
    return js_dumps(
        {
            "failed_at": times.js_retry_failed_at(ctx.now_ms()),
            "payload": list(args),
            "exception": message,
            "error": message,
            "backtrace": list(backtrace),
            "worker": job_class,
            "queue": queue,
        },
        non_finite="null",
    )


def retry_attempt(
    ctx: Context, job_class: str, args: Sequence[JSONValue], *, limit: int, ttl: int, error: bytes
) -> Plan[int]:
    """Count a failed attempt and keep its error; on the last attempt delete both keys.

    Returns the attempt count (0 after the first failure): ``limit - count - 1`` attempts
    remain.
    """
    args_key = retry_args_key(args)
    count = yield Eval(
        load_script("retry_attempt"),
        (ctx.keys.retry(job_class, args_key), ctx.keys.retry_failure(job_class, args_key)),
        (limit, ttl, error),
    )
    return as_int(count)


def retry_cleanup(ctx: Context, job_class: str, args: Sequence[JSONValue]) -> Plan[None]:
    """Forget a job's attempts (after it succeeded)."""
    args_key = retry_args_key(args)
    yield Call(
        "DEL", ctx.keys.retry(job_class, args_key), ctx.keys.retry_failure(job_class, args_key)
    )
