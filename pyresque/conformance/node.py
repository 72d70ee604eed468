"""The checks against node-resque: the same calls made by node-resque and by pyresque (node
dialect) leave the same bytes, and each reads and runs what the other wrote."""

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
from pyresque.conformance.node_failures import NODE_FAILURE_CHECKS
from pyresque.conformance.node_runtime import NODE_RUNTIME_CHECKS
from pyresque.protocol.keys import KeySpace
from pyresque.queue import Queue
from pyresque.worker import Worker

__all__ = ["NODE_CHECKS"]

QUEUE = "conformance"
JOBS = {"confOk": ok_job, "confFail": failing_job}
AT_MS = [FUTURE_S * 1000 + 250, FUTURE_S * 1000 + 1750]


def _queue(ctx: Context, namespace: str, method: str, *args: Any) -> Any:
    return ctx.peer.call("queue", namespace=namespace, method=method, args=list(args))


def _same_bytes(ctx: Context, node_calls: Any, ours: Any) -> tuple[str, Any]:
    def theirs(namespace: str) -> None:
        for method, *args in node_calls:
            _queue(ctx, namespace, method, *args)

    return same_bytes(ctx, theirs, ours, "node")


def enqueue_bytes(ctx: Context) -> tuple[str, Any]:
    """``queue.enqueue`` twice: the queues set and the queue list, byte for byte."""

    async def ours(queue: Queue) -> None:
        await queue.enqueue(QUEUE, "confOk", ARGS)
        await queue.enqueue(QUEUE, "confOk", [])

    return _same_bytes(
        ctx, [("enqueue", QUEUE, "confOk", ARGS), ("enqueue", QUEUE, "confOk", [])], ours
    )


def enqueue_at_bytes(ctx: Context) -> tuple[str, Any]:
    """``queue.enqueueAt`` at two times: the schedule zset, the delayed lists and the
    timestamps sets, byte for byte."""

    async def ours(queue: Queue) -> None:
        for at in AT_MS:
            await queue.enqueue_at(at, QUEUE, "confOk", ARGS)

    return _same_bytes(ctx, [("enqueueAt", at, QUEUE, "confOk", ARGS) for at in AT_MS], ours)


