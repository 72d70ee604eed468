"""The fleet's state as Prometheus metrics, read from Redis on every scrape.

prometheus_client calls collectors synchronously, and Redis is read here with asyncio:
so :class:`FleetCollector` has an async :meth:`~FleetCollector.collect` that returns the
metric families, which an exposition (:func:`pyresque.metrics.exposition`, the HTTP
server of :func:`pyresque.metrics.serve_metrics`, the ASGI app) encodes. Names, labels
and how each value is measured: ``spec/metrics.md``.

A scrape reads :meth:`pyresque.Queue.status` (queues, delayed jobs, workers, counters,
leader), the head of each queue, and brings the failed counts up to date
(:class:`~pyresque.metrics.failed.FailedCounts`); the failed list is not read again
entry by entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pyresque.connection.patience import run_patiently
from pyresque.errors import PyresqueError
from pyresque.metrics.failed import FailedCounts
from pyresque.protocol import times
from pyresque.protocol.activejob import WRAPPER
from pyresque.protocol.jsjson import loads
from pyresque.protocol.plan import Call, Plan, as_bytes
from pyresque.protocol.plans.overview import read_each, status
from pyresque.protocol.status import Status, is_unreadable
from pyresque.queue import Queue

__all__ = ["WORKER_STATES", "FleetCollector", "counted"]

T = TypeVar("T")
log = logging.getLogger("pyresque.metrics")

WORKER_STATES = ("working", "idle", "stale")
"""The ``state`` label of ``resque_workers``."""

_WRAPPER = WRAPPER.encode()


def counted(plan: Plan[T], trips: list[int]) -> Plan[T]:
    """``plan``, adding each step it yields (one round trip) to ``trips[0]``."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        trips[0] += 1
        try:
            reply, error = (yield step), None
        except Exception as exc:
            reply, error = None, exc


def _enqueued_at(head: bytes) -> float | None:
    """An ActiveJob payload's ``enqueued_at`` (unix seconds); None for any other."""
    if _WRAPPER not in head or b"enqueued_at" not in head:
        return None
    try:
        payload = loads(head)
    except PyresqueError:
        return None
    args = payload.get("args") if isinstance(payload, dict) else None
    data = args[0] if isinstance(args, list) and args else None
    stamp = data.get("enqueued_at") if isinstance(data, dict) else None
    return times.parse_peer_time(stamp, "UTC") if isinstance(stamp, str) else None


def _heads(queue: Queue, names: Sequence[str]) -> Plan[list[bytes | None]]:
    keys = queue.context.keys
    replies = yield from read_each([Call("LINDEX", keys.queue(name), 0) for name in names])
    return [None if is_unreadable(r) else as_bytes(r) for r in replies]


