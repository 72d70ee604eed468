"""Run what is waiting, now: for tests of code that enqueues jobs or tasks.

``await drain(queue, jobs)`` works every queued job of ``queue``'s namespace with a real
:class:`~pyresque.Worker` (registration, stats, failure entries and plugins as in
production) until the queues are empty, including jobs those jobs enqueue, and reports
what ran. With ``due_by`` it first moves the delayed jobs due by then (milliseconds, a
datetime, or ``math.inf`` for all of them) with a real :class:`~pyresque.Scheduler`
whose clock reads ``due_by``: "fast-forward to tomorrow 9:00 and run what would have
run". :func:`drain_tasks` does the same for a :class:`~pyresque.tasks.Tasks` registry.

Periodic tasks re-enqueue themselves ``frequency`` ms after the real now, so a ``due_by``
further ahead than that runs them again on every round. ``max_jobs`` and ``max_rounds``
turn a chain that never ends into an error instead of a hang.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyresque.errors import ConfigurationError, DrainLimitError, PyresqueError
from pyresque.queue import Queue
from pyresque.scheduler import Scheduler
from pyresque.tasks.tasks import Tasks
from pyresque.worker.worker import Worker

__all__ = ["DrainLimitError", "Drained", "Ran", "drain", "drain_tasks"]


@dataclass(frozen=True, slots=True)
class Ran:
    """One job the drain's worker ran: its result, or the error it failed with."""

    queue: str
    job_class: str
    args: list[Any]
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the job ran without raising."""
        return self.error is None


@dataclass(slots=True)
class Drained:
    """What a drain ran, in order; ``moved``: delayed jobs it moved to their queues."""

    ran: list[Ran] = field(default_factory=list)
    moved: int = 0
    rounds: int = 0

    @property
    def succeeded(self) -> list[Ran]:
        """The runs that did not raise, in order."""
        return [r for r in self.ran if r.ok]

    @property
    def failed(self) -> list[Ran]:
        """The runs that raised, in order."""
        return [r for r in self.ran if not r.ok]

    def of(self, job_class: str) -> list[Ran]:
        """The runs of one job class (a task's name)."""
        return [r for r in self.ran if r.job_class == job_class]

    def results(self, job_class: str) -> list[Any]:
        """The results of the successful runs of ``job_class``."""
        return [r.result for r in self.of(job_class) if r.ok]


async def drain(
    queue: Queue,
    jobs: Mapping[str, Any] | None = None,
    *,
    queues: str | Sequence[str] = "*",
    due_by: float | datetime | None = None,
    max_jobs: int = 10_000,
    max_rounds: int = 100,
    scheduler_jobs: Mapping[str, Any] | None = None,
) -> Drained:
    """Work ``queues`` of ``queue``'s namespace until nothing is left (module docstring).

    ``jobs`` defaults to ``queue.jobs``; the scheduler's moves run the plugins of
    ``scheduler_jobs`` (default: ``jobs``), as a :class:`Scheduler` given jobs does.
    """
    if max_rounds < 1 or max_jobs < 1:
        raise ConfigurationError(
            f"max_jobs and max_rounds must be >= 1, not {max_jobs}, {max_rounds}"
        )
    job_map = queue.jobs if jobs is None else jobs
    report = Drained()
    for _ in range(max_rounds):
        report.rounds += 1
        moved = await _move_due(
            queue, due_by, job_map if scheduler_jobs is None else scheduler_jobs
        )
        ran = await _work(queue, job_map, queues, max_jobs - len(report.ran))
        report.moved += moved
        report.ran.extend(ran)
        if len(report.ran) >= max_jobs:
            raise DrainLimitError(
                f"still running jobs after {len(report.ran)} (max_jobs): "
                "a job that enqueues itself?"
            )
        if not moved and not ran:
            return report
    raise DrainLimitError(
        f"jobs were still arriving after {max_rounds} rounds ({len(report.ran)} ran): "
        "a chain that re-enqueues itself within due_by?"
    )


async def drain_tasks(
    tasks: Tasks,
    *,
    queues: str | Sequence[str] = "*",
    due_by: float | datetime | None = None,
    max_jobs: int = 10_000,
    max_rounds: int = 100,
) -> Drained:
    """:func:`drain` for a task registry: its tasks run with their middleware and plugins,
    and moves run no hooks, as the scheduler of a task app does."""
    return await drain(
        tasks.queue,
        tasks.jobs,
        queues=queues,
        due_by=due_by,
        max_jobs=max_jobs,
        max_rounds=max_rounds,
        scheduler_jobs={},
    )


async def _move_due(queue: Queue, due_by: float | datetime | None, jobs: Mapping[str, Any]) -> int:
    if due_by is None:
        return 0
    if isinstance(due_by, datetime):
        at_ms = due_by.timestamp() * 1000
    elif math.isinf(due_by) and due_by > 0:
        timestamps = await queue.timestamps()
        if not timestamps:
            return 0
        at_ms = float(max(timestamps))
    else:
        at_ms = float(due_by)
    moved: list[Any] = []
    scheduler = Scheduler(
        queue.driver,
        namespace=queue.namespace,
        dialect=queue.dialect,
        stuck_worker_timeout=None,
        jobs=jobs,
        name="pyresque-testing-drain",
        clock=lambda: at_ms / 1000,
    )
    scheduler.on("transferredJob", lambda *args: moved.append(args))
    try:
        while await scheduler.poll():
            pass
        if not scheduler.leader:
            raise PyresqueError(
                f"another scheduler holds the leader lock of {queue.namespace!r}: "
                "stop it before draining delayed jobs"
            )
    finally:
        await scheduler.stop()
    return len(moved)


async def _work(
    queue: Queue, jobs: Mapping[str, Any], queues: str | Sequence[str], budget: int
) -> list[Ran]:
    ran: list[Ran] = []

    def record(run: Ran) -> None:
        ran.append(run)
        if len(ran) >= budget:
            worker.request_stop()  # after this job: it is settled, nothing is cut off

    def succeeded(name: str, payload: Any, result: Any, *_: Any) -> None:
        record(Ran(name, payload.get("class"), list(payload.get("args") or []), result))

    def failed(name: str, payload: Any, error: BaseException, *_: Any) -> None:
        job_class = payload.get("class") if isinstance(payload, dict) else None
        args = payload.get("args") if isinstance(payload, dict) else None
        record(Ran(name, str(job_class), list(args or []), error=error))

    worker = Worker(
        queue.driver,
        queues,
        jobs,
        name="pyresque-testing-drain",
        namespace=queue.namespace,
        dialect=queue.dialect,
        timeout=50,
    )
    worker.on("success", succeeded)
    worker.on("failure", failed)
    await worker.run(burst=True)
    return ran