def reads_pyresque(ctx: Context) -> tuple[str, Any]:
    """node-resque's ``queued``, ``length``, ``timestamps`` and ``scheduledAt`` read what
    pyresque enqueued."""
    ns = ctx.namespace()

    async def pyresque_side() -> None:
        async with Queue(ctx.redis_url, namespace=ns, dialect="node") as queue:
            await queue.enqueue(QUEUE, "confOk", ARGS)
            await queue.enqueue(QUEUE, "confFail", ["x"])
            await queue.enqueue_at(AT_MS[0], QUEUE, "confOk", ARGS)

    ctx.run(pyresque_side)
    answers = {
        "queued": _queue(ctx, ns, "queued", QUEUE, 0, -1),
        "length": _queue(ctx, ns, "length", QUEUE),
        "timestamps": _queue(ctx, ns, "timestamps"),
        "scheduledAt": _queue(ctx, ns, "scheduledAt", QUEUE, "confOk", ARGS),
    }
    expected = {
        "queued": [
            {"class": "confOk", "queue": QUEUE, "args": ARGS},
            {"class": "confFail", "queue": QUEUE, "args": ["x"]},
        ],
        "length": 2,
        "timestamps": [AT_MS[0] // 1000 * 1000],
        "scheduledAt": [AT_MS[0] // 1000],
    }
    return first_difference(answers, expected) or "", answers


def _failed_entry(ctx: Context, ns: str) -> dict[str, Any]:
    (entry,) = _queue(ctx, ns, "failed", 0, -1)
    return dict(entry)


def node_worker_runs_pyresque_jobs(ctx: Context) -> tuple[str, Any]:
    """A node-resque worker runs jobs pyresque enqueued (one succeeds, one fails): its
    events, stats and failed entry; the entry's shape is the one a pyresque worker writes."""
    ns_node, ns_py = ctx.namespace(), ctx.namespace()

    async def enqueue(ns: str) -> None:
        async with Queue(ctx.redis_url, namespace=ns, dialect="node") as queue:
            await queue.enqueue(QUEUE, "confOk", ARGS)
            await queue.enqueue(QUEUE, "confFail", ["boom"])

    ctx.run(lambda: enqueue(ns_node))
    outcomes = ctx.peer.call(
        "work", namespace=ns_node, name="conformance:1", queues=[QUEUE], count=2
    )
    events = [(o["event"], o.get("class")) for o in outcomes]
    if events != [("success", "confOk"), ("failure", "confFail")]:
        return f"node-resque worker events: {outcomes}", outcomes

    async def pyresque_worker() -> None:
        await enqueue(ns_py)
        await Worker(ctx.redis_url, QUEUE, JOBS, namespace=ns_py, name="conformance:1").run(
            burst=True
        )

    ctx.run(pyresque_worker)
    theirs = {"stats": _queue(ctx, ns_node, "stats"), "failed": _failed_entry(ctx, ns_node)}
    ours = {"stats": _queue(ctx, ns_py, "stats"), "failed": _failed_entry(ctx, ns_py)}
    for side in (theirs, ours):  # what differs by peer and run: compared by form only
        entry = side["failed"]
        entry["failed_at"] = shape(entry.get("failed_at"))
        entry["backtrace"] = type(entry.get("backtrace")).__name__
        entry["exception"] = "..." if entry.get("exception") else None
    if list(theirs["failed"]) != list(ours["failed"]):
        return (
            f"failed entry keys: node {list(theirs['failed'])} vs pyresque {list(ours['failed'])}",
            theirs,
        )
    return first_difference(theirs, ours) or "", theirs


def pyresque_worker_runs_node_jobs(ctx: Context) -> tuple[str, Any]:
    """A pyresque worker runs jobs node-resque enqueued; node-resque reads its stats and
    finds its failed entry by re-stringifying it (``retryAndRemoveFailed``)."""
    ns = ctx.namespace()
    _queue(ctx, ns, "enqueue", QUEUE, "confOk", ARGS)
    _queue(ctx, ns, "enqueue", QUEUE, "confFail", ["boom"])
    ctx.run(
        lambda: Worker(ctx.redis_url, QUEUE, JOBS, namespace=ns, name="conformance:2").run(
            burst=True
        )
    )
    entry = _failed_entry(ctx, ns)
    answers = {
        "stats": _queue(ctx, ns, "stats"),
        "failed": {k: entry.get(k) for k in ("queue", "payload", "worker", "error")},
        "retryAndRemoveFailed": _queue(ctx, ns, "retryAndRemoveFailed", entry),
        "queued": _queue(ctx, ns, "queued", QUEUE, 0, -1),
    }
    expected = {
        "stats": {"processed": "1", "failed": "1"},
        "failed": {
            "queue": QUEUE,
            "payload": {"class": "confFail", "queue": QUEUE, "args": ["boom"]},
            "worker": "conformance:2",
            "error": "boom",
        },
        "retryAndRemoveFailed": True,
        "queued": [{"class": "confFail", "queue": QUEUE, "args": ["boom"]}],
    }
    return first_difference(answers, expected) or "", answers


def worker_registration(ctx: Context) -> tuple[str, Any]:
    """A registered, idle worker's keys (workers set, worker and started keys, ping) as a
    node-resque worker writes them, times and pids compared by form; and none left once it
    ends."""
    ns_node, ns_py = ctx.namespace(), ctx.namespace()
    name, queues = "conformance-host:4242", ["a", "b"]
    ctx.peer.call("worker_start", namespace=ns_node, name=name, queues=queues)
    theirs = shape(ctx.snapshot(ns_node))
    ctx.peer.call("worker_end", name=name)
    theirs_after = ctx.snapshot(ns_node)

    async def pyresque_side() -> tuple[Any, Any]:
        worker = Worker(ctx.redis_url, queues, JOBS, namespace=ns_py, name=name, timeout=60000)
        await worker.start()
        try:
            during = shape(ctx.snapshot(ns_py))
        finally:
            await worker.stop()
        return during, ctx.snapshot(ns_py)

    ours, ours_after = ctx.run(pyresque_side)
    # pyresque's own runtime key (spec/conformance.md: no peer reads it) is left out.
    runtime = KeySpace(ns_py)
    ours.pop(shape(runtime.unprefixed(runtime.worker_runtime(f"{name}:{','.join(queues)}"))), None)
    found = first_difference(theirs, ours) or first_difference(theirs_after, ours_after)
    return found or "", {"registered": theirs, "ended": theirs_after}


NODE_CHECKS: dict[str, Check] = {
    "enqueue bytes": enqueue_bytes,
    "enqueueAt bytes": enqueue_at_bytes,
    "queue API reads pyresque jobs": reads_pyresque,
    "node worker runs pyresque jobs": node_worker_runs_pyresque_jobs,
    "pyresque worker runs node jobs": pyresque_worker_runs_node_jobs,
    "worker registration keys": worker_registration,
    **NODE_RUNTIME_CHECKS,
    **NODE_FAILURE_CHECKS,
}
"""The node-resque checks, most important first (the names are the report's rows)."""
