"""What a worker decides when a step's reply is lost, or when it must stop mid-job.

A step (settle the last job, take the next) is one script. If the connection drops after
the script was sent, the worker cannot know whether it ran. Once Redis answers again it
reads its state (:func:`worker_state`) and :func:`step_ran` tells from it: the per-worker
stat counters, which only this worker writes, say whether a counted settle ran; the
working-on record says whether a job was taken (or an uncounted settle ran). A job
found in the record is then run (:func:`adopt`) or, when Lua cjson may have changed its
bytes, failed untouched. Either way a job is settled once or taken once: never lost,
never settled twice.

Everything here is a pure decision on values read from Redis; the worker owns the
waiting and the reconnecting.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

from pyresque.errors import PayloadDecodeError, PayloadEncodeError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.failures import STUCK_MARKER, encode_failure, failure_entry
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_working_on
from pyresque.protocol.plan import Eval, Plan, as_bytes, as_int, load_script
from pyresque.protocol.plans.work import Settle, Taken
from pyresque.protocol.workers import Identity

__all__ = [
    "UNREADABLE",
    "WorkerState",
    "adopt",
    "step_ran",
    "stopped_entry",
    "worker_state",
]

UNREADABLE = -1
"""A per-worker count whose key holds no number (a hostile or corrupt Redis)."""


class WorkerState(NamedTuple):
    """A worker's working-on record and its per-worker processed and failed counts."""

    record: bytes | None
    processed: int
    failed: int


def worker_state(ctx: Context, who: Identity) -> Plan[WorkerState]:
    """Read the record and counts in one step (a key of the wrong type reads as no record,
    or as an :data:`UNREADABLE` count)."""
    keys = ctx.keys
    reply = yield Eval(
        load_script("worker_state"),
        (
            keys.worker(who.member),
            keys.stat("processed", who.stats),
            keys.stat("failed", who.stats),
        ),
    )
    record, present, processed, failed = reply
    return WorkerState(
        as_bytes(record) if as_int(present) else None, as_int(processed), as_int(failed)
    )


def step_ran(settle: Settle | None, state: WorkerState, known: WorkerState) -> bool:
    """Whether a step whose reply was lost ran, from the state read afterwards and the
    counts the worker knew before it (``known.record`` is unused)."""
    counted = settle is not None and (settle.processed or settle.failed)
    readable = UNREADABLE not in (state.processed, state.failed, known.processed, known.failed)
    if counted and readable:
        assert settle is not None
        return (settle.processed and state.processed != known.processed) or (
            settle.failed and state.failed != known.failed
        )
    if settle is None:
        return state.record is not None  # the step could only have taken a job
    # Uncounted (a requeue, a veto) or counters unreadable: the settle deletes the record,
    # so a record left means it did not run, unless the step also took a job. When that
    # cannot be told apart, "ran" is the answer that never loses a job: the worker runs
    # what the record holds.
    return state.record is None or counted


def adopt(ctx: Context, who: Identity, record: bytes) -> Taken | Settle:
    """The job in ``record`` that a step took before its reply was lost: run it (a
    :class:`Taken`), or, when Lua cjson's re-encoding may have changed it, fail it
    untouched (a :class:`Settle` with the entry; ``retry_and_remove_failed`` re-enqueues)."""
    try:
        parsed = dict(decode_working_on(record))
    except PayloadDecodeError:
        parsed = {"queue": "", "payload": text(record)}
    queue = str(parsed.get("queue", ""))
    payload: Any = parsed.get("payload")
    if not ctx.dialect.is_node and isinstance(payload, dict):
        # Ruby's record holds the payload as Ruby wrote it: the job can run as taken.
        with contextlib.suppress(PayloadEncodeError):  # 1e400: failed below, bytes kept
            return Taken(queue, ctx.dialect.dumps(payload), True)
    if isinstance(payload, dict) and payload.get("args") == {}:
        payload["args"] = []  # node-resque always writes an array: {} is cjson's []
    if isinstance(payload, dict) and _cjson_kept_it(payload):
        # node's record is Lua cjson's re-encoding of the job, which loses nothing for
        # payloads without empty containers or long numbers: run it, keys in node's order.
        ordered = {k: payload[k] for k in ("class", "queue", "args") if k in payload}
        ordered.update((k, v) for k, v in payload.items() if k not in ordered)
        return Taken(queue, ctx.dialect.dumps(ordered), True)
    # Otherwise cjson may have changed it ([] became {}, 0.1 + 0.2 became 0.3): running it
    # could change the job. Fail it, untouched, with an entry that says why.
    entry = failure_entry(
        ctx,
        worker=who.name,
        queue=queue,
        payload=payload,
        exception="ConnectionFailedError",
        error="the connection to Redis dropped while this job was taken; it was not run",
        backtrace=[],
    )
    return Settle("done", failed=True, entry=encode_failure(ctx, entry, record))


def _cjson_kept_it(value: Any) -> bool:
    """True when Lua cjson's re-encoding of ``value`` is known to lose nothing: no empty
    array/object (cjson writes both as ``{}``) and only integers %.14g writes exactly."""
    if isinstance(value, dict):
        return bool(value) and all(
            _cjson_kept_it(v) for k, v in value.items() if not (k == "args" and v == [])
        )
    if isinstance(value, list):
        return bool(value) and all(_cjson_kept_it(v) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    return isinstance(value, int) and abs(value) < 10**14


def stopped_entry(ctx: Context, who: Identity, queue: str, payload: Any) -> dict[str, Any]:
    """The failure entry for a job cut off by a worker's stop.

    node: marked like node-resque's force-clean entries (``backtrace[1]`` is
    ``queue#forceCleanWorker``) so ``retryStuckJobs`` re-enqueues it; ruby: a
    ``Resque::DirtyExit``, what resque writes for a job whose worker went away.
    """
    message = "the worker stopped before the job finished (shutdown grace period over)"
    if ctx.dialect.is_node:
        when = times.js_date_string(ctx.now_ms())
        return failure_entry(
            ctx,
            worker=who.name,
            queue=queue,
            payload=payload,
            exception="Error",
            error=message,
            backtrace=[f"stopped by {ctx.hostname} at {when}", STUCK_MARKER, "pyresque"],
        )
    return failure_entry(
        ctx,
        worker=who.member,
        queue=queue,
        payload=payload,
        exception="Resque::DirtyExit",
        error=message,
        backtrace=[],
    )
