"""The asyncio queue client: node-resque's ``Queue`` API, plus Ruby resque's extras."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import redis.asyncio

from pyresque.bulk import (
    DEFAULT_CHUNK,
    BatchEntry,
    Bulk,
    BulkItem,
    BulkResult,
    batch_entries,
)
from pyresque.connection import AsyncDriver, Settings, open_async_driver, replication
from pyresque.connection.patience import DEFAULT_PATIENCE, run_patiently
from pyresque.definitions import JobDefinition, JobDefinitions, job_definitions
from pyresque.plugins.base import run_plugins
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect, job_args
from pyresque.protocol.payloads import FailedJob, Job, WorkingOn
from pyresque.protocol.plan import Call, Plan
from pyresque.protocol.plans import delayed, jobs
from pyresque.protocol.plans import failed as failed_plans
from pyresque.protocol.plans import overview as overview_plans
from pyresque.protocol.plans import stats as stats_plans
from pyresque.protocol.plans import workers as worker_plans
from pyresque.protocol.plans.delayed import DelayedAt
from pyresque.protocol.status import Status, Unreadable

__all__ = [
    "BulkItem",
    "BulkResult",
    "DelayedAt",
    "EnqueueWrapper",
    "Enqueueing",
    "Queue",
    "exit_wrappers",
]

T = TypeVar("T")


@dataclass(slots=True)
class Enqueueing:
    """One job being written, as a queue's ``around_enqueue`` wrappers see it."""

    queue: str
    job_class: str
    args: list[Any]
    at_ms: float | None
    """Its due time (unix ms) for a delayed job; None for an immediate one."""
    extra: dict[str, str] = field(default_factory=dict)
    """Extra top-level string fields a wrapper adds to the payload (written after the
    standard ones; ``spec/tracing.md``). Empty: the usual bytes."""


EnqueueWrapper = Callable[[Enqueueing], AbstractContextManager[object]]
"""An entry of a queue's ``around_enqueue`` list: called with each job the queue writes
(after before_enqueue hooks allowed it), it returns a context manager entered before the
write and exited after it, with the write's error if it failed (which it cannot
swallow)."""


def exit_wrappers(stack: contextlib.ExitStack[Any], error: BaseException | None) -> None:
    """Close the wrappers entered on ``stack``, last first, telling them ``error`` as if
    raised inside (None: success). What they return is ignored; what they raise is raised."""
    if error is None:
        stack.close()
    else:
        stack.__exit__(type(error), error, error.__traceback__)


def _ping() -> Plan[None]:
    yield Call("PING")


