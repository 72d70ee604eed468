"""Metrics a worker process measures itself: how long jobs ran and waited, how many ran,
how many run now. Attached to Workers and MultiWorkers through their events.

Queue wait needs the time a job was enqueued, which resque payloads do not carry:
it is observed only for payloads that carry one (ActiveJob's ``enqueued_at``, which Rails
writes at whole seconds), and left out for the others. pyresque writes no time into the
payloads it enqueues: the bytes stay the peers'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from pyresque.metrics.failed import job_label
from pyresque.protocol import times
from pyresque.protocol.activejob import WRAPPER
from pyresque.worker.multi import MultiWorker
from pyresque.worker.worker import Worker

__all__ = ["DURATION_BUCKETS", "WAIT_BUCKETS", "WorkerMetrics", "enqueued_at"]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
"""``resque_job_duration_seconds`` buckets: prometheus_client's default, then up to an hour."""

WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
"""``resque_job_wait_seconds`` buckets: enqueue times are whole seconds (Rails)."""


def enqueued_at(payload: Any) -> float | None:
    """When the job was enqueued (unix seconds), if its payload says: an ActiveJob
    wrapper's ``enqueued_at``; None for every other payload."""
    if not isinstance(payload, dict) or payload.get("class") != WRAPPER:
        return None
    args = payload.get("args")
    data = args[0] if isinstance(args, list) and args else None
    stamp = data.get("enqueued_at") if isinstance(data, dict) else None
    return times.parse_peer_time(stamp, "UTC") if isinstance(stamp, str) else None


Watched = Worker | MultiWorker


class _InProgress:
    """``resque_jobs_in_progress{queue}``, read from the attached workers at scrape time."""

    def __init__(self, workers: list[Watched]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "resque_jobs_in_progress", "Jobs this process is running now.", labels=["queue"]
        )
        running: dict[str, int] = {}
        for watched in self.workers:
            pool = watched.workers if isinstance(watched, MultiWorker) else [watched]
            for worker in pool:
                if worker.working and worker.queue is not None:
                    running[worker.queue] = running.get(worker.queue, 0) + 1
        for queue, count in sorted(running.items()):
            family.add_metric([queue], count)
        yield family


class WorkerMetrics:
    """Job metrics of the workers :meth:`attach`-ed, registered in ``registry`` (a new
    ``CollectorRegistry`` when None; serve it with
    :func:`~pyresque.metrics.serve_metrics` or any prometheus_client exposition).

    ``resque_job_duration_seconds{queue,class,outcome}`` and
    ``resque_jobs_total{queue,class,outcome}`` per finished job (outcome ``success`` or
    ``failure``), ``resque_job_wait_seconds{queue,class}`` per job whose payload carries
    its enqueue time (see the module docstring), ``resque_jobs_in_progress{queue}`` now.
    ``class`` is :func:`~pyresque.metrics.job_label` of the payload. ``clock``: unix
    seconds."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        wait_buckets: Sequence[float] = WAIT_BUCKETS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        self.workers: list[Watched] = []
        labels = ("queue", "class", "outcome")
        self.duration = Histogram(
            "resque_job_duration_seconds",
            "How long jobs ran, from taking to settling (plugins' hooks included).",
            labels,
            buckets=duration_buckets,
            registry=self.registry,
        )
        self.wait = Histogram(
            "resque_job_wait_seconds",
            "How long jobs waited between enqueue and start (only jobs whose payload "
            "carries an enqueue time: ActiveJob's enqueued_at).",
            ("queue", "class"),
            buckets=wait_buckets,
            registry=self.registry,
        )
        self.jobs = Counter(
            "resque_jobs", "Jobs this process finished.", labels, registry=self.registry
        )
        self.registry.register(_InProgress(self.workers))

    def attach(self, *workers: Watched) -> WorkerMetrics:
        """Measure the jobs of ``workers`` (Workers or MultiWorkers) from now on; returns
        self."""
        for worker in workers:
            if any(w is worker for w in self.workers):
                continue
            self.workers.append(worker)
            pool = isinstance(worker, MultiWorker)
            for outcome in ("success", "failure"):
                worker.on(outcome, self._listener(outcome, pool))
        return self

    def _listener(self, outcome: str, pool: bool) -> Callable[..., None]:
        def observe(*args: Any) -> None:
            # success(queue, job, result, ms), failure(queue, job, exc, ms); a pool's with
            # the child's id first.
            queue, payload, _, duration_ms = args[1:5] if pool else args[:4]
            self.observe(queue, payload, outcome, duration_ms / 1000)

        return observe

    def observe(self, queue: str, payload: Any, outcome: str, seconds: float) -> None:
        """Count one finished job (what the attached workers' events call)."""
        job_class = job_label(payload)
        self.duration.labels(queue, job_class, outcome).observe(seconds)
        self.jobs.labels(queue, job_class, outcome).inc()
        enqueued = enqueued_at(payload)
        if enqueued is not None:
            started = self.clock() - seconds
            self.wait.labels(queue, job_class).observe(max(0.0, started - enqueued))
