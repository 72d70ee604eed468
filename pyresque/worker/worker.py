"""The worker: takes jobs from resque queues and runs them, as node-resque or Ruby resque
would, in a pool with either.

One :class:`Worker` runs one job at a time (node-resque's model); run several, or a
:class:`~pyresque.worker.multi.MultiWorker`, for concurrency. Each job costs one Redis
round trip: a single script settles the job just done (stats, failure entry, working-on
record) and takes the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import redis.asyncio

from pyresque.connection import AsyncDriver, open_async_driver, run_plan
from pyresque.definitions import JobDefinition, JobDefinitions
from pyresque.errors import ConfigurationError, ConnectionFailedError, PayloadDecodeError
from pyresque.plugins.base import Hook, Outcome, run_plugins
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_job
from pyresque.protocol.plan import Call, Plan
from pyresque.protocol.plans import work as plans
from pyresque.protocol.plans.work import Settle, Taken
from pyresque.protocol.workers import Identity, exception_entry, ruby_record, run_at
from pyresque.queue import Queue
from pyresque.worker.events import Events, Listener
from pyresque.worker.jobs import CurrentJob, UnknownJobError, invoke, job_definitions
from pyresque.worker.recovery import recover_step, stopped_entry, worker_state
from pyresque.worker.waker import Waker

__all__ = ["Worker"]

T = TypeVar("T")
Unfinished = Literal["fail", "requeue"]
_SUCCESS = Settle("done", processed=True)  # shared: never mutated
_VETOED = Settle("done")


def _queue_list(queues: str | Sequence[str]) -> list[str]:
    # node-resque indexes a string character by character; a string here is a CSV list.
    names = queues.split(",") if isinstance(queues, str) else list(queues)
    names = [q.strip() for q in names if q.strip()]
    return names or ["*"]


class Worker:
    """Works ``queues`` (in priority order; ``"*"`` for all) with the ``jobs`` mapping.

    ``timeout`` (ms) is node-resque's: how often an idle worker looks again and (node
    dialect) pings. An idle worker does not wait for it: it is woken as soon as one of its
    queues gets a job. ``job_timeout`` (ms) fails a job that runs longer. On stop, a job
    still running after ``shutdown_grace`` seconds is cancelled and, per ``unfinished``,
    recorded as failed (so ``retry_stuck_jobs`` finds it) or put back at the head of its
    queue.
    """

    def __init__(
        self,
        redis: str | redis.asyncio.Redis | AsyncDriver | None = None,
        queues: str | Sequence[str] = "*",
        jobs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        timeout: float = 5000,
        job_timeout: float | None = None,
        shutdown_grace: float = 30.0,
        unfinished: Unfinished = "fail",
        heartbeat_interval: float = 60.0,
        executor: Executor | None = None,
        waker: Waker | None = None,
        log_levels: Mapping[str, int | str | None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if unfinished not in ("fail", "requeue"):
            raise ConfigurationError(f"unfinished must be 'fail' or 'requeue', not {unfinished!r}")
        self.context = Context.create(namespace, dialect, clock=clock)
        self.patterns = _queue_list(queues)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.jobs: JobDefinitions = job_definitions(jobs)
        self.timeout = float(timeout)
        self.job_timeout = job_timeout
        self.shutdown_grace = shutdown_grace
        self.unfinished: Unfinished = unfinished
        self.heartbeat_interval = heartbeat_interval
        self.executor = executor
        self.events = Events(f"worker {self.name}", log_levels=log_levels)
        if isinstance(redis, AsyncDriver):
            self._driver, self._owns_driver = redis, False
        else:
            self._driver, self._owns_driver = open_async_driver(redis), True
        self._waker = waker or Waker(self._driver.open_blocking)
        self._owns_waker = waker is None
        self._dynamic = plans.is_dynamic(self.context, self.patterns)
        self.queues: list[str] = [] if self._dynamic else self._literal_queues()
        self.identity = Identity.create(self.context, self.name, self._registered_queues())
        self.running = False
        self.working = False
        self.job: dict[str, Any] | None = None
        self.queue: str | None = None
        self.processed = 0
        self.failed = 0
        self._zone = times.local_zone_name()
        self._stop = asyncio.Event()
        self._burst = False
        self._loop_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._in_job = False
        self._cutting = False
        self._plugin_queue: Queue | None = None
        self._registered = False
        self._finishing: asyncio.Future[None] | None = None
        # What this worker's per-worker stat keys hold, as far as it knows: how it tells,
        # after a dropped connection, whether its last step ran (see recovery.py).
        self._known_processed = 0
        self._known_failed = 0
        self._work_spec: plans.WorkSpec | None = None
        self._run_at_second = -1
        self._run_at = ""

    # -- names ------------------------------------------------------------------------------
    def _literal_queues(self) -> list[str]:
        return [q for q in self.patterns if not q.startswith("!")]

    def _registered_queues(self) -> list[str]:
        """node: the queues worked (a wildcard's expansion); Ruby: the patterns as given."""
        if self.context.dialect.is_node:
            return self.queues
        return self._literal_queues()

    def __repr__(self) -> str:
        return f"Worker({self.identity.member!r}, dialect={self.context.dialect.name!r})"

    def on(self, event: str, listener: Listener) -> Listener:
        """Listen to an event: start, end, poll, ping, job, success, failure, error, pause."""
        return self.events.on(event, listener)

    def _run(self, plan: Plan[T]) -> Any:
        return run_plan(plan, self._driver)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, burst: bool = False) -> None:
        """Register and start working in the background (see :meth:`join`, :meth:`stop`).

        ``burst``: stop as soon as the queues are empty (rq's ``--burst``).
        """
        if self.running:
            raise RuntimeError(f"{self!r} is already started")
        self._burst = burst
        self._stop.clear()
        self._finishing = None
        if self._dynamic:
            await self._refresh_queues(register=False)
        await self._run(plans.register(self.context, self.identity))
        self._registered = True
        _, self._known_processed, self._known_failed = await self._run(worker_state(self))
        self.running = True
        self.events.emit("start", datetime.now(UTC), worker=self.identity.member)
        self._ticker = asyncio.create_task(self._tick(), name=f"pyresque-tick:{self.name}")
        self._loop_task = asyncio.create_task(self._work(), name=f"pyresque-work:{self.name}")

    async def join(self) -> None:
        """Wait until the worker has stopped (by :meth:`stop`, or after a burst); it is
        unregistered whatever ended it."""
        try:
            if self._loop_task is not None:
                await asyncio.shield(self._loop_task)
        finally:
            await self._finish()

    async def run(self, *, burst: bool = False) -> None:
        """Start, then wait until stopped."""
        await self.start(burst=burst)
        await self.join()

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop taking jobs, let the current one finish within ``grace`` seconds (default
        ``shutdown_grace``; 0 stops at once), settle whatever is left, unregister."""
        self._stop.set()
        task = self._loop_task
        if task is not None and not task.done():
            wait = self.shutdown_grace if grace is None else grace
            done, _ = await asyncio.wait({task}, timeout=wait)
            if not done:
                self.cut_off()
                await asyncio.wait({task})
        await self._finish()

    end = stop  # node-resque's name

    def request_stop(self) -> None:
        """Ask the worker to stop after its current job (signal-handler safe)."""
        self._stop.set()

    def cut_off(self) -> None:
        """Cancel the running job now; it is settled as unfinished (see ``unfinished``).

        Used by :meth:`stop` once the grace period is over, and by signal handlers.
        """
        # The job runs inside the loop task (no task of its own: one less per job), so
        # cutting it off cancels that task while it is in the job.
        if self._in_job and self._loop_task is not None and not self._loop_task.done():
            self._cutting = True
            self._loop_task.cancel()

    async def _finish(self) -> None:
        # stop() and join() may both get here: one clean-up, everyone waits for it.
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._clean_up())
        await asyncio.shield(self._finishing)

    async def _clean_up(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._registered:
            self._registered = False
            try:
                await self._run(plans.unregister(self.context, self.identity))
            except Exception as exc:  # Redis gone: peers' cleanup will find the worker
                self.events.emit("error", exc, None, None, error=str(exc))
        if self.running:
            self.running = False
            self.events.emit("end", datetime.now(UTC), worker=self.identity.member)
        if self._owns_waker:
            await self._waker.aclose()
            self._waker = Waker(self._driver.open_blocking)  # ready if started again
        if self._owns_driver:
            await self._driver.aclose()

    # -- the loop ----------------------------------------------------------------------------
    def _spec(self) -> plans.WorkSpec:
        """The step's unchanging parts, rebuilt only when the name or queues change."""
        if self._work_spec is None or self._work_spec.queues != tuple(self.queues):
            self._work_spec = plans.work_spec(
                self.context,
                self.identity,
                self.queues,
                honour_pause=not self.context.dialect.is_node,
            )
        return self._work_spec

    def _started(self) -> str:
        """``run_at`` for a job taken now; both formats have whole seconds, so cached."""
        now = self.context.clock()
        second = int(now)
        if second != self._run_at_second:
            self._run_at_second = second
            self._run_at = run_at(self.context, now * 1000, self._zone)
        return self._run_at

    def step(self, settle: Settle | None, take: bool, started: str) -> Any:
        return self._run(
            plans.work_step(self.context, self._spec(), settle=settle, take=take, started=started)
        )

    async def _work(self) -> None:
        settle: Settle | None = None
        while True:
            take = not self._stop.is_set()
            started = self._started()
            try:
                taken = await self.step(settle, take, started)
            except ConnectionFailedError as exc:
                self.events.emit("error", exc, self.queue, self.job, error=str(exc))
                taken = await recover_step(self, settle, started, maybe_sent=exc.maybe_sent)
            except Exception as exc:  # an error reply: the script may have run part-way
                self.events.emit("error", exc, self.queue, self.job, error=str(exc))
                if self._stop.is_set():
                    return
                await self._pause(self.timeout / 1000)
                taken = await recover_step(self, settle, started, maybe_sent=True)
            else:
                self._count(settle)
            settle = None
            if taken is None:
                if not take or self._burst:
                    return
                await self._idle()
                continue
            settle = await self._perform(taken, started)

    def _count(self, settle: Settle | None) -> None:
        if settle is not None:
            self._known_processed += settle.processed
            self._known_failed += settle.failed

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _idle(self) -> None:
        self.events.emit("pause")
        if self._dynamic:
            try:
                await self._refresh_queues(register=True)
            except ConnectionFailedError as exc:
                self.events.emit("error", exc, None, None, error=str(exc))
        keys = [self.context.keys.queue(q) for q in self.queues]
        wake = asyncio.ensure_future(self._waker.wait(keys, self.timeout / 1000))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({wake, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (wake, stop):
                task.cancel()
        self.events.emit("poll", ",".join(self.queues) or None)

    async def _refresh_queues(self, *, register: bool) -> None:
        found = await self._run(plans.expand_queues(self.context, self.patterns))
        if found == self.queues:
            return
        self.queues = found
        if self.context.dialect.is_node:
            moved = self.identity.with_queues(self.context, found)
            if register and moved != self.identity:
                await self._run(plans.move_registration(self.context, self.identity, moved))
            self.identity = moved
        self._work_spec = None

    async def _tick(self) -> None:
        """Liveness: node's ping every ``timeout`` ms, Ruby's heartbeat every interval."""
        node = self.context.dialect.is_node
        interval = self.timeout / 1000 if node else self.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            try:
                if node:
                    await self._run(plans.ping(self.context, self.identity))
                    self.events.emit("ping", times.js_bucket(self.context.now_ms()))
                else:
                    await self._run(plans.heartbeat(self.context, self.identity))
            except Exception as exc:
                self.events.emit("error", exc, None, None, error=str(exc))

    # -- one job -----------------------------------------------------------------------------
    async def _perform(self, taken: Taken, started: str) -> Settle:
        ctx = self.context
        self.queue = taken.queue
        began = time.monotonic()
        try:
            payload: dict[str, Any] = decode_job(taken.raw)  # type: ignore[assignment]
        except PayloadDecodeError as exc:
            return self._failed(taken, text(taken.raw), exc, began, exception="PayloadDecodeError")
        if not ctx.dialect.is_node and taken.decoded:
            await self._canonical_ruby_record(taken, started, payload)
        found = payload.get("class")
        job_class = found if isinstance(found, str) else ""
        definition = self.jobs.get(job_class)
        if definition is None:
            error = UnknownJobError(f"No job defined for class {job_class!r}")
            if ctx.dialect.is_node:
                return self._failed(
                    taken, payload, error, began, exception="Error",
                    message=f'No job defined for class "{job_class}"',
                )  # fmt: skip
            return self._failed(
                taken, payload, error, began, exception="NameError",
                message=f"uninitialized constant {job_class}",
            )  # fmt: skip
        args = payload.get("args", [])
        args = args if isinstance(args, list) else [args]
        self.job, self.working = payload, True
        self.events.emit("job", taken.queue, payload, job=job_class)
        current = CurrentJob(self, taken.queue, job_class, args, payload)
        outcome = Outcome()
        self._in_job = True
        try:
            if definition.plugins and not await self._hooks(
                "before_perform", definition, job_class, taken.queue, args, outcome
            ):
                return _VETOED  # node-resque counts nothing for a vetoed perform
            outcome.result = await invoke(
                definition, args, current, executor=self.executor, timeout_ms=self.job_timeout
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._cutting and task is not None and task.cancelling():
                task.uncancel()  # the stop cut this job off: settle it, then stop
                self.job, self.working = None, False
                return self._unfinished(taken, payload, began)
            raise
        except Exception as exc:
            outcome.error = exc
        finally:
            self._in_job = False
        try:
            if definition.plugins:
                try:
                    await self._hooks(
                        "after_perform", definition, job_class, taken.queue, args, outcome
                    )
                except Exception as exc:  # after_perform runs after failures too
                    if outcome.error is None:
                        outcome.error = exc
        finally:
            self.job, self.working = None, False
        if outcome.error is not None:
            return self._failed(taken, payload, outcome.error, began)
        duration = (time.monotonic() - began) * 1000
        self.events.emit("success", taken.queue, payload, outcome.result, duration, job=job_class)
        if outcome.counts_as_failure:
            # A retried failure (Retry plugin): counted in this step's one script, where
            # node-resque DECRs/INCRs the stats after counting a success.
            self.failed += 1
            return Settle("done", processed=not ctx.dialect.is_node, failed=True)
        self.processed += 1
        return _SUCCESS

    async def _hooks(
        self,
        hook: Hook,
        definition: JobDefinition,
        job_class: str,
        queue: str,
        args: list[Any],
        outcome: Outcome,
    ) -> bool:
        if self._plugin_queue is None:
            self._plugin_queue = Queue(
                self._driver,
                namespace=self.context.keys.namespace,
                dialect=self.context.dialect,
                jobs=self.jobs,
                clock=self.context.clock,
            )
        return await run_plugins(
            hook,
            plugins=definition.plugins,
            plugin_options=definition.plugin_options,
            owner=self,
            context=self.context,
            runner=self._run,
            queue_object=self._plugin_queue,
            job_class=job_class,
            queue=queue,
            job=definition,
            args=args,
            outcome=outcome,
        )

    def _failed(
        self,
        taken: Taken,
        payload: Any,
        exc: BaseException,
        began: float,
        *,
        exception: str | None = None,
        message: str | None = None,
    ) -> Settle:
        ctx = self.context
        entry = exception_entry(
            ctx,
            worker=self.identity.name if ctx.dialect.is_node else self.identity.member,
            queue=taken.queue,
            payload=payload,
            exc=exc,
            exception=exception,
            error=message,
        )
        duration = (time.monotonic() - began) * 1000
        self.failed += 1
        self.events.emit("failure", taken.queue, payload, exc, duration, error=str(exc))
        # Ruby counts every job it ran as processed, failures included; node only successes.
        return Settle(
            "done", processed=not ctx.dialect.is_node, failed=True, entry=ctx.dialect.dumps(entry)
        )

    def _unfinished(self, taken: Taken, payload: Any, began: float) -> Settle:
        if self.unfinished == "requeue":
            self.events.emit("reEnqueue", taken.queue, payload, "stop", error="cut off by stop")
            return Settle("requeue", queue=taken.queue, payload=taken.raw)
        entry = stopped_entry(self, taken.queue, payload)
        self.events.emit(
            "failure",
            taken.queue,
            payload,
            None,
            (time.monotonic() - began) * 1000,
            error="cut off by stop",
        )
        node = self.context.dialect.is_node
        return Settle(
            "done", processed=not node, failed=node, entry=self.context.dialect.dumps(entry)
        )

    async def _canonical_ruby_record(self, taken: Taken, started: str, payload: Any) -> None:
        """The script spliced the payload's bytes into Ruby's record; Ruby would re-encode
        them. Rewrite the record in the rare case the two differ (another encoder's bytes)."""
        if self.context.dialect.dumps(payload) == taken.raw:
            return
        record = ruby_record(self.context, taken.queue, started, payload)
        await self._run(_set(self.context.keys.worker(self.identity.member), record))

    # -- tests -------------------------------------------------------------------------------
    async def perform_inline(self, job_class: str, args: Any = None) -> Any:
        """Run a job here and now, with no Redis I/O at all (node-resque's performInline).

        Raises what the job raises; refused on a started worker.
        """
        if self.running:
            raise RuntimeError("perform_inline cannot be used on a started worker")
        definition = self.jobs.get(job_class)
        if definition is None:
            raise UnknownJobError(f"No job defined for class {job_class!r}")
        arguments = [] if args is None else list(args) if isinstance(args, list | tuple) else [args]
        queue = f"_direct-queue-{self.name}"
        payload = {"class": job_class, "queue": queue, "args": arguments}
        current = CurrentJob(self, queue, job_class, arguments, payload)
        return await invoke(
            definition, arguments, current, executor=self.executor, timeout_ms=self.job_timeout
        )


def _set(key: str, value: bytes) -> Plan[None]:
    yield Call("SET", key, value)
