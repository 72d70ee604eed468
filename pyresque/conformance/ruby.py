"""The checks against Ruby resque + resque-scheduler: ``Resque.enqueue`` / ``enqueue_at``
bytes against pyresque's ruby dialect, and each side reading and running the other's jobs."""

from __future__ import annotations

from typing import Any

from pyresque.conformance.common import (
    ARGS,
    FUTURE_S,
    Check,
    Context,
    failing_job,
    first_difference,
    ok_job,
    same_bytes,
    shape,
)
from pyresque.conformance.ruby_runtime import RUBY_RUNTIME_CHECKS
from pyresque.queue import Queue
from pyresque.worker import Worker

__all__ = ["RUBY_CHECKS"]

QUEUE = "conformance"
OK, FAIL = "Conformance::Ok", "Conformance::Fail"
JOBS = {OK: ok_job, FAIL: failing_job}
AT_S = [FUTURE_S, FUTURE_S + 2]


def _rb(ctx: Context, namespace: str, op: str, **fields: Any) -> Any:
    return ctx.peer.call(op, namespace=namespace, **fields)


def _same_bytes(ctx: Context, ruby_calls: list[dict[str, Any]], ours: Any) -> tuple[str, Any]:
    def theirs(namespace: str) -> None:
        for call in ruby_calls:
            _rb(ctx, namespace, **call)

    return same_bytes(ctx, theirs, ours, "ruby")


def enqueue_bytes(ctx: Context) -> tuple[str, Any]:
    """``Resque.enqueue`` twice: the queues set and the queue list, byte for byte."""

    async def ours(queue: Queue) -> None:
        await queue.enqueue(QUEUE, OK, ARGS)
        await queue.enqueue(QUEUE, OK, [])

    calls = [
        {"op": "enqueue_class", "queue": QUEUE, "class": OK, "args": args} for args in (ARGS, [])
    ]
    return _same_bytes(ctx, calls, ours)


def enqueue_at_bytes(ctx: Context) -> tuple[str, Any]:
    """``Resque.enqueue_at_with_queue`` at two times: resque-scheduler's schedule zset,
    delayed lists and timestamps sets, byte for byte."""

    async def ours(queue: Queue) -> None:
        for at in AT_S:
            await queue.enqueue_at(at * 1000, QUEUE, OK, ARGS)

    calls = [
        {"op": "enqueue_at", "queue": QUEUE, "class": OK, "args": ARGS, "at": at} for at in AT_S
    ]
    return _same_bytes(ctx, calls, ours)


def reads_pyresque(ctx: Context) -> tuple[str, Any]:
    """``Resque.peek``, ``Resque.size`` and ``Resque.scheduled_at`` read what pyresque
    (ruby dialect) enqueued."""
    ns = ctx.namespace()

    async def pyresque_side() -> None:
        async with Queue(ctx.redis_url, namespace=ns, dialect="ruby") as queue:
            await queue.enqueue(QUEUE, OK, ARGS)
            await queue.enqueue_at(AT_S[0] * 1000, QUEUE, OK, ARGS)

    ctx.run(pyresque_side)
    answers = {
        "peek": _rb(ctx, ns, "peek", queue=QUEUE),
        "size": _rb(ctx, ns, "size", queue=QUEUE),
        "scheduled_at": _rb(ctx, ns, "scheduled_at", queue=QUEUE, **{"class": OK}, args=ARGS),
    }
    expected = {
        "peek": [{"class": OK, "args": ARGS}],
        "size": 1,
        "scheduled_at": [AT_S[0]],
    }
    return first_difference(answers, expected) or "", answers


def _failed(ctx: Context, ns: str) -> dict[str, Any]:
    (entry,) = _rb(ctx, ns, "failed")
    return dict(entry)


def ruby_worker_runs_pyresque_jobs(ctx: Context) -> tuple[str, Any]:
    """A real ``Resque::Worker`` runs jobs pyresque enqueued (one succeeds, one fails):
    ``Resque.info`` counts them, and its failure entry has the shape (keys in order,
    payload, queue) a pyresque ruby-dialect worker writes."""
    ns_rb, ns_py = ctx.namespace(), ctx.namespace()

    async def enqueue(ns: str) -> None:
        async with Queue(ctx.redis_url, namespace=ns, dialect="ruby") as queue:
            await queue.enqueue(QUEUE, OK, ARGS)
            await queue.enqueue(QUEUE, FAIL, ["boom"])

    ctx.run(lambda: enqueue(ns_rb))
    _rb(ctx, ns_rb, "work_burst", queues=[QUEUE], classes=[OK, FAIL])

    async def pyresque_worker() -> None:
        await enqueue(ns_py)
        await Worker(ctx.redis_url, QUEUE, JOBS, namespace=ns_py, dialect="ruby").run(burst=True)

    ctx.run(pyresque_worker)
    sides = []
    for ns in (ns_rb, ns_py):
        info = _rb(ctx, ns, "info")
        entry = _failed(ctx, ns)
        for key in ("failed_at", "worker"):
            entry[key] = shape(entry.get(key))
        entry["exception"] = "..." if entry.get("exception") else None
        entry["backtrace"] = type(entry.get("backtrace")).__name__
        entry["error"] = entry.get("error")
        sides.append({"info": {k: info.get(k) for k in ("processed", "failed")}, "failed": entry})
    theirs, ours = sides
    if list(theirs["failed"]) != list(ours["failed"]):
        keys = f"ruby {list(theirs['failed'])} vs pyresque {list(ours['failed'])}"
        return f"failed entry keys: {keys}", theirs
    return first_difference(theirs, ours) or "", theirs


def pyresque_worker_runs_ruby_jobs(ctx: Context) -> tuple[str, Any]:
    """A pyresque ruby-dialect worker runs jobs ``Resque.enqueue`` pushed; ``Resque.info``
    and ``Resque::Failure.all`` read its stats and failure entry."""
    ns = ctx.namespace()
    _rb(ctx, ns, "enqueue_class", queue=QUEUE, **{"class": OK}, args=ARGS)
    _rb(ctx, ns, "enqueue_class", queue=QUEUE, **{"class": FAIL}, args=["boom"])
    ctx.run(
        lambda: Worker(ctx.redis_url, QUEUE, JOBS, namespace=ns, dialect="ruby").run(burst=True)
    )
    info = _rb(ctx, ns, "info")
    entry = _failed(ctx, ns)
    answers = {
        "info": {k: info.get(k) for k in ("pending", "processed", "failed", "workers")},
        "failed": {k: entry.get(k) for k in ("queue", "payload", "error")},
    }
    expected = {
        "info": {"pending": 0, "processed": 2, "failed": 1, "workers": 0},
        "failed": {"queue": QUEUE, "payload": {"class": FAIL, "args": ["boom"]}, "error": "boom"},
    }
    return first_difference(answers, expected) or "", answers


RUBY_CHECKS: dict[str, Check] = {
    "Resque.enqueue bytes": enqueue_bytes,
    "Resque.enqueue_at bytes": enqueue_at_bytes,
    "Resque reads pyresque jobs": reads_pyresque,
    "ruby worker runs pyresque jobs": ruby_worker_runs_pyresque_jobs,
    "pyresque worker runs ruby jobs": pyresque_worker_runs_ruby_jobs,
    **RUBY_RUNTIME_CHECKS,
}
"""The Ruby resque checks, most important first (the names are the report's rows)."""
