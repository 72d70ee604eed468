"""The worker: takes jobs from resque queues and runs them, as node-resque or Ruby resque
would, in a pool with either.

One :class:`Worker` runs one job at a time (node-resque's model); run several, or a
:class:`~pyresque.worker.multi.MultiWorker`, for concurrency. Each job costs one Redis
round trip: a single script settles the job just done (stats, failure entry, working-on
record) and takes the next one.

Redis being away is never a reason to exit: a dropped connection, a reply timeout or a
transient reply (``LOADING`` after a restart, ``READONLY`` in a failover, ``OOM`` ...)
makes the worker wait, with backoff, and go on; a step whose reply was lost is finished
or proven done first (:mod:`pyresque.protocol.recovery`). Queues it cannot read (a key of
another type) are skipped and reported; the others are worked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import Awaitable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, TypeVar, Unpack

import redis.asyncio

from pyresque.connection import AsyncDriver, Settings, open_async_driver
from pyresque.connection.patience import UNAVAILABLE, Backoff
from pyresque.errors import (
    ConfigurationError,
    ConnectionFailedError,
    ConnectionSetupError,
    PayloadDecodeError,
    StateError,
    WrongTypeError,
)
from pyresque.protocol import recovery, times
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_job
from pyresque.protocol.plans import work as plans
from pyresque.protocol.plans.work import Settle, Stepped, Taken
from pyresque.protocol.workers import Identity, run_at, runtime_ttl, worker_name, worker_queues
from pyresque.queue import Queue
from pyresque.worker.events import Events, Listener
from pyresque.worker.jobs import PerformWrapper, job_definitions
from pyresque.worker.options import Unfinished, WorkerKeywords, WorkerOptions, options_with
from pyresque.worker.perform import Performer
from pyresque.worker.retry import Throttle
from pyresque.worker.summary import RunSummary
from pyresque.worker.waker import Waker

__all__ = ["RunSummary", "Unfinished", "Worker"]

T = TypeVar("T")

# A step in flight longer than this when the worker is cut off is taken for hung: it is
# given up (its job stays in the working-on record, where cleanups find it).
_HUNG_STEP = 0.5


class _Lost(enum.Enum):
    """What recovery found out about a step whose reply was lost, when not its result."""

    AWAY = "Redis cannot tell yet"
    RESEND = "the step did not run: send it again"
    CUT = "the worker was cut off while Redis did not answer"


def _queue_list(queues: str | Sequence[str]) -> list[str]:
    # node-resque indexes a string character by character; a string here is a CSV list.
    names = queues.split(",") if isinstance(queues, str) else list(queues)
    if isinstance(queues, str):
        names = [q.strip() for q in names]
    if not any(isinstance(q, str) and q for q in names):
        raise ConfigurationError(
            f"a worker needs at least one queue, not {queues!r} (use '*' for every queue)"
        )
    return worker_queues([q for q in names if q != ""])


class Worker(Performer):
    """Works ``queues`` (in priority order; ``"*"`` for all) with the ``jobs`` mapping.

    What it does beyond that is its :class:`~pyresque.worker.options.WorkerOptions`:
    ``options=``, or the options' fields as keywords (``timeout=50``), or both (the
    keywords replace those fields). ``executor`` runs the plain-function jobs (default:
    the loop's); ``waker`` is shared by a MultiWorker's workers.
    """

    def __init__(
        self,
        redis: str | Settings | redis.asyncio.Redis | AsyncDriver | None = None,
        queues: str | Sequence[str] = "*",
        jobs: Mapping[str, Any] | None = None,
        *,
        options: WorkerOptions | None = None,
        executor: Executor | None = None,
        waker: Waker | None = None,
        **keywords: Unpack[WorkerKeywords],
    ) -> None:
        self.options = options_with(WorkerOptions, options, keywords)
        self.context = self.options.context()
        self.patterns = _queue_list(queues)
        self.name = worker_name(self.context, self.options.name, os.getpid())
        self.jobs = job_definitions(jobs)
        self.executor = executor
        self.events = Events(
            f"worker {self.name}", log_levels=self.options.log_levels, fields={"worker": self.name}
        )
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
        self.around_perform: list[PerformWrapper] = []
        """Wrappers around each job it runs (:data:`~pyresque.worker.jobs.PerformWrapper`)."""
        self.unreadable: dict[str, str] = {}
        """Queues skipped because their key cannot be read, and why (reported, retried)."""
        self.last_reply_at: float | None = None
        """When Redis last answered this worker (``time.monotonic()``; None: never)."""
        self._run_counts = (0, 0)  # processed, failed when the run started
        self._run_began: float | None = None
        self._run_ended: float | None = None
        self._zone = times.local_zone_name()
        self._stop = asyncio.Event()
        self._abandon = asyncio.Event()
        self._burst = False
        self._loop_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._in_job = False
        self._cutting = False
        self._step_sent: float | None = None  # monotonic time the step in flight was sent
        self._plugin_queue: Queue | None = None
        self._registered = False
        self._finishing: asyncio.Future[None] | None = None
        self._unregistering: asyncio.Task[None] | None = None
        self._owes_settle = False  # gave up a settle: stay registered for the cleanups
        self._reports = Throttle()
        # What this worker's per-worker stat keys hold, as far as it knows: how it tells,
        # after a lost reply, whether its last step ran (see protocol/recovery.py).
        self._known = recovery.WorkerState(None, 0, 0)
        self._work_spec: plans.WorkSpec | None = None
        self._run_at_second = -1
        self._run_at = ""

    # -- the options under their former attribute names (read-only) ------------------------
    @property
    def timeout(self) -> float:
        """Idle poll and ping interval, ms (``options.timeout``)."""
        return self.options.timeout

    @property
    def job_timeout(self) -> float | None:
        """A job running longer (ms) fails; None: no limit."""
        return self.options.job_timeout

    @property
    def shutdown_grace(self) -> float:
        """Seconds a running job may take to finish once the worker stops."""
        return self.options.shutdown_grace

    @property
    def unfinished(self) -> Unfinished:
        """What a job cut off by a stop becomes: ``fail`` or ``requeue``."""
        return self.options.unfinished

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between Ruby heartbeats (ruby dialect)."""
        return self.options.heartbeat_interval

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

    def summary(self) -> RunSummary:
        """Jobs finished since the last :meth:`start` (all zero before one), and for how
        long the worker has run (or ran, once stopped)."""
        if self._run_began is None:
            return RunSummary()
        ended = self._run_ended if self._run_ended is not None else time.monotonic()
        succeeded, failed = self._run_counts
        return RunSummary(self.processed - succeeded, self.failed - failed, ended - self._run_began)

    def _report(self, exc: BaseException, kind: str | None = None) -> None:
        """Emit ``error`` for ``exc``, once per interval for the same kind of trouble."""
        key = kind or f"{type(exc).__name__}:{getattr(exc, 'key', '')}"
        if self._reports.due(key):
            self.events.emit("error", exc, self.queue, self.job, error=str(exc))

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, burst: bool = False) -> None:
        """Register and start working in the background (see :meth:`join`, :meth:`stop`).

        ``burst``: stop as soon as the queues are empty (rq's ``--burst``). While Redis
        cannot be reached this keeps trying (and reporting); if the worker is asked to stop
        meanwhile it returns without starting.
        """
        if self.running:
            raise StateError(f"{self!r} is already started")
        self._burst = burst
        self._stop.clear()
        self._abandon.clear()
        self._owes_settle = False
        self._finishing = None
        self._run_counts = (self.processed, self.failed)
        self._run_began, self._run_ended = time.monotonic(), None
        backoff = Backoff(cap=self.options.timeout / 1000)
        while True:
            try:
                if self._dynamic:
                    await self._refresh_queues(register=False)
                await self._run(plans.register(self.context, self.identity, self._runtime_ttl))
                self._registered = True
                self._known = await self._run(recovery.worker_state(self.context, self.identity))
                self.last_reply_at = time.monotonic()
                break
            except ConnectionSetupError:
                raise  # a wrong password, user or database: waiting will not help
            except UNAVAILABLE as exc:
                self._report(exc, "start")
            if not await self._pause(backoff.next()) or self._stop.is_set():
                return  # asked to stop before Redis came back (join() cleans up)
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
            wait = self.options.shutdown_grace if grace is None else grace
            done, _ = await asyncio.wait({task}, timeout=wait)
            while not done:
                self.cut_off()
                done, _ = await asyncio.wait({task}, timeout=0.05)
        await self._finish()

    end = stop  # node-resque's name

    def request_stop(self) -> None:
        """Ask the worker to stop after its current job (signal-handler safe)."""
        self._stop.set()

    def cut_off(self) -> None:
        """Stop now: cancel the running job (it is settled as unfinished, see
        ``unfinished``), and give up waiting for a Redis that does not answer (a job whose
        settle cannot be written then stays in the working-on record, where peers'
        cleanups find it). Used by :meth:`stop` once the grace is over, by signal handlers.
        """
        self._stop.set()
        self._abandon.set()
        task = self._loop_task
        if task is not None and not task.done():
            sent = self._step_sent
            hung = sent is not None and time.monotonic() - sent > _HUNG_STEP
            # The job runs inside the loop task (no task of its own: one less per job), so
            # cutting it off cancels that task while it is in the job.
            if self._in_job or hung:
                self._cutting = True
                task.cancel()
        if self._unregistering is not None and not self._unregistering.done():
            self._unregistering.cancel()  # Redis does not answer: peers' cleanups will

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
        if self._registered and not self._owes_settle:
            self._registered = False
            self._unregistering = asyncio.ensure_future(
                self._run(plans.unregister(self.context, self.identity))
            )
            try:
                await self._unregistering
            except asyncio.CancelledError:
                if self._unregistering.cancelled():
                    exc = ConnectionFailedError(
                        "unregistering gave up: Redis did not answer; the worker stays "
                        "listed until a stuck-worker cleanup finds it"
                    )
                    self.events.emit("error", exc, None, None, error=str(exc))
                else:
                    raise
            except Exception as exc:  # Redis gone: peers' cleanup will find the worker
                self.events.emit("error", exc, None, None, error=str(exc))
        if self.running:
            self.running = False
            self._run_ended = time.monotonic()
            if self._burst:
                self._log_summary()
            self.events.emit("end", datetime.now(UTC), worker=self.identity.member)
        if self._owns_waker:
            await self._waker.aclose()
            self._waker = Waker(self._driver.open_blocking)  # ready if started again
        if self._owns_driver:
            await self._driver.aclose()

    def _log_summary(self) -> None:
        """A burst run's one summary line (``spec/logs.md``)."""
        summary = self.summary()
        level = logging.WARNING if summary.failed else logging.INFO
        self.events.logger.log(
            level,
            "%s burst over: %s",
            self.events.source,
            summary.line(),
            extra={"pyresque_event": "summary", **self.events.fields, **summary.fields()},
        )

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
        """One round trip: settle ``settle`` and, with ``take``, take the next job
        (``started`` is its ``run_at``); returns what the step did."""
        return self._run(
            plans.work_step(self.context, self._spec(), settle=settle, take=take, started=started)
        )

    async def _work(self) -> None:
        settle: Settle | None = None
        while True:
            started = self._started()
            taken = await self._step(settle, started)
            settle = None
            if taken is None:
                if self._stop.is_set() or self._burst:
                    return
                await self._idle()
                continue
            try:
                settle = await self._perform(taken, started)
            except Exception as exc:  # a defect of pyresque's: still, the job is kept
                settle = self._failed(taken, text(taken.raw), exc, time.monotonic())

    async def _step(self, settle: Settle | None, started: str) -> Taken | None:
        """Settle the last job and take the next (none once stopping), whatever Redis does
        meanwhile; returns the job taken. Gives up only when the worker is cut off."""
        backoff: Backoff | None = None  # made on the first failure: most steps have none
        maybe_sent = False
        while True:
            if maybe_sent:
                found = await self._recover(settle)
                if isinstance(found, Settle):
                    settle, maybe_sent = found, False  # adopted a job to fail: settle it
                    continue
                if not isinstance(found, _Lost):
                    return found
                maybe_sent = found is not _Lost.RESEND
            if not maybe_sent:
                take = not self._stop.is_set()
                if settle is None and not take:
                    return None
                result = await self._attempt(settle, take, started)
                if isinstance(result, Stepped):
                    return result.taken
                settle, maybe_sent = result
            if backoff is None:
                backoff = Backoff(cap=max(self.options.timeout / 1000, 0.05))
            if self._abandon.is_set() or not await self._pause(backoff.next()):
                self._gave_up(settle, maybe_sent)
                return None

    async def _guarded(self, step: Awaitable[T]) -> T | _Lost:
        """Await a step; ``_Lost.CUT`` when the worker was cut off while Redis did not
        answer it (see :meth:`cut_off`)."""
        try:
            self._step_sent = time.monotonic()
            return await step
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._cutting and task is not None and task.cancelling():
                task.uncancel()
                self._cutting = False
                return _Lost.CUT
            raise
        finally:
            self._step_sent = None

    async def _attempt(
        self, settle: Settle | None, take: bool, started: str
    ) -> Stepped | tuple[Settle | None, bool]:
        """Send the step once: what it did, or (the settle still to do, maybe sent)."""
        try:
            stepped = await self._guarded(self.step(settle, take, started))
        except ConnectionFailedError as exc:
            self._report(exc, "redis")
            return settle, exc.maybe_sent
        except WrongTypeError as exc:  # the failed list (or a requeue's queue) is unusable
            self._report(exc)
            if settle is not None and settle.kind == "requeue":
                settle = self._requeue_failed(settle)
            return settle, False
        except UNAVAILABLE as exc:
            self._report(exc, "redis")
            return settle, False
        except Exception as exc:  # an error reply pyresque does not know: may have run
            self._report(exc)
            return settle, True
        if stepped is _Lost.CUT:
            return settle, True
        assert isinstance(stepped, Stepped)
        self.last_reply_at = time.monotonic()
        self._count(settle)
        if stepped.notes or self.unreadable:
            self._noted(stepped)
        return stepped

    async def _recover(self, settle: Settle | None) -> Taken | Settle | _Lost | None:
        """After a step whose reply was lost: the job it took (or None) if it ran, or a
        failing settle for a job it took that must not run."""
        try:
            state = await self._guarded(
                self._run(recovery.worker_state(self.context, self.identity))
            )
        except UNAVAILABLE as exc:
            self._report(exc, "redis")
            return _Lost.AWAY
        if isinstance(state, _Lost):
            return _Lost.AWAY
        if not recovery.step_ran(settle, state, self._known):
            return _Lost.RESEND
        self._known = state
        if state.record is None:
            return None
        adopted = recovery.adopt(self.context, self.identity, state.record)
        if isinstance(adopted, Settle):
            self.failed += 1
        return adopted

    def _gave_up(self, settle: Settle | None, maybe_sent: bool) -> None:
        if settle is not None or maybe_sent:
            # The record may hold a job (one owed a settle, or taken by a step whose reply
            # was lost): unregistering would delete it. The worker stays listed instead,
            # its liveness mark goes stale, and peers' cleanups fail the job.
            self._owes_settle = True
            exc = ConnectionFailedError(
                "stopped before the last job could be settled (Redis did not answer): it "
                f"stays in {self.context.keys.worker(self.identity.member)} for a "
                "stuck-worker cleanup"
            )
            self.events.emit("error", exc, self.queue, None, error=str(exc))

    def _requeue_failed(self, settle: Settle) -> Settle:
        """A cut-off job whose queue cannot take it back: failed instead, bytes kept."""
        taken = Taken(settle.queue, settle.payload, True)
        try:
            payload: Any = dict(decode_job(settle.payload))
        except PayloadDecodeError:
            payload = text(settle.payload)
        return self._stopped(taken, payload)

    def _count(self, settle: Settle | None) -> None:
        known = self._known
        if settle is not None and recovery.UNREADABLE not in (known.processed, known.failed):
            self._known = self._known._replace(
                processed=self._known.processed + settle.processed,
                failed=self._known.failed + settle.failed,
            )

    def _noted(self, stepped: Stepped) -> None:
        """Keep track of the queues the step skipped as unreadable, and report them."""
        keys = {self.context.keys.queue(q): q for q in self.queues}
        skipped: dict[str, str] = {}
        for note in stepped.notes:
            _, command, rest = note.split(" ", 2)
            key, _, why = rest.partition(": ")
            queue = keys.get(key) if command == "LPOP" else None
            if queue is not None:
                skipped[queue] = why
            if self._reports.due(f"note:{key}"):
                exc = WrongTypeError(f"{why} ({command} {key}): skipped", key=key)
                self.events.emit("error", exc, queue, None, error=f"skipped {key}: {why}")
        tried = self.queues
        if stepped.taken is not None:
            tried = self.queues[: self.queues.index(stepped.taken.queue) + 1]
        for queue in tried:
            if queue not in skipped and self.unreadable.pop(queue, None) is not None:
                self._reports.forget(f"note:{self.context.keys.queue(queue)}")
        self.unreadable.update(skipped)

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if stopped (or, once stopping, cut off); False when
        cut off."""
        event = self._abandon if self._stop.is_set() else self._stop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
        return not self._abandon.is_set()

    async def _idle(self) -> None:
        self.events.emit("pause")
        if self._dynamic:
            try:
                await self._refresh_queues(register=True)
            except UNAVAILABLE as exc:
                self._report(exc, "redis")
        keys = [self.context.keys.queue(q) for q in self.queues if q not in self.unreadable]
        wake = asyncio.ensure_future(self._waker.wait(keys, self.options.timeout / 1000))
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

    @property
    def _runtime_ttl(self) -> int:
        """Seconds pyresque's runtime mark lives between two pings or heartbeats."""
        node = self.context.dialect.is_node
        interval = self.options.timeout / 1000 if node else self.options.heartbeat_interval
        return runtime_ttl(interval)

    async def _tick(self) -> None:
        """Liveness: node's ping every ``timeout`` ms, Ruby's heartbeat every interval."""
        node = self.context.dialect.is_node
        interval = self.options.timeout / 1000 if node else self.options.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            try:
                if node:
                    await self._run(plans.ping(self.context, self.identity, self._runtime_ttl))
                    self.events.emit("ping", times.js_bucket(self.context.now_ms()))
                else:
                    await self._run(plans.heartbeat(self.context, self.identity, self._runtime_ttl))
                self.last_reply_at = time.monotonic()
            except Exception as exc:
                self._report(exc, "tick")
