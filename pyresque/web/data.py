"""What each dashboard page shows, as plain JSON-ready data: the HTML pages render it and
the JSON API returns it unchanged, so both always agree.

Every function reads one namespace through a :class:`~pyresque.Queue`; lists are read in
windows (``offset``/``limit``), so a page costs the same with ten entries or 200,000.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyresque.connection.patience import run_patiently
from pyresque.protocol.plan import Plan
from pyresque.protocol.plans import pages
from pyresque.protocol.status import Status, WorkerStatus, is_unreadable
from pyresque.queue import Queue
from pyresque.web.config import WebConfig

__all__ = [
    "FailedFilter",
    "Page",
    "failed_page",
    "delayed_page",
    "locks_page",
    "overview_page",
    "queue_page",
    "workers_page",
    "worker_state",
]


@dataclass(frozen=True)
class Page:
    """A window of a list: where it starts, how many it shows, how many there are."""

    offset: int
    limit: int
    total: int

    def as_dict(self) -> dict[str, Any]:
        """``offset``, ``limit``, ``total`` and the offsets of the neighbouring windows
        (None past either end)."""
        previous = max(0, self.offset - self.limit) if self.offset > 0 else None
        following = self.offset + self.limit if self.offset + self.limit < self.total else None
        return {
            "offset": self.offset,
            "limit": self.limit,
            "total": self.total,
            "previous": previous,
            "next": following,
        }


async def _run(queue: Queue, plan: Plan[Any]) -> Any:
    return await run_patiently(plan, queue.driver, queue.patience)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) else None


def worker_state(worker: WorkerStatus, read_at: int, config: WebConfig) -> str:
    """``working``, ``idle``, ``stale`` (silent past ``stale_after_ms``) or ``dead`` (silent
    past ``dead_after_ms``, or never seen: no ping or heartbeat at all)."""
    seen = worker.seen_at if isinstance(worker.seen_at, int) else None
    if seen is None:
        started = worker.started_at if isinstance(worker.started_at, int) else None
        silent = None if started is None else read_at - started
        # A worker that never pinged is judged by its start (a peer that pings late).
        if silent is None or silent > config.dead_after_ms:
            return "dead"
    else:
        silent = read_at - seen
        if silent > config.dead_after_ms:
            return "dead"
    if silent is not None and silent > config.stale_after_ms:
        return "stale"
    return "working" if worker.working_on is not None else "idle"


def _worker(name: str, worker: WorkerStatus, read_at: int, config: WebConfig) -> dict[str, Any]:
    host, _, rest = name.partition(":")
    pid = rest.split(":", 1)[0]
    job = worker.working_on if isinstance(worker.working_on, dict) else None
    payload = job.get("payload") if job else None
    return {
        "name": name,
        "id": worker.id,
        "kind": worker.kind,
        "host": host,
        "pid": int(pid) if pid.isdigit() else None,
        "queues": list(worker.queues),
        "state": worker_state(worker, read_at, config),
        "started_at": _count(worker.started_at),
        "seen_at": _count(worker.seen_at),
        "job": None
        if job is None
        else {
            "queue": job.get("queue"),
            "class": payload.get("class") if isinstance(payload, dict) else None,
            "args": payload.get("args") if isinstance(payload, dict) else None,
            "since": _count(worker.working_since),
        },
        "unreadable": worker.working_on if is_unreadable(worker.working_on) else None,
        "processed": _count(worker.stats.processed),
        "failed": _count(worker.stats.failed),
    }


def _workers(status: Status, config: WebConfig) -> list[dict[str, Any]]:
    if is_unreadable(status.workers):
        return []
    return [
        _worker(name, worker, status.read_at, config)
        for name, worker in sorted(status.workers.items())
    ]


async def overview_page(queue: Queue, config: WebConfig) -> dict[str, Any]:
    """Queues with lengths, workers by kind and state, delayed, failed, counters, the
    leader and the Redis server."""
    status = await queue.status()
    workers = _workers(status, config)
    by_kind: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for worker in workers:
        by_kind[worker["kind"] or "unknown"] = by_kind.get(worker["kind"] or "unknown", 0) + 1
        by_state[worker["state"]] = by_state.get(worker["state"], 0) + 1
    queues = {} if is_unreadable(status.queues) else status.queues
    document = status.as_dict()
    return {
        "namespace": document["namespace"],
        "read_at": status.read_at,
        "queues": [
            {"name": name, "length": document["queues"][name]["length"]} for name in sorted(queues)
        ],
        "queues_unreadable": status.queues if is_unreadable(status.queues) else None,
        "delayed": document["delayed"],
        "workers": {"total": len(workers), "by_kind": by_kind, "by_state": by_state},
        "failed": document["failed"],
        "stats": document["stats"],
        "leader": document["leader"],
        "redis": await _run(queue, pages.redis_info(queue.context)),
    }


async def queue_page(queue: Queue, name: str, offset: int, limit: int) -> dict[str, Any]:
    """The jobs of one queue, a window at a time."""
    window = await _run(queue, pages.queue_window(queue.context, name, offset, limit))
    return {
        "queue": name,
        "page": Page(offset, limit, window.length).as_dict(),
        "jobs": [
            {
                "index": item.index,
                "class": item.value.get("class") if item.value else None,
                "args": item.value.get("args") if item.value else None,
                "raw": item.raw,
                "problem": item.problem,
            }
            for item in window.items
        ],
    }


async def workers_page(queue: Queue, config: WebConfig) -> dict[str, Any]:
    """Every registered worker of every peer, with its state."""
    status = await queue.status()
    return {
        "read_at": status.read_at,
        "workers": _workers(status, config),
        "unreadable": status.workers if is_unreadable(status.workers) else None,
        "stale_after_ms": config.stale_after_ms,
        "dead_after_ms": config.dead_after_ms,
    }


async def delayed_page(queue: Queue, offset: int, limit: int) -> dict[str, Any]:
    """Delayed jobs by due time: ``limit`` due times from ``offset``, each with its jobs."""
    total = await queue.delayed_queue_schedule_size()
    stamps = await queue.delayed_queue_peek(offset, limit)
    due: list[dict[str, Any]] = []
    for stamp in stamps:
        found = await queue.delayed_at(stamp * 1000)
        due.append(
            {
                "timestamp": stamp,
                "at": stamp * 1000,
                "jobs": [
                    {
                        "queue": job.get("queue"),
                        "class": job.get("class"),
                        "args": job.get("args"),
                        "raw": json.dumps(job, ensure_ascii=False),
                    }
                    for job in found.tasks
                ],
            }
        )
    return {"page": Page(offset, limit, total).as_dict(), "due": due}


async def locks_page(queue: Queue) -> dict[str, Any]:
    """Plugin locks (QueueLock's, JobLock's) and the scheduler leader."""
    locks = await queue.locks()
    return {
        "locks": [{"name": name, "value": value} for name, value in sorted(locks.items())],
        "leader": await queue.leader(),
    }


@dataclass(frozen=True)
class FailedFilter:
    """Which failure entries to show: each given field must match (``text`` anywhere in
    the entry's text: message, backtrace, arguments, worker)."""

    queue: str | None = None
    job_class: str | None = None
    exception: str | None = None
    text: str | None = None

    @property
    def empty(self) -> bool:
        """Whether it lets every entry through."""
        return not (self.queue or self.job_class or self.exception or self.text)

    def matches(self, item: pages.Item) -> bool:
        """Whether ``item`` passes."""
        if self.text and self.text.lower() not in item.raw.lower():
            return False
        entry = item.value or {}
        payload = entry.get("payload")
        if self.queue and entry.get("queue") != self.queue:
            return False
        if self.job_class and not (
            isinstance(payload, dict) and payload.get("class") == self.job_class
        ):
            return False
        return not (self.exception and entry.get("exception") != self.exception)

    def as_dict(self) -> dict[str, str | None]:
        """The filter as the page's query names it."""
        return {
            "queue": self.queue,
            "class": self.job_class,
            "exception": self.exception,
            "q": self.text,
        }


_SCAN_WINDOW = 2000


def _failed(item: pages.Item) -> dict[str, Any]:
    entry = item.value or {}
    payload = entry.get("payload")
    return {
        "index": item.index,
        "queue": entry.get("queue"),
        "class": payload.get("class") if isinstance(payload, dict) else None,
        "args": payload.get("args") if isinstance(payload, dict) else None,
        "exception": entry.get("exception"),
        "error": entry.get("error"),
        "backtrace": entry.get("backtrace") if isinstance(entry.get("backtrace"), list) else [],
        "worker": entry.get("worker"),
        "failed_at": entry.get("failed_at"),
        "retried_at": entry.get("retried_at"),
        "raw": item.raw,
        "problem": item.problem,
    }


async def failed_page(queue: Queue, where: FailedFilter, offset: int, limit: int) -> dict[str, Any]:
    """Failure entries matching ``where``, ``limit`` from the ``offset``-th match. Without
    a filter one window is read; with one the list is scanned in windows."""
    if where.empty:
        window = await _run(queue, pages.failed_window(queue.context, offset, limit))
        entries = [_failed(item) for item in window.items]
        total = window.length
    else:
        entries, total = [], 0
        start = 0
        while True:
            window = await _run(queue, pages.failed_window(queue.context, start, _SCAN_WINDOW))
            for item in window.items:
                if where.matches(item):
                    if offset <= total < offset + limit:
                        entries.append(_failed(item))
                    total += 1
            start += _SCAN_WINDOW
            if start >= window.length or not window.items:
                break
    return {
        "filter": where.as_dict(),
        "page": Page(offset, limit, total).as_dict(),
        "entries": entries,
    }
