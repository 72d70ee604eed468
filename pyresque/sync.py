"""A blocking queue client for WSGI, Django and scripts: the same API as
:class:`pyresque.Queue` without ``await``, running the same command plans."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import redis

from pyresque.connection import Settings, SyncDriver, open_sync_driver
from pyresque.connection.patience import DEFAULT_PATIENCE, run_patiently_sync
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect
from pyresque.protocol.payloads import FailedJob, Job, WorkingOn
from pyresque.protocol.plan import Call, Plan
from pyresque.protocol.plans import admin, delayed, jobs
from pyresque.protocol.plans import overview as overview_plans
from pyresque.protocol.plans.delayed import DelayedAt
from pyresque.protocol.status import Status, Unreadable

__all__ = ["DelayedAt", "Queue"]

T = TypeVar("T")


def _ping() -> Plan[None]:
    yield Call("PING")


class Queue:
    """Blocking twin of :class:`pyresque.Queue`.

    ``redis`` is a URL (default ``$REDIS_URL`` or ``redis://127.0.0.1:6379/0``) or a
    ``redis.Redis`` you own (not closed by :meth:`close`). Safe to share between threads:
    each call takes a connection from the client's pool. ``patience``: as for
    :class:`pyresque.Queue`.
    """

    def __init__(
        self,
        redis: str | Settings | redis.Redis | None = None,
        *,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        clock: Callable[[], float] | None = None,
        patience: float = DEFAULT_PATIENCE,
    ) -> None:
        self.context = Context.create(namespace, dialect, clock=clock)
        self.patience = patience
        self._driver: SyncDriver = open_sync_driver(redis)

    @property
    def dialect(self) -> Dialect:
        return self.context.dialect

    @property
    def namespace(self) -> str | tuple[str, ...]:
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
        return self._run(jobs.enqueue(self.context, queue, job_class, args))

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
        return self._run(admin.locks(self.context))

    def delete_lock(self, key: str) -> int:
        return self._run(admin.delete_lock(self.context, key))

    # -- workers ---------------------------------------------------------------------------
    def workers(self) -> dict[str, str | None]:
        return self._run(admin.workers(self.context))

    def working_on(self, worker_name: str, queues: str) -> WorkingOn | None:
        return self._run(admin.working_on(self.context, worker_name, queues))

    def all_working_on(self) -> dict[str, WorkingOn | str]:
        return self._run(admin.all_working_on(self.context))

    def force_clean_worker(self, worker_name: str) -> dict[str, Any] | None:
        return self._run(admin.force_clean_worker(self.context, worker_name))

    def clean_old_workers(self, age_ms: float) -> dict[str, dict[str, Any]]:
        return self._run(admin.clean_old_workers(self.context, age_ms))

    # -- failed jobs -----------------------------------------------------------------------
    def failed_count(self) -> int:
        return self._run(admin.failed_count(self.context))

    def failed(self, start: int = 0, stop: int = -1) -> list[FailedJob]:
        return self._run(admin.failed(self.context, start, stop))

    def remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> int:
        return self._run(admin.remove_failed(self.context, failed_job))

    def retry_and_remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> bool:
        return self._run(admin.retry_and_remove_failed(self.context, failed_job))

    def retry_stuck_jobs(self, upper_limit: int | None = None) -> int:
        return self._run(admin.retry_stuck_jobs(self.context, upper_limit))

    def requeue_failed(self, index: int, queue: str | None = None) -> bool:
        return self._run(admin.requeue_failed(self.context, index, queue))

    def remove_failed_at(self, index: int) -> bool:
        return self._run(admin.remove_failed_at(self.context, index))

    # -- leader and stats ------------------------------------------------------------------
    def leader(self) -> str | None:
        return self._run(admin.leader(self.context))

    def stats(self) -> dict[str, str | None]:
        return self._run(admin.stats(self.context))

    def info(self) -> dict[str, Any]:
        return self._run(admin.info(self.context))

    # -- reading around what cannot be read --------------------------------------------------
    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int | Unreadable]:
        return self._run(overview_plans.queue_lengths(self.context, queues))

    def status(self) -> Status:
        return self._run(overview_plans.status(self.context))