class FleetCollector:
    """Reads ``queue``'s namespace on every :meth:`collect`.

    ``stale_after``: seconds without a ping or heartbeat after which a registered worker
    counts as ``stale`` (default 300: Ruby resque's prune interval, five heartbeats).
    ``timeout``: seconds a scrape may take before it answers ``resque_up 0``.
    ``clock``: unix seconds (for queue latency). The failed counts and the queue heads seen
    are kept between scrapes: keep one collector per namespace.
    """

    def __init__(
        self,
        queue: Queue,
        *,
        stale_after: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        failed: FailedCounts | None = None,
    ) -> None:
        self.queue = queue
        self.stale_after = stale_after
        self.timeout = timeout
        self.clock = clock
        self.failed = failed or FailedCounts()
        self.round_trips = 0
        """Round trips to Redis of the last scrape (its steps, in sequence)."""
        self._heads: dict[str, tuple[bytes, float]] = {}  # queue -> (head digest, first seen)

    def _run(self, plan: Plan[T], trips: list[int]) -> Any:
        # No patience: a scrape that Redis refuses answers ``up 0`` now, not in 5 s.
        return run_patiently(counted(plan, trips), self.queue.driver, 0)

    async def _read(self, trips: list[int], failed_trips: list[int]) -> tuple[Status, Any, Any]:
        async def with_heads() -> tuple[Status, list[str], list[bytes | None]]:
            found: Status = await self._run(status(self.queue.context), trips)
            queues = {} if is_unreadable(found.queues) else found.queues
            names = sorted(n for n, q in queues.items() if not is_unreadable(q.length))
            heads = await self._run(_heads(self.queue, names), trips)
            return found, names, heads

        (found, names, heads), counts = await asyncio.gather(
            with_heads(), self._run(self.failed.update(self.queue.context), failed_trips)
        )
        return found, dict(zip(names, heads, strict=True)), counts

    async def collect(self) -> list[Metric]:
        """The metric families of the namespace as it is now (``spec/metrics.md``); only
        ``resque_up 0`` and the scrape's own figures when Redis could not be read."""
        began = time.perf_counter()
        trips, failed_trips = [0], [0]
        families: list[Metric] = []
        try:
            async with asyncio.timeout(self.timeout):
                found, heads, counts = await self._read(trips, failed_trips)
        except (PyresqueError, OSError, TimeoutError) as exc:
            log.warning("metrics: reading %r failed: %s", self.queue, exc)
            up = 0
        else:
            up = 1
            families = [
                *self._queues(found, heads),
                *self._delayed(found),
                *self._failed(counts),
                *self._workers(found),
                *self._totals(found),
            ]
        self.round_trips = max(trips[0], failed_trips[0])
        families.append(_gauge("resque_up", "1 if Redis answered the scrape, else 0.", up))
        families.append(
            _gauge(
                "resque_scrape_duration_seconds",
                "How long reading the fleet's state took.",
                time.perf_counter() - began,
            )
        )
        families.append(
            _gauge(
                "resque_scrape_redis_round_trips",
                "Round trips to Redis the scrape made, in sequence.",
                self.round_trips,
            )
        )
        return families

    # -- families -------------------------------------------------------------------------------
    def _queues(self, found: Status, heads: dict[str, bytes | None]) -> Iterable[Metric]:
        lengths = GaugeMetricFamily(
            "resque_jobs_in_queue", "Jobs waiting in the queue.", labels=["queue"]
        )
        latency = GaugeMetricFamily(
            "resque_queue_latency_seconds",
            "Age of the job at the head of the queue: from its ActiveJob enqueued_at, else "
            "since this collector first saw it there (a lower bound); 0 when empty.",
            labels=["queue"],
        )
        now = self.clock()
        seen: dict[str, tuple[bytes, float]] = {}
        queues = {} if is_unreadable(found.queues) else found.queues
        for name, state in queues.items():
            length = state.length
            if is_unreadable(length):
                continue
            lengths.add_metric([name], length)
            head = heads.get(name)
            if not length or head is None:
                latency.add_metric([name], 0.0)
                continue
            enqueued = _enqueued_at(head)
            if enqueued is None:
                digest = hashlib.blake2b(head, digest_size=16).digest()
                known = self._heads.get(name)
                seen[name] = known if known is not None and known[0] == digest else (digest, now)
                enqueued = seen[name][1]
            latency.add_metric([name], max(0.0, now - enqueued))
        self._heads = seen
        return lengths, latency

    def _delayed(self, found: Status) -> Iterable[Metric]:
        delayed = found.delayed
        if not is_unreadable(delayed.jobs):
            yield _gauge(
                "resque_delayed_jobs", "Jobs waiting in the delayed schedule.", delayed.jobs
            )
        if not is_unreadable(delayed.due):
            yield _gauge(
                "resque_delayed_jobs_due",
                "Delayed jobs whose time has come (a scheduler moves them to their queues).",
                delayed.due,
            )
        yield _gauge(
            "resque_delayed_overdue_seconds",
            "How long ago the earliest delayed job still waiting was due (0: none is due).",
            delayed.overdue_ms / 1000,
        )
        yield _gauge(
            "resque_leader_present",
            "1 if a scheduler holds the leader lock, else 0.",
            0 if found.leader is None or is_unreadable(found.leader) else 1,
        )

    def _failed(self, counts: dict[tuple[str, str], int]) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "resque_jobs_in_failed_queue",
            "Entries of the failed list, by the queue and class of their job.",
            labels=["queue", "class"],
        )
        for (queue, job_class), count in sorted(counts.items()):
            family.add_metric([queue, job_class], count)
        yield family
        yield _gauge(
            "resque_failed_entries_uncounted",
            "Failed entries not counted yet: a recount of a long failed list goes on over "
            "several scrapes, which report the last complete counts meanwhile.",
            self.failed.behind,
        )

    def _workers(self, found: Status) -> Iterable[Metric]:
        workers = GaugeMetricFamily(
            "resque_workers",
            "Registered workers by kind (node, ruby, unknown) and state (working, idle, "
            "stale: no ping or heartbeat within the stale limit).",
            labels=["kind", "state"],
        )
        tally = {(kind, state): 0 for kind in ("node", "ruby") for state in WORKER_STATES}
        registered = {} if is_unreadable(found.workers) else found.workers
        limit = self.stale_after * 1000
        for worker in registered.values():
            seen = worker.seen_at
            if isinstance(seen, int) and found.read_at - seen > limit:
                state = "stale"
            elif worker.working_on is not None:
                state = "working"
            else:
                state = "idle"
            slot = (worker.kind or "unknown", state)
            tally[slot] = tally.get(slot, 0) + 1
        for (kind, state), count in tally.items():
            workers.add_metric([kind, state], count)
        yield workers
        yield _gauge(
            "resque_working_workers",
            "Registered workers running a job (stale ones excluded).",
            sum(n for (_, state), n in tally.items() if state == "working"),
        )

    def _totals(self, found: Status) -> Iterable[Metric]:
        processed, failed = found.stats.processed, found.stats.failed
        if not is_unreadable(processed):
            yield CounterMetricFamily(
                "resque_job_executions",
                "Jobs processed, the namespace's processed stat (Ruby resque counts "
                "failures in it; node-resque only successes).",
                value=processed,
            )
        if not is_unreadable(failed):
            yield CounterMetricFamily(
                "resque_failed_job_executions",
                "Jobs failed, the namespace's failed stat.",
                value=failed,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
