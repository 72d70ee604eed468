"""What a worker does when Redis drops mid-step, or when it must stop mid-job.

A step (settle the last job, take the next) is one script. If the connection drops after
the script was sent, the worker cannot know whether it ran. It finds out from Redis once
the connection is back: its per-worker stat counters (only this worker writes them) tell
whether the settle ran, and its working-on record tells whether a job was taken. A job
is then either settled once, or taken once; it is never lost and never settled twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pyresque.errors import ConnectionFailedError, PayloadDecodeError
from pyresque.protocol.failures import STUCK_MARKER, failure_entry
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_working_on
from pyresque.protocol.plan import Batch, Call, Plan, as_bytes, as_int
from pyresque.protocol.plans.work import Settle, Taken

if TYPE_CHECKING:
    from pyresque.worker.worker import Worker

__all__ = ["recover_step", "stopped_entry", "worker_state"]


def worker_state(worker: Worker) -> Plan[tuple[bytes | None, int, int]]:
    """The worker's working-on record and its per-worker processed and failed counts."""
    keys, who = worker.context.keys, worker.identity
    record, processed, failed = yield Batch.of(
        [
            Call("GET", keys.worker(who.member)),
            Call("GET", keys.stat("processed", who.stats)),
            Call("GET", keys.stat("failed", who.stats)),
        ]
    )
    return as_bytes(record), as_int(processed), as_int(failed)


async def _reconnect(worker: Worker) -> bool:
    """Wait for Redis; False if the worker was asked to stop meanwhile."""
    delay = 0.05
    while True:
        try:
            await worker._driver.ping()
            return True
        except ConnectionFailedError as exc:
            worker.events.emit("error", exc, worker.queue, worker.job, error=str(exc))
        if worker._stop.is_set():
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, worker.timeout / 1000)


async def recover_step(
    worker: Worker, settle: Settle | None, started: str, *, maybe_sent: bool
) -> Taken | None:
    """Finish a step that failed (its reply lost, or an error part-way through the script);
    returns the job it took, if it took one."""
    while True:
        if not await _reconnect(worker):
            # Stopping with Redis away: the job, if any, stays in the working-on record,
            # where node-resque's and Ruby's cleanups find it.
            return None
        try:
            record, processed, failed = await worker._run(worker_state(worker))
        except ConnectionFailedError:
            continue
        if maybe_sent:
            if settle is not None and (settle.processed or settle.failed):
                ran = (settle.processed and processed != worker._known_processed) or (
                    settle.failed and failed != worker._known_failed
                )
            else:
                ran = record is not None if settle is None else record is None
            if ran:
                worker._known_processed, worker._known_failed = processed, failed
                return None if record is None else await _adopt(worker, record)
        try:
            taken: Taken | None = await worker.step(settle, not worker._stop.is_set(), started)
        except ConnectionFailedError as exc:
            worker.events.emit("error", exc, worker.queue, worker.job, error=str(exc))
            maybe_sent = exc.maybe_sent
            continue
        except Exception as exc:  # an error reply: a script can fail part-way
            worker.events.emit("error", exc, worker.queue, worker.job, error=str(exc))
            if worker._stop.is_set():
                return None
            await worker._pause(worker.timeout / 1000)
            maybe_sent = True
            continue
        worker._count(settle)
        return taken


async def _adopt(worker: Worker, record: bytes) -> Taken | None:
    """A job was taken by the step whose reply was lost: recover it from its record."""
    ctx = worker.context
    try:
        parsed = dict(decode_working_on(record))
    except PayloadDecodeError:
        parsed = {"queue": "", "payload": text(record)}
    queue = str(parsed.get("queue", ""))
    payload: Any = parsed.get("payload")
    if not ctx.dialect.is_node and isinstance(payload, dict):
        # Ruby's record holds the payload as Ruby wrote it: the job can run as taken.
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
    # could change the job. Fail it, untouched, with an entry that says why;
    # retry_and_remove_failed re-enqueues it.
    entry = failure_entry(
        ctx,
        worker=worker.identity.name,
        queue=queue,
        payload=payload,
        exception="ConnectionFailedError",
        error="the connection to Redis dropped while this job was taken; it was not run",
        backtrace=[],
    )
    settle = Settle("done", failed=True, entry=ctx.dialect.dumps(entry))
    worker.failed += 1
    # The record stays until this settle runs, so recovering it again is safe.
    return await recover_step(worker, settle, "", maybe_sent=False)


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


def stopped_entry(worker: Worker, queue: str, payload: Any) -> dict[str, Any]:
    """The failure entry for a job cut off by a worker's stop.

    node: marked like node-resque's force-clean entries (``backtrace[1]`` is
    ``queue#forceCleanWorker``) so ``retryStuckJobs`` re-enqueues it; ruby: a
    ``Resque::DirtyExit``, what resque writes for a job whose worker went away.
    """
    ctx = worker.context
    message = "the worker stopped before the job finished (shutdown grace period over)"
    if ctx.dialect.is_node:
        from pyresque.protocol import times

        when = times.js_date_string(ctx.now_ms())
        return failure_entry(
            ctx,
            worker=worker.identity.name,
            queue=queue,
            payload=payload,
            exception="Error",
            error=message,
            backtrace=[f"stopped by {ctx.hostname} at {when}", STUCK_MARKER, "pyresque"],
        )
    return failure_entry(
        ctx,
        worker=worker.identity.member,
        queue=queue,
        payload=payload,
        exception="Resque::DirtyExit",
        error=message,
        backtrace=[],
    )
