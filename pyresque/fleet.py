"""Operating a resque fleet: failed jobs at scale, delayed jobs, and the workers of every
peer. What a repair CLI and a dashboard call; ``spec/admin.md`` says what each action
writes.

::

    async with Queue(url) as queue:
        fleet = Fleet(queue)
        page = await fleet.failed.search(FailedFilter(exception="Resque::DirtyExit"))
        await fleet.failed.retry(page.entries)
        for worker in await fleet.workers.list():
            if worker.stale:
                await fleet.workers.clean(worker)

Every call runs on the queue's connection with its patience, and reads both peers' bytes
whatever the queue's dialect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pyresque.connection.patience import run_patiently
from pyresque.protocol.plan import Plan
from pyresque.protocol.plans import fleet_delayed, fleet_failed, fleet_workers
from pyresque.protocol.plans.fleet_delayed import DelayedJob, DelayedPage, DelayedSlot
from pyresque.protocol.plans.fleet_failed import (
    FailedAction,
    FailedEntry,
    FailedFilter,
    FailedPage,
)
from pyresque.protocol.plans.fleet_workers import DEFAULT_STALE_AFTER_MS, FleetKind, WorkerInfo
from pyresque.protocol.status import WorkerKind
from pyresque.queue import Queue

__all__ = [
    "DEFAULT_STALE_AFTER_MS",
    "DelayedJob",
    "DelayedJobs",
    "DelayedPage",
    "DelayedSlot",
    "FailedAction",
    "FailedEntry",
    "FailedFilter",
    "FailedJobs",
    "FailedPage",
    "Fleet",
    "FleetKind",
    "WorkerInfo",
    "Workers",
]

T = TypeVar("T")


class _Part:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def _run(self, plan: Plan[T]) -> T:
        return await run_patiently(plan, self.queue.driver, self.queue.patience)


class FailedJobs(_Part):
    """The ``failed`` list: pages, search, retry and remove (``fleet.failed``)."""

    async def count(self) -> int:
        """How many entries the list holds."""
        return (await self._run(fleet_failed.page(self.queue.context, 0, 0))).total

    async def page(self, offset: int = 0, limit: int = 50) -> FailedPage:
        """Entries ``[offset, offset + limit)`` with their indexes, decoded tolerantly (an
        entry that cannot be read is there as unreadable, with its text); one round trip."""
        return await self._run(fleet_failed.page(self.queue.context, offset, limit))

    async def get(self, index: int) -> FailedEntry | None:
        """The entry at ``index``, None when there is none."""
        return await self._run(fleet_failed.entry_at(self.queue.context, index))

    async def search(
        self, where: FailedFilter | None = None, *, offset: int = 0, limit: int = 50
    ) -> FailedPage:
        """The entries ``where`` matches, ``[offset, offset + limit)`` of the matches, with
        ``matched`` (how many in all); without a filter, :meth:`page`."""
        return await self._run(
            fleet_failed.search(self.queue.context, where or FailedFilter(), offset, limit)
        )

    async def retry(
        self, entries: FailedEntry | Iterable[FailedEntry], *, keep: bool = False
    ) -> int:
        """Enqueue each entry's job again, as its own peer would (node-resque's payload for
        its entries, Ruby's for Ruby's), and remove the entry; with ``keep``, stamp it with
        ``retried_at`` instead (resque's ``Failure.requeue``, resque-web's "Retry").

        Each entry must still be at the index it was read at: otherwise
        :class:`~pyresque.errors.FailedEntryMovedError` names the key and index and nothing
        of its chunk (:data:`~pyresque.protocol.plans.fleet_failed.CHUNK` entries) is
        written. Returns how many were retried."""
        action: FailedAction = "requeue" if keep else "retry"
        return await self._run(fleet_failed.act(self.queue.context, _many(entries), action))

    async def remove(self, entries: FailedEntry | Iterable[FailedEntry]) -> int:
        """Remove each entry (checked as :meth:`retry` checks them); how many."""
        return await self._run(fleet_failed.act(self.queue.context, _many(entries), "remove"))

    async def retry_matching(self, where: FailedFilter, *, keep: bool = False) -> int:
        """:meth:`retry` every entry ``where`` matches (an entry that moved meanwhile is
        found by its bytes; unreadable ones are left); how many."""
        action: FailedAction = "requeue" if keep else "retry"
        return await self._run(fleet_failed.act_matching(self.queue.context, where, action))

    async def remove_matching(self, where: FailedFilter) -> int:
        """Remove every entry ``where`` matches; how many."""
        return await self._run(fleet_failed.act_matching(self.queue.context, where, "remove"))

    async def clear(self) -> int:
        """Remove every failed entry at once; how many there were."""
        return await self._run(fleet_failed.clear(self.queue.context))


def _many(entries: FailedEntry | Iterable[FailedEntry]) -> list[FailedEntry]:
    return [entries] if isinstance(entries, FailedEntry) else list(entries)


class DelayedJobs(_Part):
    """Delayed jobs: the schedule by due time, run now, remove (``fleet.delayed``)."""

    async def page(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        per_second: int = 100,
        due_by: float | None = None,
    ) -> DelayedPage:
        """Due seconds ``[offset, offset + limit)`` of the schedule (only those due by
        ``due_by``, unix ms, when given), earliest first, each with its job count and first
        ``per_second`` jobs decoded."""
        return await self._run(
            fleet_delayed.delayed_page(
                self.queue.context, offset, limit, per_second=per_second, due_by=due_by
            )
        )

    async def run_now(self, job: DelayedJob) -> bool:
        """Enqueue ``job`` now, in one atomic step, whichever scheduler holds the lock;
        False when it is no longer delayed at its second (nothing written)."""
        return await self._run(fleet_delayed.run_now(self.queue.context, job))

    async def remove(self, job: DelayedJob) -> int:
        """Remove ``job`` from its second (every copy of its bytes there); how many."""
        return await self._run(fleet_delayed.remove_delayed_job(self.queue.context, job))

    async def run_due(self, due_by: float | None = None) -> int:
        """Enqueue every job due by ``due_by`` (unix ms), or every delayed job (None), as a
        scheduler promotes them; how many."""
        return await self._run(fleet_delayed.run_due(self.queue.context, due_by))


class Workers(_Part):
    """The workers of every peer (``fleet.workers``)."""

    def __init__(self, queue: Queue, stale_after_ms: float = DEFAULT_STALE_AFTER_MS) -> None:
        super().__init__(queue)
        self.stale_after_ms = stale_after_ms

    async def list(self, *, stale_after_ms: float | None = None) -> list[WorkerInfo]:
        """Every registered worker with its kind (``node``, ``ruby``, ``python``), host,
        pid, queues, current job, last ping or heartbeat, and ``stale`` (unseen longer than
        ``stale_after_ms``, default the fleet's, or never seen)."""
        limit = self.stale_after_ms if stale_after_ms is None else stale_after_ms
        return await self._run(fleet_workers.list_workers(self.queue.context, limit))

    async def clean(
        self, worker: WorkerInfo | str, *, dialect: WorkerKind | None = None
    ) -> dict[str, Any] | None:
        """Unregister a worker (a :class:`WorkerInfo`, an id or a ``host:pid`` name) and
        send the job it held to ``failed`` with its peer's reason (node-resque's
        ``Worker Timeout (killed manually)``, Ruby's ``Resque::DirtyExit``); the entry
        written, None when it held no job."""
        return await self._run(fleet_workers.clean_worker(self.queue.context, worker, dialect))


class Fleet:
    """The operating API over one :class:`~pyresque.Queue`'s connection and namespace:
    :attr:`failed`, :attr:`delayed` and :attr:`workers`."""

    def __init__(self, queue: Queue, *, stale_after_ms: float = DEFAULT_STALE_AFTER_MS) -> None:
        self.queue = queue
        self.failed = FailedJobs(queue)
        """The failed list."""
        self.delayed = DelayedJobs(queue)
        """The delayed jobs."""
        self.workers = Workers(queue, stale_after_ms)
        """The registered workers."""

    def __repr__(self) -> str:
        return f"Fleet({self.queue!r})"