class Queue:
    """Enqueue and inspect resque jobs.

    ``redis`` is a URL (``redis://``, ``rediss://``, ``unix://``; default ``$REDIS_URL``
    or ``redis://127.0.0.1:6379/0``), for which pyresque opens its own pipelined
    connection, or a ``redis.asyncio.Redis`` you own (it is not closed by :meth:`aclose`).

    Times follow node-resque: due times and delays in milliseconds, ``scheduled_at`` and
    ``delete_delayed`` in seconds. ``args`` is a list of JSON values (a single non-list
    value is wrapped in a list, ``None`` means no arguments).

    ``patience``: for how many seconds a call sends a command again (with backoff) while
    Redis refuses it for now without running it (``LOADING`` after a restart, ``READONLY``
    in a failover, ``OOM`` ...) or cannot be reached; after that the error is raised
    (e.g. :class:`~pyresque.errors.RedisOutOfMemoryError`, also redis-py's
    ``OutOfMemoryError``). A command whose reply was lost is never sent again (it may have
    run), unless it only reads: that raises :class:`~pyresque.errors.ConnectionFailedError`
    at once. 0 disables.
    """

    def __init__(
        self,
        redis: str | Settings | redis.asyncio.Redis | AsyncDriver | None = None,
        *,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        jobs: Mapping[str, Any] | None = None,
        clock: Callable[[], float] | None = None,
        patience: float = DEFAULT_PATIENCE,
    ) -> None:
        Context.create(namespace, dialect)  # a bad namespace or dialect: before connecting
        if isinstance(redis, AsyncDriver):
            self._driver, self._owns_driver = redis, False
        else:
            self._driver, self._owns_driver = open_async_driver(redis), True
        self.context = Context.create(namespace, dialect, clock=clock, **replication(self._driver))
        self.patience = patience
        # With ``jobs``, enqueue runs the jobs' plugins (before_enqueue may veto).
        self.jobs: JobDefinitions = job_definitions(jobs)
        self.around_enqueue: list[EnqueueWrapper] = []
        """Wrappers around each job this queue writes (:data:`EnqueueWrapper`); tracing
        (:class:`pyresque.tracing.Tracing`) adds one."""

    @property
    def dialect(self) -> Dialect:
        """Whose bytes this queue writes (it reads both peers')."""
        return self.context.dialect

    @property
    def driver(self) -> AsyncDriver:
        """The connection this queue runs on: hand it to a Worker or Scheduler to share it."""
        return self._driver

    @property
    def namespace(self) -> str | tuple[str, ...]:
        """The key namespace (``resque`` unless given)."""
        return self.context.keys.namespace

    def __repr__(self) -> str:
        return f"Queue(namespace={self.namespace!r}, dialect={self.dialect.name!r})"

    def _run(self, plan: Plan[T]) -> Awaitable[T]:
        return run_patiently(plan, self._driver, self.patience)

    async def connect(self) -> None:
        """Check that Redis answers (commands connect on their own anyway), with the
        queue's patience."""
        await self._run(_ping())

    async def aclose(self) -> None:
        """Close the connection, if this queue opened it (a client you gave stays open)."""
        if self._owns_driver:
            await self._driver.aclose()

    def after_fork(self) -> None:
        """Call in a forked child before using this queue there: the connection it
        inherited is its parent's, so it is forgotten (not closed) and a new one opened."""
        self._driver.after_fork()

    async def __aenter__(self) -> Queue:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- immediate queues ------------------------------------------------------------------
    async def enqueue(self, queue: str, job_class: str, args: object = None) -> bool:
        """Push a job; False (nothing written) when a plugin's before_enqueue vetoes it."""
        definition = self.jobs.get(job_class)
        if definition is None or not definition.plugins:
            if not self.around_enqueue:
                return await self._run(jobs.enqueue(self.context, queue, job_class, args))
            return await self._push(queue, job_class, job_args(args))
        arguments = job_args(args)
        hooks = self._plugin_call(definition, queue, job_class, arguments)
        if not await run_plugins("before_enqueue", **hooks):
            return False
        await self._push(queue, job_class, arguments)
        await run_plugins("after_enqueue", **hooks)
        return True

    async def _push(self, queue: str, job_class: str, args: list[Any]) -> bool:
        call = Enqueueing(queue, job_class, args, None)
        return await self._wrapped(
            call, lambda: jobs.enqueue(self.context, queue, job_class, args, extra=call.extra)
        )

    async def _wrapped(self, call: Enqueueing, plan: Callable[[], Plan[T]]) -> T:
        """Run ``plan()`` (made once the wrappers have entered) inside ``around_enqueue``."""
        stack = contextlib.ExitStack()
        try:
            for wrap in self.around_enqueue:
                stack.enter_context(wrap(call))
            result = await self._run(plan())
        except BaseException as exc:
            exit_wrappers(stack, exc)
            raise
        exit_wrappers(stack, None)
        return result

    def _plugin_call(
        self, definition: JobDefinition, queue: str, job_class: str, args: list[Any]
    ) -> dict[str, Any]:
        return {
            "plugins": definition.plugins,
            "plugin_options": definition.plugin_options,
            "owner": self,
            "context": self.context,
            "runner": self._run,
            "queue_object": self,
            "job_class": job_class,
            "queue": queue,
            "job": definition,
            "args": args,
        }

    # -- bulk ------------------------------------------------------------------------------
    async def enqueue_many(
        self,
        queue: str,
        job_class: str,
        args_iterable: Iterable[object],
        *,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> BulkResult:
        """Push one job of ``job_class`` onto ``queue`` per item of ``args_iterable`` (each
        item a job's args, as :meth:`enqueue` takes them), in order, ``chunk_size`` jobs
        (at most 5000) per script call: the bytes, keys and plugins of as many
        :meth:`enqueue` calls. Returns a :class:`~pyresque.bulk.BulkResult`: how many were
        written, and the index of each job a plugin's before_enqueue vetoed (skipped).

        ``args_iterable`` is read a chunk at a time (a generator of millions is fine). Each
        chunk is encoded whole before any of it is written: an item that cannot be encoded
        (NaN, a value that is not JSON ...) raises
        :class:`~pyresque.errors.PayloadEncodeError` naming its index (``.index``), after
        the chunks before it were written and with nothing of its own chunk written. A job
        whose plugins have enqueue hooks is written on its own between them, after the jobs
        before it, exactly as :meth:`enqueue` would; the others go a chunk per call."""
        return await self._bulk(chunk_size).run_many(queue, job_class, args_iterable)

    async def enqueue_batch(
        self, items: Iterable[BatchEntry], *, chunk_size: int = DEFAULT_CHUNK
    ) -> BulkResult:
        """Enqueue a mix of jobs: each item a :class:`~pyresque.bulk.BulkItem` or a tuple
        ``(queue, job_class, args)`` or ``(queue, job_class, args, at)``, ``at`` a due time
        (unix ms or an aware datetime; None: now). A job with ``at`` is written as
        :meth:`enqueue_at` writes it (no plugins; node dialect: one already due that second
        is not written and its index is listed in ``duplicates``, as ``suppress_duplicate``
        would; ruby dialect: a due time not in the future enqueues at once), one without as
        :meth:`enqueue` does. Chunks, errors (an item of another shape raises
        :class:`~pyresque.errors.ArgumentError` naming its index) and the result: as
        :meth:`enqueue_many`."""
        return await self._bulk(chunk_size).run(batch_entries(items))

    def _bulk(self, chunk_size: int) -> Bulk:
        wrapped = bool(self.around_enqueue)
        return Bulk(
            self.context,
            runner=self._run,
            jobs=self.jobs,
            hooks=self._plugin_call,
            enter=self._enter_wrappers if wrapped else None,
            leave=exit_wrappers if wrapped else None,
            chunk_size=chunk_size,
        )

    def _enter_wrappers(
        self, queue: str, job_class: str, args: list[Any], at_ms: float | None
    ) -> tuple[contextlib.ExitStack[Any], dict[str, str]]:
        call = Enqueueing(queue, job_class, args, at_ms)
        stack = contextlib.ExitStack()
        try:
            for wrap in self.around_enqueue:
                stack.enter_context(wrap(call))
        except BaseException as exc:
            exit_wrappers(stack, exc)
            raise
        return stack, call.extra

    async def queues(self) -> list[str]:
        """Every known queue name (the ``queues`` set), sorted."""
        return await self._run(jobs.queues(self.context))

    async def delete_queue(self, queue: str) -> None:
        """Delete a queue's jobs and its name (node-resque's ``delQueue``, Ruby's
        ``remove_queue``)."""
        await self._run(jobs.delete_queue(self.context, queue))

    async def length(self, queue: str) -> int:
        """How many jobs wait in ``queue``."""
        return await self._run(jobs.length(self.context, queue))

    async def queued(self, queue: str, start: int = 0, stop: int = -1) -> list[Job]:
        """The jobs waiting in ``queue`` from ``start`` to ``stop`` (inclusive, Redis
        ``LRANGE`` indexes), decoded; either peer's payloads."""
        return await self._run(jobs.queued(self.context, queue, start, stop))

    async def delete(self, queue: str, job_class: str, args: object = None, count: int = 0) -> int:
        """Remove jobs equal to (``job_class``, ``args``) from ``queue``, whichever peer
        wrote them: every one (``count`` 0), the first ``count``, or the last ``-count``.
        Returns how many were removed (node-resque's ``del``)."""
        return await self._run(jobs.delete(self.context, queue, job_class, args, count))

    async def delete_by_function(
        self, queue: str, job_class: str, start: int = 0, stop: int = -1
    ) -> int:
        """Remove every job of ``job_class`` in ``queue`` between ``start`` and
        ``stop``; how many matched (node-resque's ``delByFunction``)."""
        return await self._run(jobs.delete_by_function(self.context, queue, job_class, start, stop))

    async def dequeue(self, queue: str, job_class: str, args: object = None) -> int:
        """Ruby's ``Resque.dequeue``: every job of ``job_class`` in ``queue``, or only
        those with ``args``; how many were removed."""
        return await self._run(jobs.dequeue(self.context, queue, job_class, args))

    # -- delayed jobs ----------------------------------------------------------------------
    async def enqueue_at(
        self,
        at: float | datetime,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        """Delay a job until ``at`` (unix ms, or an aware datetime); a scheduler moves
        it to ``queue`` then. node dialect: an identical job already due that second raises
        :class:`~pyresque.errors.DuplicateJobError` (None with ``suppress_duplicate``); ruby
        dialect: duplicates are kept and a due time not in the future enqueues at once."""
        if not self.around_enqueue:
            return await self._run(
                delayed.enqueue_at(
                    self.context, at, queue, job_class, args, suppress_duplicate=suppress_duplicate
                )
            )
        call = Enqueueing(queue, job_class, job_args(args), delayed.to_ms(at))
        return await self._wrapped(
            call,
            lambda: delayed.enqueue_at(
                self.context, at, queue, job_class, call.args,
                suppress_duplicate=suppress_duplicate, extra=call.extra,
            ),
        )  # fmt: skip

    async def enqueue_in(
        self,
        delay: float | timedelta,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        """Delay a job by ``delay`` (ms, or a timedelta): :meth:`enqueue_at` of now
        plus the delay."""
        if not self.around_enqueue:
            return await self._run(
                delayed.enqueue_in(
                    self.context,
                    delay,
                    queue,
                    job_class,
                    args,
                    suppress_duplicate=suppress_duplicate,
                )
            )
        at = self.context.now_ms() + math.trunc(delayed.delay_ms(delay))
        return await self.enqueue_at(
            at, queue, job_class, args, suppress_duplicate=suppress_duplicate
        )

    async def scheduled_at(self, queue: str, job_class: str, args: object = None) -> list[int]:
        """The seconds (unix) at which this exact job is delayed."""
        return await self._run(delayed.scheduled_at(self.context, queue, job_class, args))

    async def delete_delayed(self, queue: str, job_class: str, args: object = None) -> list[int]:
        """Remove every delayed copy of this job; the seconds (unix) they were due
        at (node-resque's ``delDelayed``)."""
        return await self._run(delayed.delete_delayed(self.context, queue, job_class, args))

    async def remove_delayed(self, queue: str, job_class: str, args: object = None) -> int:
        """resque-scheduler's ``remove_delayed``: how many delayed copies of this job
        were removed."""
        return await self._run(delayed.remove_delayed(self.context, queue, job_class, args))

    async def timestamps(self) -> list[int]:
        """The due times (unix ms) that hold delayed jobs, earliest first."""
        return await self._run(delayed.timestamps(self.context))

    async def delayed_at(self, at: float | datetime) -> DelayedAt:
        """The jobs due in the second of ``at`` and that second (node-resque's
        ``delayedAt``)."""
        return await self._run(delayed.delayed_at(self.context, at))

    async def all_delayed(self) -> dict[str, list[Job]]:
        """Every delayed job, keyed by its due time in ms (as a string), earliest
        first."""
        return await self._run(delayed.all_delayed(self.context))

    async def delayed_queue_peek(self, start: int, count: int) -> list[int]:
        """resque-scheduler's ``delayed_queue_peek``: ``count`` due seconds from
        index ``start`` of the schedule."""
        return await self._run(delayed.delayed_queue_peek(self.context, start, count))

    async def delayed_queue_schedule_size(self) -> int:
        """How many seconds hold delayed jobs (resque-scheduler's
        ``delayed_queue_schedule_size``)."""
        return await self._run(delayed.delayed_queue_schedule_size(self.context))

    async def delayed_timestamp_size(self, timestamp: int) -> int:
        """How many jobs are due at ``timestamp`` (unix seconds)."""
        return await self._run(delayed.delayed_timestamp_size(self.context, timestamp))

    async def delayed_timestamp_peek(self, timestamp: int, start: int, count: int) -> list[Job]:
        """``count`` jobs due at ``timestamp`` (unix seconds) from index
        ``start``."""
        return await self._run(
            delayed.delayed_timestamp_peek(self.context, timestamp, start, count)
        )

    async def count_all_scheduled_jobs(self) -> int:
        """How many jobs are delayed in all."""
        return await self._run(delayed.count_all_scheduled_jobs(self.context))

    # -- locks -----------------------------------------------------------------------------
    async def locks(self) -> dict[str, str | None]:
        """Plugin locks (QueueLock's ``lock:*`` and JobLock's ``workerslock:*``), name
        without the namespace -> value."""
        return await self._run(stats_plans.locks(self.context))

    async def delete_lock(self, key: str) -> int:
        """Delete a lock by its name as :meth:`locks` gives it; 1 when it existed."""
        return await self._run(stats_plans.delete_lock(self.context, key))

    # -- workers ---------------------------------------------------------------------------
    async def workers(self) -> dict[str, str | None]:
        """Every registered worker, node or Ruby: ``{name: queues}``."""
        return await self._run(worker_plans.workers(self.context))

    async def working_on(self, worker_name: str, queues: str) -> WorkingOn | None:
        """The job ``worker_name`` on ``queues`` holds, or None."""
        return await self._run(worker_plans.working_on(self.context, worker_name, queues))

    async def all_working_on(self) -> dict[str, WorkingOn | str]:
        """``{worker name: its working-on record, or "started"}`` for every
        registered worker."""
        return await self._run(worker_plans.all_working_on(self.context))

    async def force_clean_worker(
        self, worker_name: str, *, reason: str | None = None
    ) -> dict[str, Any] | None:
        """Unregister a worker (dead or stuck) and write the job it held to the
        failed list, as node-resque's ``forceCleanWorker`` does; the failure entry, or None
        when it held no job. ``reason`` replaces the entry's ``error`` text."""
        return await self._run(
            worker_plans.force_clean_worker(self.context, worker_name, reason=reason)
        )

    async def clean_old_workers(self, age_ms: float) -> dict[str, dict[str, Any]]:
        """Force-clean every worker whose current job started more than
        ``age_ms`` ago; ``{worker name: failure entry}``."""
        return await self._run(worker_plans.clean_old_workers(self.context, age_ms))

    # -- failed jobs -----------------------------------------------------------------------
    async def failed_count(self) -> int:
        """How many entries the failed list holds."""
        return await self._run(failed_plans.failed_count(self.context))

    async def failed(self, start: int = 0, stop: int = -1) -> list[FailedJob]:
        """Failed entries from ``start`` to ``stop`` (inclusive), decoded."""
        return await self._run(failed_plans.failed(self.context, start, stop))

    async def remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> int:
        """Remove one failed entry equal to ``failed_job``; 1 when found."""
        return await self._run(failed_plans.remove_failed(self.context, failed_job))

    async def retry_and_remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> bool:
        """Take ``failed_job`` off the failed list and enqueue its job again, in
        one step; :class:`~pyresque.errors.JobNotFoundError` when it is not there."""
        return await self._run(failed_plans.retry_and_remove_failed(self.context, failed_job))

    async def retry_stuck_jobs(self, upper_limit: int | None = None) -> int:
        """Re-enqueue the jobs of dead workers (node's force-clean entries,
        Ruby's DirtyExit) among the first ``upper_limit`` failed entries; how many."""
        return await self._run(failed_plans.retry_stuck_jobs(self.context, upper_limit))

    async def requeue_failed(self, index: int, queue: str | None = None) -> bool:
        """resque's ``Failure.requeue``: stamp ``retried_at`` on the entry at
        ``index`` and enqueue its job (to ``queue`` if given)."""
        return await self._run(failed_plans.requeue_failed(self.context, index, queue))

    async def remove_failed_at(self, index: int) -> bool:
        """resque's ``Failure.remove``: delete the failed entry at ``index``."""
        return await self._run(failed_plans.remove_failed_at(self.context, index))

    # -- leader and stats ------------------------------------------------------------------
    async def leader(self) -> str | None:
        """The scheduler holding the leader lock (the dialect's, else the other
        peer's), or None."""
        return await self._run(stats_plans.leader(self.context))

    async def stats(self) -> dict[str, str | None]:
        """The ``stat:*`` counters as node-resque reports them:
        ``{"processed": "12", "failed:host:pid": "1", ...}``."""
        return await self._run(stats_plans.stats(self.context))

    async def info(self) -> dict[str, Any]:
        """Ruby's ``Resque.info``, read as Ruby reads it (see
        :func:`pyresque.protocol.plans.stats.info`)."""
        return await self._run(stats_plans.info(self.context))

    # -- reading around what cannot be read --------------------------------------------------
    async def queue_lengths(self, queues: Sequence[str]) -> dict[str, int | Unreadable]:
        """Each queue's length, or an ``Unreadable`` marker (naming the key and why) for
        one whose key cannot be read; the others are read all the same."""
        return await self._run(overview_plans.queue_lengths(self.context, queues))

    async def status(self) -> Status:
        """Queues, delayed jobs, workers, failed count, stats and leader: what ``pyresque
        status`` shows (:mod:`pyresque.protocol.status`). Each value is read on its own:
        what cannot be read is an ``Unreadable`` marker in its place, naming the key."""
        return await self._run(overview_plans.status(self.context))
