"""A blocking queue client for WSGI, Django and scripts: the same API as
:class:`pyresque.Queue` without ``await``, running the same command plans."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import redis

from pyresque.bulk import (
    DEFAULT_CHUNK,
    BatchEntry,
    Bulk,
    BulkItem,
    BulkResult,
    batch_entries,
)
from pyresque.connection import Settings, SyncDriver, open_sync_driver, replication
from pyresque.connection.patience import DEFAULT_PATIENCE, run_patiently_sync
from pyresque.definitions import JobDefinition, JobDefinitions, job_definitions
from pyresque.errors import ConfigurationError
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

__all__ = ["BulkItem", "BulkResult", "DelayedAt", "Queue"]

T = TypeVar("T")


def _ping() -> Plan[None]:
    yield Call("PING")


def _drive(hooks: Coroutine[Any, Any, T]) -> T:
    """Run plugin hooks to the end here, without an event loop: on a blocking queue their
    Redis calls block and return at once, so they never wait on anything else."""
    try:
        awaited = hooks.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    hooks.close()
    raise ConfigurationError(
        f"a plugin hook awaited {awaited!r}: pyresque.sync.Queue runs enqueue hooks "
        "without an event loop, so they may only use the queue and plugin.run()"
    )


class _Blocking:
    """The async face plugin hooks expect of their queue (``plugin.queue_object``), over a
    blocking queue."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    async def enqueue(self, queue: str, job_class: str, args: object = None) -> bool:
        return self._queue.enqueue(queue, job_class, args)

    async def enqueue_in(
        self,
        delay: float | timedelta,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        return self._queue.enqueue_in(
            delay, queue, job_class, args, suppress_duplicate=suppress_duplicate
        )


class Queue:
    """Blocking twin of :class:`pyresque.Queue`.

    ``redis`` is a URL (default ``$REDIS_URL`` or ``redis://127.0.0.1:6379/0``) or a
    ``redis.Redis`` you own (not closed by :meth:`close`). Safe to share between threads:
    each call takes a connection from the client's pool. ``jobs`` and ``patience``: as for
    :class:`pyresque.Queue` (with ``jobs``, an enqueue runs the jobs' enqueue plugins,
    QueueLock, DelayQueueLock and your own, here and now: their hooks may use the queue
    and ``plugin.run()``, not other asyncio calls).
    """

    def __init__(
        self,
        redis: str | Settings | redis.Redis | None = None,
        *,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        jobs: Mapping[str, Any] | None = None,
        clock: Callable[[], float] | None = None,
        patience: float = DEFAULT_PATIENCE,
    ) -> None:
        Context.create(namespace, dialect)  # a bad namespace or dialect: before connecting
        self._driver: SyncDriver = open_sync_driver(redis)
        self.context = Context.create(namespace, dialect, clock=clock, **replication(self._driver))
        self.patience = patience
        self.jobs: JobDefinitions = job_definitions(jobs)

    @property
    def dialect(self) -> Dialect:
        """Whose bytes this queue writes (it reads both peers')."""
        return self.context.dialect

    @property
    def namespace(self) -> str | tuple[str, ...]:
        """The key namespace (``resque`` unless given)."""
        return self.context.keys.namespace

    def __repr__(self) -> str:
        return f"sync.Queue(namespace={self.namespace!r}, dialect={self.dialect.name!r})"

    def _run(self, plan: Plan[T]) -> T:
        return run_patiently_sync(plan, self._driver, self.patience)

    def connect(self) -> None:
        """Check that Redis answers (commands connect on their own anyway), with the
        queue's patience."""
        self._run(_ping())

    def close(self) -> None:
        """Close the connections this queue opened (a client you gave stays open)."""
        self._driver.close()

    def __enter__(self) -> Queue:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- immediate queues ------------------------------------------------------------------
    def enqueue(self, queue: str, job_class: str, args: object = None) -> bool:
        """Push a job; False (nothing written) when a plugin's before_enqueue vetoes it."""
        definition = self.jobs.get(job_class)
        if definition is None or not definition.plugins:
            return self._run(jobs.enqueue(self.context, queue, job_class, args))
        arguments = job_args(args)
        hooks = self._plugin_call(definition, queue, job_class, arguments)
        if not _drive(run_plugins("before_enqueue", **hooks)):
            return False
        self._run(jobs.enqueue(self.context, queue, job_class, arguments))
        _drive(run_plugins("after_enqueue", **hooks))
        return True

    def _plugin_call(
        self, definition: JobDefinition, queue: str, job_class: str, args: list[Any]
    ) -> dict[str, Any]:
        async def runner(plan: Plan[Any]) -> Any:
            return self._run(plan)

        return {
            "plugins": definition.plugins,
            "plugin_options": definition.plugin_options,
            "owner": self,
            "context": self.context,
            "runner": runner,
            "queue_object": _Blocking(self),
            "job_class": job_class,
            "queue": queue,
            "job": definition,
            "args": args,
        }

    # -- bulk ------------------------------------------------------------------------------
    def enqueue_many(
        self,
        queue: str,
        job_class: str,
        args_iterable: Iterable[object],
        *,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> BulkResult:
        return _drive(self._bulk(chunk_size).run_many(queue, job_class, args_iterable))

    def enqueue_batch(
        self, items: Iterable[BatchEntry], *, chunk_size: int = DEFAULT_CHUNK
    ) -> BulkResult:
        return _drive(self._bulk(chunk_size).run(batch_entries(items)))

    def _bulk(self, chunk_size: int) -> Bulk:
        async def runner(plan: Plan[Any]) -> Any:
            return self._run(plan)

        return Bulk(
            self.context,
            runner=runner,
            jobs=self.jobs,
            hooks=self._plugin_call,
            chunk_size=chunk_size,
        )

    def queues(self) -> list[str]:
        return self._run(jobs.queues(self.context))

    def delete_queue(self, queue: str) -> None:
        self._run(jobs.delete_queue(self.context, queue))

    def length(self, queue: str) -> int:
        return self._run(jobs.length(self.context, queue))

    def queued(self, queue: str, start: int = 0, stop: int = -1) -> list[Job]:
        return self._run(jobs.queued(self.context, queue, start, stop))

    def delete(self, queue: str, job_class: str, args: object = None, count: int = 0) -> int:
        return self._run(jobs.delete(self.context, queue, job_class, args, count))

    def delete_by_function(self, queue: str, job_class: str, start: int = 0, stop: int = -1) -> int:
        return self._run(jobs.delete_by_function(self.context, queue, job_class, start, stop))

    def dequeue(self, queue: str, job_class: str, args: object = None) -> int:
        return self._run(jobs.dequeue(self.context, queue, job_class, args))

    # -- delayed jobs ----------------------------------------------------------------------
    def enqueue_at(
        self,
        at: float | datetime,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        return self._run(
            delayed.enqueue_at(
                self.context, at, queue, job_class, args, suppress_duplicate=suppress_duplicate
            )
        )

    def enqueue_in(
        self,
        delay: float | timedelta,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        return self._run(
            delayed.enqueue_in(
                self.context, delay, queue, job_class, args, suppress_duplicate=suppress_duplicate
            )
        )

    def scheduled_at(self, queue: str, job_class: str, args: object = None) -> list[int]:
        return self._run(delayed.scheduled_at(self.context, queue, job_class, args))

    def delete_delayed(self, queue: str, job_class: str, args: object = None) -> list[int]:
        return self._run(delayed.delete_delayed(self.context, queue, job_class, args))

    def remove_delayed(self, queue: str, job_class: str, args: object = None) -> int:
        return self._run(delayed.remove_delayed(self.context, queue, job_class, args))

    def timestamps(self) -> list[int]:
        return self._run(delayed.timestamps(self.context))

    def delayed_at(self, at: float | datetime) -> DelayedAt:
        return self._run(delayed.delayed_at(self.context, at))

    def all_delayed(self) -> dict[str, list[Job]]:
        return self._run(delayed.all_delayed(self.context))

    def delayed_queue_peek(self, start: int, count: int) -> list[int]:
        return self._run(delayed.delayed_queue_peek(self.context, start, count))

    def delayed_queue_schedule_size(self) -> int:
        return self._run(delayed.delayed_queue_schedule_size(self.context))

    def delayed_timestamp_size(self, timestamp: int) -> int:
        return self._run(delayed.delayed_timestamp_size(self.context, timestamp))

    def delayed_timestamp_peek(self, timestamp: int, start: int, count: int) -> list[Job]:
        return self._run(delayed.delayed_timestamp_peek(self.context, timestamp, start, count))

    def count_all_scheduled_jobs(self) -> int:
        return self._run(delayed.count_all_scheduled_jobs(self.context))

    # -- locks -----------------------------------------------------------------------------
    def locks(self) -> dict[str, str | None]:
        return self._run(stats_plans.locks(self.context))

    def delete_lock(self, key: str) -> int:
        return self._run(stats_plans.delete_lock(self.context, key))

    # -- workers ---------------------------------------------------------------------------
    def workers(self) -> dict[str, str | None]:
        return self._run(worker_plans.workers(self.context))

    def working_on(self, worker_name: str, queues: str) -> WorkingOn | None:
        return self._run(worker_plans.working_on(self.context, worker_name, queues))

    def all_working_on(self) -> dict[str, WorkingOn | str]:
        return self._run(worker_plans.all_working_on(self.context))

    def force_clean_worker(
        self, worker_name: str, *, reason: str | None = None
    ) -> dict[str, Any] | None:
        return self._run(worker_plans.force_clean_worker(self.context, worker_name, reason=reason))

    def clean_old_workers(self, age_ms: float) -> dict[str, dict[str, Any]]:
        return self._run(worker_plans.clean_old_workers(self.context, age_ms))

    # -- failed jobs -----------------------------------------------------------------------
    def failed_count(self) -> int:
        return self._run(failed_plans.failed_count(self.context))

    def failed(self, start: int = 0, stop: int = -1) -> list[FailedJob]:
        return self._run(failed_plans.failed(self.context, start, stop))

    def remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> int:
        return self._run(failed_plans.remove_failed(self.context, failed_job))

    def retry_and_remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> bool:
        return self._run(failed_plans.retry_and_remove_failed(self.context, failed_job))

    def retry_stuck_jobs(self, upper_limit: int | None = None) -> int:
        return self._run(failed_plans.retry_stuck_jobs(self.context, upper_limit))

    def requeue_failed(self, index: int, queue: str | None = None) -> bool:
        return self._run(failed_plans.requeue_failed(self.context, index, queue))

    def remove_failed_at(self, index: int) -> bool:
        return self._run(failed_plans.remove_failed_at(self.context, index))

    # -- leader and stats ------------------------------------------------------------------
    def leader(self) -> str | None:
        return self._run(stats_plans.leader(self.context))

    def stats(self) -> dict[str, str | None]:
        return self._run(stats_plans.stats(self.context))

    def info(self) -> dict[str, Any]:
        return self._run(stats_plans.info(self.context))

    # -- reading around what cannot be read --------------------------------------------------
    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int | Unreadable]:
        return self._run(overview_plans.queue_lengths(self.context, queues))

    def status(self) -> Status:
        return self._run(overview_plans.status(self.context))


def _documented_as_their_twins() -> None:
    """Each blocking method says what its async twin says (one text for both)."""
    from pyresque.queue import Queue as Twin

    for name, member in vars(Queue).items():
        twin = getattr(Twin, name, None)
        if name.startswith("_") or twin is None or getattr(member, "__doc__", None):
            continue
        if callable(member):
            member.__doc__ = twin.__doc__


_documented_as_their_twins()
