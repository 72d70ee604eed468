"""MultiWorker: a pool of :class:`~pyresque.worker.worker.Worker` children in one process,
grown and shrunk by node-resque's rules (Actionhero's "task processors").

Every ``check_timeout`` ms the supervisor takes at most one action, chosen by the first
matching row (W = children in the pool, working = how many of them are running a job,
utilisation = working / W, retiring = children leaving the pool), then emits
``multiWorkerAction(verb, event_loop_delay)``:

==  =======================================================  ==================================
1   stopping and W > 0                                       ``--`` stop every child, in parallel
2   stopping and W == 0                                      ``x``  (the supervisor exits)
3   loop blocked and W > min                                 ``-``  retire the newest child
4   loop blocked (W <= min)                                  ``x``
5   W < min                                                  ``+``  start a child
6   W + retiring < max and (W == 0 or utilisation > 0.5)     ``+``
7   W > min and utilisation < 0.5                            ``-``
8   otherwise                                                ``x``
==  =======================================================  ==================================

The loop is *blocked* when the last lag sample exceeds ``max_event_loop_delay`` ms. A
timer sleeps ``check_timeout`` ms, over and over; its lag is how late it woke
(``elapsed - check_timeout``). The state starts blocked with an infinite delay, so the
first action is always ``x:inf``, as in node-resque. A CPU-bound ``async def`` job
stalls the loop and shrinks the pool to ``min``. So do CPU-bound sync jobs holding the
GIL, even though they run in the thread pool.

Where this differs from node-resque 9.7.1, and why:

* The lag timer is a task owned by :meth:`start` and cancelled by :meth:`stop`. node
  starts an unref'd ``setInterval`` in the constructor and never clears it. Each start
  begins blocked/inf again.
* The lag is the raw sample of the last period, as in node. It is not smoothed: the
  drift is a point sample, and a blocking job shows up as one long sample, which an
  average would hide.
* ``-`` does not hold up the supervisor. node pops the child and awaits its ``end()``
  inside the check. That freezes all scaling for as long as the child's job runs, and
  the action is emitted only afterwards. Here the child is retired in the background: it
  takes no new job, and its current job runs to completion, with no grace limit (scaling
  is not a shutdown, so it never fails a job). The action is emitted when it is decided.
* A retiring child still counts against ``max_task_processors`` (row 6), so no more than
  ``max`` jobs ever run at once. Its id stays taken until it has unregistered: a new
  child takes the smallest free id, which is node's ``W + 1`` whenever no retirement is
  in flight. That way two live children never share a name (and a registration).
* :meth:`stop` wakes the supervisor at once (node polls every ``check_timeout``). Row 1
  also bounds retiring children by ``grace``. Then the lag timer stops.
* ``working`` is a count of busy children, retiring ones included (node's is a boolean).
* Every child shares one Redis connection, one :class:`~pyresque.worker.waker.Waker`
  and one thread pool of ``max_task_processors`` threads. node opens a connection per
  child unless it is handed a client.
* A child that fails to start is reported as ``error(exc, id, None, None)``, and no
  action is emitted for that check.

Child events are forwarded with the child's id first: ``success(id, queue, job, result,
ms)``, and ``error(exc, id, queue, job)``. Children log their own events; the
MultiWorker logs only ``multiWorkerAction`` and its own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Unpack

import redis.asyncio

from pyresque.connection import AsyncDriver, Settings, open_async_driver
from pyresque.errors import ConfigurationError, StateError
from pyresque.protocol import times
from pyresque.protocol.workers import pool_worker_name
from pyresque.worker.events import EVENTS, Events, Listener
from pyresque.worker.jobs import PerformWrapper, job_definitions
from pyresque.worker.options import WorkerKeywords, WorkerOptions, options_with
from pyresque.worker.waker import Waker
from pyresque.worker.worker import Worker

__all__ = ["MultiWorker", "scaling_action"]

FORWARDED = tuple(event for event in EVENTS if event != "multiWorkerAction")


def scaling_action(
    *,
    running: bool,
    blocked: bool,
    workers: int,
    working: int,
    retiring: int,
    min_workers: int,
    max_workers: int,
) -> str:
    """The verb for one check: the table in the module docstring, first match wins."""
    if not running:
        return "--" if workers > 0 else "x"
    if blocked:
        return "-" if workers > min_workers else "x"
    if workers < min_workers:
        return "+"
    if workers + retiring < max_workers and (workers == 0 or working / workers > 0.5):
        return "+"
    if workers > min_workers and working / workers < 0.5:
        return "-"
    return "x"


@dataclass(eq=False, slots=True)
class _Child:
    id: int
    worker: Worker


class MultiWorker:
    """Runs between ``min_task_processors`` and ``max_task_processors`` workers on
    ``queues``, scaled by load and event-loop lag like node-resque's MultiWorker.

    ``check_timeout`` and ``max_event_loop_delay`` are in ms. Each child is built from the
    pool's :class:`~pyresque.worker.options.WorkerOptions` (``options=`` and/or its fields
    as keywords, as for a :class:`~pyresque.worker.worker.Worker`), named
    ``name:pid+N`` (see :func:`~pyresque.protocol.workers.pool_worker_name`), so here
    ``name`` is a host. Sync jobs run on ``executor``, or on a pool of
    ``max_task_processors`` threads that the MultiWorker creates.
    """

    def __init__(
        self,
        redis: str | Settings | redis.asyncio.Redis | AsyncDriver | None = None,
        queues: str | Sequence[str] = "*",
        jobs: Mapping[str, Any] | None = None,
        *,
        options: WorkerOptions | None = None,
        min_task_processors: int = 1,
        max_task_processors: int = 10,
        check_timeout: float = 500,
        max_event_loop_delay: float = 10,
        executor: Executor | None = None,
        **keywords: Unpack[WorkerKeywords],
    ) -> None:
        if not 0 <= min_task_processors <= max_task_processors or max_task_processors < 1:
            raise ConfigurationError(
                "need 0 <= min_task_processors <= max_task_processors and max >= 1, got "
                f"{min_task_processors} and {max_task_processors}"
            )
        if not check_timeout > 0:
            raise ConfigurationError(f"check_timeout must be positive, not {check_timeout!r}")
        self.options = options_with(WorkerOptions, options, keywords)
        self._context = self.options.context()
        # A child's name must be one the peers parse: refuse a bad one now, not per child.
        pool_worker_name(self._context, self.options.name, os.getpid(), 1)
        self.name = self.options.name or self._context.hostname
        self.queues = queues
        self.jobs = job_definitions(jobs)  # checked once, here, not per child
        self.around_perform: list[PerformWrapper] = []
        """Wrappers around each job a child runs (:data:`~pyresque.worker.jobs.PerformWrapper`):
        every child shares this list."""
        self.min_task_processors = min_task_processors
        self.max_task_processors = max_task_processors
        self.check_timeout = float(check_timeout)
        self.max_event_loop_delay = float(max_event_loop_delay)
        # Children log their own events; listeners here get them without a second log line.
        own_levels: dict[str, int | str | None] = dict.fromkeys(FORWARDED, None)
        levels = self.options.log_levels
        if levels and "multiWorkerAction" in levels:
            own_levels["multiWorkerAction"] = levels["multiWorkerAction"]
        self.events = Events(f"multiworker {self.name}", log_levels=own_levels)
        if isinstance(redis, AsyncDriver):
            self._driver, self._owns_driver = redis, False
        else:
            self._driver, self._owns_driver = open_async_driver(redis), True
        self._executor = executor
        self._owns_executor = executor is None
        self._waker: Waker | None = None
        self.running = False
        self.event_loop_blocked = True
        self.event_loop_delay: float = math.inf
        self._active: list[_Child] = []  # in start order: "-" retires the newest
        self._live: set[_Child] = set()  # active, retiring and stopping children
        self._retirements: set[asyncio.Task[None]] = set()
        self._grace: float | None = None
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._lag_timer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"MultiWorker({self.name!r}, workers={len(self._active)}, working={self.working})"

    @property
    def shutdown_grace(self) -> float:
        """Each child's (from the options)."""
        return self.options.shutdown_grace

    @property
    def workers(self) -> list[Worker]:
        """The children in the pool, oldest first (retiring ones excluded)."""
        return [child.worker for child in self._active]

    @property
    def working(self) -> int:
        """How many children are running a job, retiring ones included."""
        return sum(1 for child in self._live if child.worker.working)

    def on(self, event: str, listener: Listener) -> Listener:
        """Listen to a child event (called with the child's id first) or to
        ``multiWorkerAction(verb, delay)``."""
        return self.events.on(event, listener)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start supervising; the first child starts after the first lag sample."""
        if self.running:
            raise StateError(f"{self!r} is already started")
        self.running = True
        self.event_loop_blocked, self.event_loop_delay = True, math.inf
        self._wake.clear()
        self._waker = Waker(self._driver.open_blocking)
        if self._owns_executor:
            self._executor = ThreadPoolExecutor(
                self.max_task_processors, thread_name_prefix=f"pyresque-mw-{self.name}"
            )
        # The lag timer first, so its tick lands just before each check.
        self._lag_timer = asyncio.create_task(self._measure(), name="pyresque-mw-lag")
        self._supervisor = asyncio.create_task(self._supervise(), name="pyresque-mw-check")

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop every child in parallel (each lets its job finish within ``grace`` seconds,
        default its ``shutdown_grace``), then the lag timer; close what was opened here."""
        self._grace = grace
        self.running = False
        self._wake.set()
        for child in self._live - set(self._active):
            child.worker.request_stop()  # one still starting (Redis away) gives up
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            await asyncio.wait({supervisor})  # not `await`: a cancelled stop leaves it be
            if not supervisor.cancelled() and supervisor.exception() is not None:
                self._error(supervisor.exception(), None)
        if self._live:  # only if the supervisor died
            await self._stop_all(grace)
        timer, self._lag_timer = self._lag_timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        if self._waker is not None:
            await self._waker.aclose()
        if self._owns_executor and self._executor is not None:
            # A thread still running a timed-out job cannot be stopped; do not block on it.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._owns_driver:
            await self._driver.aclose()

    end = stop  # node-resque's name

    async def __aenter__(self) -> MultiWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- lag ---------------------------------------------------------------------------------
    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.check_timeout / 1000
        while True:
            began = loop.time()
            await asyncio.sleep(interval)
            lag = (loop.time() - began) * 1000 - self.check_timeout
            self.event_loop_blocked = lag > self.max_event_loop_delay
            self.event_loop_delay = times.js_round(lag)

    # -- scaling -----------------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            try:
                verb = await self._check()
            except Exception as exc:
                self._error(exc, None)
                if not self.running:
                    return  # stop() stops whatever is left
                verb = None
            if verb is not None:
                self.events.emit(
                    "multiWorkerAction",
                    verb,
                    self.event_loop_delay,
                    verb=verb,
                    delay=self.event_loop_delay,
                    workers=len(self._active),
                )
                if not self.running and verb == "x":
                    return
            if self.running:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.check_timeout / 1000):
                        await self._wake.wait()

    async def _check(self) -> str | None:
        """One check's action; None when it failed (and was reported)."""
        active = self._active
        verb = scaling_action(
            running=self.running,
            blocked=self.event_loop_blocked,
            workers=len(active),
            working=sum(1 for child in active if child.worker.working),
            retiring=len(self._live) - len(active),
            min_workers=self.min_task_processors,
            max_workers=self.max_task_processors,
        )
        if verb == "+":
            return verb if await self._add() else None
        if verb == "-":
            self._retire(active.pop())
        elif verb == "--":
            await self._stop_all(self._grace)
        return verb

    def cut_off(self) -> None:
        """Cancel every running job now (each child settles its job as unfinished)."""
        for child in list(self._live):
            child.worker.cut_off()

    def _next_id(self) -> int:
        taken = {child.id for child in self._live}
        wid = 1
        while wid in taken:
            wid += 1
        return wid

    async def _add(self) -> bool:
        """Start a child; False (reported as its error) if it could not start."""
        wid = self._next_id()
        worker = Worker(
            self._driver,
            self.queues,
            self.jobs,
            options=self.options,
            name=pool_worker_name(self._context, self.options.name, os.getpid(), wid),
            executor=self._executor,
            waker=self._waker,
        )
        worker.around_perform = self.around_perform
        child = _Child(wid, worker)
        for event in FORWARDED:
            relay = (
                partial(self._relay_error, wid)
                if event == "error"
                else partial(self.events.emit, event, wid)
            )
            worker.on(event, relay)
        self._live.add(child)
        try:
            await worker.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await worker.stop(grace=0)  # drops whatever registration it got to write
            self._live.discard(child)
            self._error(exc, wid)
            return False
        if not worker.running:  # stopped while it waited for Redis to start
            await worker.stop(grace=0)
            self._live.discard(child)
            return False
        self._active.append(child)
        return True

    def _retire(self, child: _Child) -> None:
        task = asyncio.create_task(self._retirement(child), name=f"pyresque-mw-retire-{child.id}")
        self._retirements.add(task)
        task.add_done_callback(self._retirements.discard)

    async def _retirement(self, child: _Child) -> None:
        try:
            child.worker.request_stop()  # no new job; the current one runs to its end
            await child.worker.join()
        except Exception as exc:
            self._error(exc, child.id)
        finally:
            self._live.discard(child)

    async def _stop_all(self, grace: float | None) -> None:
        children, self._active = list(self._live), []
        retirements = list(self._retirements)
        results = await asyncio.gather(
            *(child.worker.stop(grace=grace) for child in children),
            *retirements,  # stop() above bounds them; wait until they have unregistered
            return_exceptions=True,
        )
        for child, result in zip(children, results, strict=False):
            self._live.discard(child)
            if isinstance(result, Exception):
                self._error(result, child.id)

    # -- events ------------------------------------------------------------------------------
    def _relay_error(self, wid: int, error: Any, queue: Any, job: Any) -> None:
        self.events.emit("error", error, wid, queue, job)

    def _error(self, exc: BaseException | None, wid: int | None) -> None:
        self.events.logger.error("%s: %s", self.events.source, exc, exc_info=exc)
        self.events.emit("error", exc, wid, None, None)
