"""What each dashboard page shows, as plain JSON-ready data: the HTML pages render it and
the JSON API returns it unchanged, so both always agree.

Every function reads one namespace through a :class:`~pyresque.Queue`; lists are read in
windows (``offset``/``limit``), so a page costs the same with ten entries or 200,000.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pyresque.connection.patience import run_patiently
from pyresque.errors import WebRequestError
from pyresque.fleet import FailedEntry, FailedFilter, Fleet, WorkerInfo
from pyresque.protocol.plan import Plan
from pyresque.protocol.plans import pages
from pyresque.protocol.status import is_unreadable
from pyresque.queue import Queue
from pyresque.web.config import WebConfig

__all__ = [
    "Page",
    "entry_token",
    "failed_page",
    "filter_query",
    "parse_token",
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


def token(position: int, raw: bytes) -> str:
    """How a page names one stored item for a change: its position (a list index, a due
    second) and its exact bytes, which the change checks before it acts."""
    return f"{position}:{base64.urlsafe_b64encode(raw).decode()}"


def parse_token(value: str) -> tuple[int, bytes]:
    """:func:`token` read back."""
    position, _, encoded = value.partition(":")
    try:
        return int(position), base64.urlsafe_b64decode(encoded.encode())
    except (ValueError, binascii.Error):
        raise WebRequestError(400, "that item reference is damaged: reload the page") from None


def entry_token(entry: FailedEntry) -> str:
    """The token of a failure entry."""
    return token(entry.index, entry.raw)


async def _run(queue: Queue, plan: Plan[Any]) -> Any:
    return await run_patiently(plan, queue.driver, queue.patience)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) else None


def worker_state(worker: WorkerInfo, read_at: int, config: WebConfig) -> str:
    """``working``, ``idle``, ``stale`` (silent past ``stale_after_ms``) or ``dead`` (silent
    past ``dead_after_ms``; one that never pinged is judged by its start, and with neither
    it is dead)."""
    seen = worker.seen_at if isinstance(worker.seen_at, int) else None
    started = worker.started_at if isinstance(worker.started_at, int) else None
    last = seen if seen is not None else started
    if last is None or read_at - last > config.dead_after_ms:
        return "dead"
    if read_at - last > config.stale_after_ms:
        return "stale"
    return "working" if worker.job is not None else "idle"


def _worker(worker: WorkerInfo, read_at: int, config: WebConfig) -> dict[str, Any]:
    found = worker.as_dict()
    found["state"] = worker_state(worker, read_at, config)
    found["job_unreadable"] = worker.job if is_unreadable(worker.job) else None
    return found


async def _workers(queue: Queue, config: WebConfig) -> tuple[int, list[dict[str, Any]]]:
    read_at = int(queue.context.now_ms())
    listed = await Fleet(queue).workers.list(stale_after_ms=config.stale_after_ms)
    return read_at, [_worker(w, read_at, config) for w in sorted(listed, key=lambda w: w.name)]


async def overview_page(queue: Queue, config: WebConfig) -> dict[str, Any]:
    """Queues with lengths, workers by kind and state, delayed, failed, counters, the
    leader and the Redis server."""
    status = await queue.status()
    _, workers = await _workers(queue, config)
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
    """Every registered worker of every peer (kind node, ruby or python), with its state."""
    read_at, workers = await _workers(queue, config)
    return {
        "read_at": read_at,
        "workers": workers,
        "stale_after_ms": config.stale_after_ms,
        "dead_after_ms": config.dead_after_ms,
    }


async def delayed_page(queue: Queue, offset: int, limit: int) -> dict[str, Any]:
    """Delayed jobs by due second: ``limit`` seconds from ``offset``, each with its jobs."""
    found = await Fleet(queue).delayed.page(offset, limit)
    return {
        "page": Page(offset, limit, found.total).as_dict(),
        "due": [
            {
                "timestamp": slot.timestamp,
                "at": slot.at,
                "count": slot.count,
                "jobs": [
                    {**job.as_dict(), "token": token(job.timestamp, job.raw)} for job in slot.jobs
                ],
            }
            for slot in found.slots
            if slot.count  # an emptied second stays scheduled until a scheduler passes it
        ],
    }


async def locks_page(queue: Queue) -> dict[str, Any]:
    """Plugin locks (QueueLock's, JobLock's) and the scheduler leader."""
    locks = await queue.locks()
    return {
        "locks": [{"name": name, "value": value} for name, value in sorted(locks.items())],
        "leader": await queue.leader(),
    }


def filter_query(where: FailedFilter) -> dict[str, str | None]:
    """The filter as the failed page's query names it."""
    return {
        "queue": where.queue,
        "class": where.job_class,
        "exception": where.exception,
        "q": where.text,
    }


def _failed(entry: FailedEntry) -> dict[str, Any]:
    found = entry.as_dict()
    found["backtrace"] = entry.backtrace
    found["token"] = entry_token(entry)
    found["problem"] = entry.unreadable["unreadable"] if entry.unreadable else None
    return found


async def failed_page(queue: Queue, where: FailedFilter, offset: int, limit: int) -> dict[str, Any]:
    """Failure entries matching ``where``, ``limit`` from the ``offset``-th match: one
    window without a filter; with one, a scan Redis runs in short steps."""
    failed = Fleet(queue).failed
    found = (
        await failed.page(offset, limit)
        if where.empty
        else await failed.search(where, offset=offset, limit=limit)
    )
    return {
        "filter": filter_query(where),
        "page": Page(offset, limit, found.matched).as_dict(),
        "total": found.total,
        "entries": [_failed(entry) for entry in found.entries],
    }
