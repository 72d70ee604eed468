"""The scheduler: elects a leader and, as leader, moves due delayed jobs to their queues and
cleans up dead workers, beside node-resque's ``Scheduler`` and resque-scheduler.

Behaviour, the locks and every difference from the peers: spec/scheduler.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, Unpack

import redis.asyncio

from pyresque.connection import AsyncDriver, Settings, open_async_driver, run_plan
from pyresque.connection.patience import UNAVAILABLE, Backoff
from pyresque.definitions import JobDefinition, JobDefinitions, job_definitions
from pyresque.errors import (
    ConnectionFailedError,
    PayloadDecodeError,
    RedisReplyError,
    StateError,
)
from pyresque.plugins.base import run_plugins
from pyresque.protocol.context import ruby_hostname  # re-exported from its former home
from pyresque.protocol.plan import Plan
from pyresque.protocol.plans import failed as failed_plans
from pyresque.protocol.plans import scheduler as plans
from pyresque.protocol.plans import workers as worker_plans
from pyresque.protocol.plans.scheduler import Moved, Transfer
from pyresque.queue import Queue
from pyresque.scheduler.events import SchedulerEvents
from pyresque.scheduler.options import SchedulerKeywords, SchedulerOptions
from pyresque.worker.events import Listener
from pyresque.worker.options import options_with
from pyresque.worker.retry import Throttle

__all__ = ["Scheduler", "ruby_hostname"]

T = TypeVar("T")


def _number(ts: str) -> int | str:
    try:
        return int(ts)
    except ValueError:
        return ts


class Scheduler:
    """Promotes due delayed jobs and cleans up dead workers while it holds the leader lock.

    The lock is the dialect's: node-resque's ``resque_scheduler_leader_lock`` (value
    ``name``, default ``host:pid``) or resque-scheduler's double-prefixed master lock
    (value ``host:pid`` with resque-scheduler's host lookup). ``both_locks`` holds both, so
    one pyresque scheduler takes the place of both kinds in a mixed fleet. Every
    ``timeout`` ms (the first time at once) it takes or refreshes the lock, then moves due
    jobs and polls again at once while some are due; otherwise it looks for workers whose
    node-resque ping or resque heartbeat is older than ``stuck_worker_timeout`` ms (falsy:
    never) and cleans them up, then, with ``retry_stuck_jobs``, re-enqueues the jobs of
    dead workers. With ``jobs``, a moved job's ``before_enqueue``/``after_enqueue``
    plugins run around its move.

    Those settings are its :class:`~pyresque.scheduler.options.SchedulerOptions`:
    ``options=``, or the options' fields as keywords (``timeout=50``), or both (the
    keywords replace those fields).
    """

    def __init__(
        self,
        redis: str | Settings | redis.asyncio.Redis | AsyncDriver | None = None,
        *,
        options: SchedulerOptions | None = None,
        jobs: Mapping[str, Any] | None = None,
        **keywords: Unpack[SchedulerKeywords],
    ) -> None:
        self.options = options_with(SchedulerOptions, options, keywords)
        self.context = self.options.context()
        self.jobs: JobDefinitions = job_definitions(jobs)
        self.lock_keys = plans.lock_keys(self.context, both=self.options.both_locks)
        self.lock_values = plans.lock_values(
            self.context, self.lock_keys, self.options.name, os.getpid()
        )
        # The value of the dialect's own lock (the peer's default identity).
        own = plans.lock_keys(self.context)[0]
        self.name = self.lock_values[self.lock_keys.index(own)]
        self.leader = False
        self.running = False
        self.events = SchedulerEvents(f"scheduler {self.name}", log_levels=self.options.log_levels)
        if isinstance(redis, AsyncDriver):
            self._driver, self._owns_driver = redis, False
        else:
            self._driver, self._owns_driver = open_async_driver(redis), True
        # node-resque's scheduler.queue: plugins enqueue through it.
        self.queue = Queue(
            self._driver,
            namespace=self.context.keys.namespace,
            dialect=self.context.dialect,
            jobs=self.jobs,
            clock=self.context.clock,
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._releasing: asyncio.Future[int] | None = None
        self._held_at = -math.inf  # monotonic time the lock was last taken or refreshed
        # Due seconds that could not be moved (a key of the wrong type where their jobs
        # go): left alone until the monotonic time given, so later seconds still move.
        self._stuck: dict[str, float] = {}
        self._reports = Throttle()

    # -- the options under their former attribute names (read-only) ------------------------
    @property
    def timeout(self) -> float:
        """Poll interval, ms."""
        return self.options.timeout

    @property
    def leader_lock_timeout(self) -> int:
        """Seconds the leader lock lives unless refreshed."""
        return self.options.leader_lock_timeout

    @property
    def stuck_worker_timeout(self) -> float | None:
        """Workers silent longer than this (ms) are cleaned up; None/0: never."""
        return self.options.stuck_worker_timeout

    @property
    def retry_stuck_jobs(self) -> bool:
        """Whether dead workers' jobs are re-enqueued after each clean-up."""
        return self.options.retry_stuck_jobs

    @property
    def both_locks(self) -> bool:
        """Whether it leads only while holding node-resque's and resque-scheduler's
        locks both."""
        return self.options.both_locks

    def __repr__(self) -> str:
        return f"Scheduler({self.name!r}, dialect={self.context.dialect.name!r})"

    def on(self, event: str, listener: Listener) -> Listener:
        """Listen to an event: start, end, poll, leader, cleanStuckWorker, error,
        workingTimestamp, transferredJob, vetoedJob."""
        return self.events.on(event, listener)

    def _run(self, plan: Plan[T]) -> Awaitable[T]:
        return run_plan(plan, self._driver)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start polling in the background; the first poll is at once."""
        if self.running:
            raise StateError(f"{self!r} is already started")
        self._stop.clear()
        self.running = True
        self.events.emit("start", datetime.now(UTC), scheduler=self.name)
        self._task = asyncio.create_task(self._loop(), name=f"pyresque-scheduler:{self.name}")

    async def join(self) -> None:
        """Wait until the polling loop has ended (after :meth:`stop`)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Finish the current step, release the lock(s) still ours, close."""
        self._stop.set()
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._task = None
        if self.running or self.leader:
            self._releasing = asyncio.ensure_future(
                self._run(plans.release_locks(self.context, self.lock_keys, self.lock_values))
            )
            try:
                await self._releasing
            except asyncio.CancelledError:
                if not self._releasing.cancelled():
                    raise
                self._report(
                    ConnectionFailedError(
                        "stopped without releasing the lock(s): "
                        "Redis did not answer; they expire within "
                        f"{self.options.leader_lock_timeout} s"
                    )
                )
            except Exception as exc:  # Redis gone: the lock expires on its own
                self.events.emit("error", exc, None, error=str(exc))
            self.leader = False
        if self.running:
            self.running = False
            self.events.emit("end", datetime.now(UTC), scheduler=self.name)
        if self._owns_driver:
            await self._driver.aclose()

    end = stop  # node-resque's name

    def request_stop(self) -> None:
        """Ask the loop to stop after its current step (signal-handler safe)."""
        self._stop.set()

    def cut_off(self) -> None:
        """Stop now, without waiting for Redis to answer the step in flight or the lock
        release (a second signal): each step is atomic, and the lock expires by itself."""
        self._stop.set()
        for task in (self._task, self._releasing):
            if task is not None and not task.done():
                task.cancel()

    async def _loop(self) -> None:
        backoff = Backoff(cap=self.options.timeout / 1000)
        while not self._stop.is_set():
            try:
                again = await self.poll()
            except UNAVAILABLE as exc:  # Redis away or busy: wait (less than a poll) and go on
                self._report(exc, "redis")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff.next()):
                        await self._stop.wait()
                continue
            except Exception as exc:
                self._report(exc)
                again = False
            backoff.reset()
            if not again:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.options.timeout / 1000):
                        await self._stop.wait()

    def _report(self, exc: BaseException, kind: str | None = None) -> None:
        """Emit ``error``, once per interval for the same kind of trouble."""
        if self._reports.due(kind or f"{type(exc).__name__}:{getattr(exc, 'key', '')}"):
            self.events.emit("error", exc, None, error=str(exc))

    # -- one poll ----------------------------------------------------------------------------
    async def poll(self) -> bool:
        """One poll: take or keep the lock; as leader move the earliest due second, or, when
        none is due, clean up dead workers. True when it should poll again at once."""
        if not await self._try_for_leader():
            return False
        self.events.emit("poll")
        now = time.monotonic()
        self._stuck = {ts: until for ts, until in self._stuck.items() if until > now}
        ts = await self._run(plans.next_due(self.context, self._stuck))
        if ts is not None:
            self.events.emit("workingTimestamp", _number(ts), timestamp=ts)
            try:
                await self._promote(ts)
            except RedisReplyError as exc:  # e.g. the failed list is not a list: nothing moved
                self._stuck[ts] = now + self.options.timeout / 1000
                self._report(exc)
            return True
        await self.check_stuck_workers()
        return False

    async def _try_for_leader(self) -> bool:
        try:
            held = await self._run(
                plans.hold_locks(
                    self.context, self.lock_keys, self.lock_values, self.options.leader_lock_timeout
                )
            )
        except Exception:
            self.leader = False  # unknown: act as a follower until a poll says otherwise
            raise
        if held:
            self._held_at = time.monotonic()
        if held and not self.leader:
            self.leader = True
            self.events.emit("leader", scheduler=self.name)
        elif not held and self.leader:
            self.leader = False
            self.events.logger.info("%r: no longer the leader", self)
        return held

    # -- promotion ---------------------------------------------------------------------------
    async def _promote(self, ts: str) -> None:
        """Move every item due at ``ts``, a batch at a time, until the second is gone."""
        ctx = self.context
        while not self._stop.is_set():
            # A long second (many items, slow plugins): keep the lock fresh, once a poll
            # interval, and stop at once if it is lost.
            stale = time.monotonic() - self._held_at > self.options.timeout / 1000
            if stale and not await self._try_for_leader():
                return
            raws = await self._run(plans.read_due(ctx, ts))
            if raws is None:
                await self._run(plans.move(ctx, ts, []))
                self._not_a_list(ts)
                return
            transfers = [plans.transfer_for(ctx, r, ts=ts, worker=self.name) for r in raws]
            result = await self._move_all(ts, transfers)
            if result.moved == -2:
                self._not_a_list(ts)
                return
            if result.moved >= 0 and result.left == 0:
                return
            # -1: the list changed under us (another scheduler, a delete): read it again.

    def _not_a_list(self, ts: str) -> None:
        exc = PayloadDecodeError(
            f"delayed second {ts} is in the schedule but its key is not a list: "
            "dropped from the schedule, key left alone",
            key=self.context.keys.delayed(ts),
        )
        self.events.emit("error", exc, None, error=str(exc))

    def _definition(self, transfer: Transfer) -> JobDefinition | None:
        if transfer.problem is not None:
            return None
        found = self.jobs.get(transfer.job_class)
        return found if found is not None and found.plugins else None

    async def _move_all(self, ts: str, transfers: list[Transfer]) -> Moved:
        """Move ``transfers`` in order: each run of items without enqueue plugins in one
        script, an item with plugins on its own between its hooks. An item whose queue key
        cannot take it goes to ``failed`` instead, with the reason."""
        if not transfers:
            return await self._run(plans.move(self.context, ts, []))
        result = Moved(0, 1)
        start = 0
        while start < len(transfers):
            definition = self._definition(transfers[start])
            if definition is not None:
                result = await self._move_one(ts, transfers[start], definition)
                if result.moved == -3:
                    transfers[start] = self._unusable(ts, transfers[start])
                    continue
                start += 1
            else:
                end = start + 1
                while end < len(transfers) and self._definition(transfers[end]) is None:
                    end += 1
                result = await self._run(plans.move(self.context, ts, transfers[start:end]))
                if result.moved == -3:
                    bad = start + result.left - 1
                    transfers[bad] = self._unusable(ts, transfers[bad])
                    continue
                if result.moved >= 0:
                    self._reported(ts, transfers[start:end])
                start = end
            if result.moved < 0:
                break
        return result

    def _unusable(self, ts: str, transfer: Transfer) -> Transfer:
        return plans.unusable_queue(self.context, transfer, ts=ts, worker=self.name)

    def _reported(self, ts: str, transfers: Sequence[Transfer]) -> None:
        for t in transfers:
            if t.problem is None:
                self.events.emit("transferredJob", _number(ts), t.job, queue=t.queue)
            else:
                exc = PayloadDecodeError(t.problem, key=self.context.keys.delayed(ts), raw=t.raw)
                self.events.emit("error", exc, t.queue or None, error=t.problem)

    async def _move_one(self, ts: str, transfer: Transfer, definition: JobDefinition) -> Moved:
        hooks: dict[str, Any] = {
            "plugins": definition.plugins,
            "plugin_options": definition.plugin_options,
            "owner": self,
            "context": self.context,
            "runner": self._run,
            "queue_object": self.queue,
            "job_class": transfer.job_class,
            "queue": transfer.queue,
            "job": definition,
            "args": transfer.args,
        }
        try:
            allowed = await run_plugins("before_enqueue", **hooks, moving_from=ts)
        except Exception as exc:  # a raising hook must not stall the schedule: fail the job
            failed = plans.failed_transfer(
                self.context, transfer, ts=ts, worker=self.name,
                why=f"before_enqueue raised {type(exc).__name__}: {exc}",
                exception=type(exc).__name__,
            )  # fmt: skip
            result = await self._run(plans.move(self.context, ts, [failed]))
            if result.moved >= 0:
                self._reported(ts, [failed])
            return result
        result = await self._run(plans.move(self.context, ts, [transfer], dropped=[not allowed]))
        if result.moved < 0:
            return result
        if not allowed:
            self.events.emit("vetoedJob", _number(ts), transfer.job, queue=transfer.queue)
            return result
        self._reported(ts, [transfer])
        try:
            await run_plugins("after_enqueue", **hooks)
        except Exception as exc:  # the job is queued already; say so and go on
            self.events.emit("error", exc, transfer.queue, error=str(exc))
        return result

    # -- dead workers ------------------------------------------------------------------------
    async def check_stuck_workers(self) -> None:
        """Clean up workers whose node ping or resque heartbeat is older than
        ``stuck_worker_timeout``; then, with ``retry_stuck_jobs``, retry dead workers' jobs."""
        ctx, limit = self.context, self.options.stuck_worker_timeout
        if not limit:
            return  # as node-resque: no timeout, no check (and no retry)
        for stale in await self._run(plans.stale_workers(ctx, float(limit))):
            if stale.kind == "ping":
                done = await self._run(
                    worker_plans.clean_stuck_worker(ctx, stale.name, stale.value)
                )
            else:
                done = await self._run(worker_plans.prune_dead_worker(ctx, stale.name, stale.value))
            if done.cleaned:
                self.events.emit(
                    "cleanStuckWorker", stale.name, done.entry, stale.delta,
                    worker=stale.name, delta=stale.delta,
                )  # fmt: skip
        if self.options.retry_stuck_jobs:
            await self._run(failed_plans.retry_stuck_jobs(ctx))
