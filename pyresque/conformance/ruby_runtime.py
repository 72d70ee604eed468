"""The checks of a running Ruby resque against pyresque's ruby dialect: a worker's
registration and working-on record, resque-scheduler's master lock and its promotion of
due jobs, and resque's pruning of a dead worker (each side through its public API)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyresque.conformance.common import (
    ARGS,
    FUTURE_S,
    Check,
    Context,
    first_difference,
    shape,
)
from pyresque.protocol.keys import KeySpace
from pyresque.queue import Queue
from pyresque.scheduler import Scheduler
from pyresque.worker import Worker

__all__ = ["RUBY_RUNTIME_CHECKS"]

QUEUE = "conformance"
HOLD, OK = "Conformance::Hold", "Conformance::Ok"
HOST = "conformance-host:4242"
"""The host:pid both sides' workers are registered as (Ruby's through ``Worker#to_s=``)."""
LOCK_S = 180
"""resque-scheduler's default lock timeout, and pyresque's ``leader_lock_timeout``."""
_RUN_AT = re.compile(r'"run_at":"[^"]*"')
_FAILED_AT = re.compile(r'"failed_at":"[^"]*"')


def _rb(ctx: Context, namespace: str, op: str, **fields: Any) -> Any:
    return ctx.peer.call(op, namespace=namespace, **fields)


def _member(queues: list[str]) -> str:
    return f"{HOST}:{','.join(queues)}"


def _without_runtime(snapshot: dict[str, Any], namespace: str, member: str) -> dict[str, Any]:
    """``snapshot`` without pyresque's own runtime mark (no peer reads it, spec/keys.md)."""
    keys = KeySpace(namespace)
    runtime = keys.unprefixed(keys.worker_runtime(member))
    return {k: v for k, v in snapshot.items() if k not in (runtime, shape(runtime))}


async def _holding(
    ctx: Context,
    namespace: str,
    queues: list[str],
    while_held: Callable[[Worker], Awaitable[Any]],
) -> Any:
    """A pyresque ruby-dialect worker registered as ``HOST`` on ``queues`` runs a job that
    waits: ``while_held(worker)`` runs meanwhile (with one job of ``HOLD`` enqueued first;
    none when ``queues`` has no ``QUEUE``), then the job ends and the worker stops."""
    gate, running = asyncio.Event(), asyncio.Event()

    async def hold(*args: Any) -> None:
        running.set()
        await gate.wait()

    if QUEUE in queues:
        async with Queue(ctx.redis_url, namespace=namespace, dialect="ruby") as queue:
            await queue.enqueue(QUEUE, HOLD, ARGS)
    worker = Worker(
        ctx.redis_url, queues, {HOLD: hold}, namespace=namespace, name=HOST, dialect="ruby"
    )
    await worker.start()
    try:
        if QUEUE in queues:
            async with asyncio.timeout(30):
                await running.wait()
        return await while_held(worker)
    finally:
        gate.set()
        await worker.stop()


def worker_registration(ctx: Context) -> tuple[str, Any]:
    """A ``Resque::Worker`` after ``register_worker`` and ``heartbeat!`` vs a started
    pyresque ruby-dialect worker with the same id: every key (the workers set, the started
    key, the heartbeat), times by form; and nothing left once each unregisters / stops."""
    ns_rb, ns_py = ctx.namespace(), ctx.namespace()
    queues = ["a", "b"]
    member = _member(queues)
    _rb(ctx, ns_rb, "worker_register", worker=member, queues=queues)
    theirs = shape(ctx.snapshot(ns_rb))
    _rb(ctx, ns_rb, "worker_unregister", worker=member)
    theirs_after = ctx.snapshot(ns_rb)

    async def registered(worker: Worker) -> Any:
        return shape(ctx.snapshot(ns_py))

    during = ctx.run(lambda: _holding(ctx, ns_py, queues, registered))
    ours = _without_runtime(during, ns_py, member)
    found = first_difference(theirs, ours) or first_difference(theirs_after, ctx.snapshot(ns_py))
    return found or "", {"registered": theirs, "unregistered": theirs_after}


def _record(ctx: Context, namespace: str, member: str) -> str | None:
    keys = KeySpace(namespace)
    value = ctx.snapshot(namespace).get(keys.unprefixed(keys.worker(member)), {}).get("value")
    # run_at is the time the job started: compared by form, the rest byte for byte
    return None if value is None else _RUN_AT.sub(lambda m: shape(m.group()), value)


def working_on_record(ctx: Context) -> tuple[str, Any]:
    """The ``worker:<id>`` record while a job runs: ``Resque::Worker#working_on`` of the
    payload pyresque enqueued vs a pyresque ruby-dialect worker running it: queue and
    payload byte for byte, ``run_at`` by form."""
    ns_rb, ns_py = ctx.namespace(), ctx.namespace()
    queues = [QUEUE]
    member = _member(queues)

    async def working(worker: Worker) -> str | None:
        return _record(ctx, ns_py, member)

    ours = ctx.run(lambda: _holding(ctx, ns_py, queues, working))
    _rb(ctx, ns_rb, "worker_register", worker=member, queues=queues)
    _rb(ctx, ns_rb, "worker_working_on", worker=member, queue=QUEUE, payload=_enqueued(ctx, ns_rb))
    theirs = _record(ctx, ns_rb, member)
    _rb(ctx, ns_rb, "worker_unregister", worker=member)
    if theirs is None or ours is None:
        return f"no working-on record: ruby {theirs!r}, pyresque {ours!r}", {"record": theirs}
    return first_difference(theirs, ours) or "", {"record": theirs}


def _enqueued(ctx: Context, namespace: str) -> str:
    """The bytes of one ``HOLD`` job pyresque (ruby dialect) enqueued, taken off the
    queue again: the payload the Ruby worker works on."""

    async def enqueue() -> None:
        async with Queue(ctx.redis_url, namespace=namespace, dialect="ruby") as queue:
            await queue.enqueue(QUEUE, HOLD, ARGS)

    ctx.run(enqueue)
    raw = ctx.client.lpop(KeySpace(namespace).queue(QUEUE))
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _lock(ctx: Context, namespace: str) -> dict[str, Any]:
    """The master lock in ``namespace``: key (the namespace as ``<ns>``), value by form,
    whether its TTL is within the lock timeout's last ten seconds."""
    keys = KeySpace(namespace)
    key = keys.master_lock()
    ttl = int(ctx.client.ttl(key))
    value = ctx.client.get(key)
    return {
        "key": keys.unprefixed(key).replace(namespace, "<ns>"),
        "value": shape(value.decode() if isinstance(value, bytes) else value),
        "ttl": f"{LOCK_S - 10}..{LOCK_S}" if LOCK_S - 10 <= ttl <= LOCK_S else ttl,
    }


def _scheduler(ctx: Context, namespace: str, at: float | None = None) -> Scheduler:
    clock = (lambda: at) if at is not None else None
    return Scheduler(ctx.redis_url, namespace=namespace, dialect="ruby", clock=clock)


def master_lock_and_due_jobs(ctx: Context) -> tuple[str, Any]:
    """resque-scheduler's master lock as ``Resque::Scheduler.master?`` takes it vs pyresque's
    ruby-dialect ``Scheduler``: key, value (host:pid) by form, TTL, gone once released; then
    a due delayed job promoted across: Ruby's ``enqueue_at`` by pyresque's scheduler and
    pyresque's ``enqueue_at`` by ``handle_delayed_items``, each namespace's keys byte for
    byte as when resque-scheduler promotes its own."""
    ns_rb, ns_py = ctx.namespace(), ctx.namespace()
    _rb(ctx, ns_rb, "scheduler_master")
    theirs = {"lock": _lock(ctx, ns_rb)}
    _rb(ctx, ns_rb, "scheduler_release")
    theirs["after"] = ctx.snapshot(ns_rb)

    async def pyresque_lock() -> dict[str, Any]:
        scheduler = _scheduler(ctx, ns_py)
        await scheduler.poll()
        try:
            return {"lock": _lock(ctx, ns_py)}
        finally:
            await scheduler.stop()

    ours = ctx.run(pyresque_lock)
    ours["after"] = ctx.snapshot(ns_py)
    found = first_difference(theirs, ours)
    if found:
        return f"master lock: {found}", theirs

    due = FUTURE_S + 10
    ruby_only, ruby_to_py, py_to_ruby = ctx.namespace(), ctx.namespace(), ctx.namespace()
    for ns in (ruby_only, ruby_to_py):
        _rb(ctx, ns, "enqueue_at", queue=QUEUE, at=FUTURE_S, args=ARGS, **{"class": OK})

    async def pyresque_side() -> None:
        async with Queue(ctx.redis_url, namespace=py_to_ruby, dialect="ruby") as queue:
            await queue.enqueue_at(FUTURE_S * 1000, QUEUE, OK, ARGS)
        scheduler = _scheduler(ctx, ruby_to_py, at=due)
        await scheduler.poll()
        await scheduler.stop()

    ctx.run(pyresque_side)
    for ns in (ruby_only, py_to_ruby):
        _rb(ctx, ns, "scheduler_handle_delayed_items", at=due)
        _rb(ctx, ns, "scheduler_release")
    promoted = ctx.snapshot(ruby_only)
    found = first_difference(promoted, ctx.snapshot(ruby_to_py))
    if found:
        return f"promoted by pyresque: {found}", promoted
    found = first_difference(promoted, ctx.snapshot(py_to_ruby))
    return (f"pyresque's promoted by resque-scheduler: {found}" if found else ""), {
        **theirs,
        "promoted": promoted,
    }


def dead_worker_pruning(ctx: Context) -> tuple[str, Any]:
    """resque's ``prune_dead_workers`` (a worker on another queue, as each Ruby worker does
    at start-up) on a worker whose heartbeat is stale, working on a job: a ``Resque::Worker``
    vs a pyresque ruby-dialect worker with the same id. Its failure entry byte for byte
    (``failed_at`` aside), and its registration keys gone."""
    ns_rb, ns_py = ctx.namespace(), ctx.namespace()
    queues = [QUEUE]
    member = _member(queues)
    stale_s = int(time.time()) - 3600  # resque prunes after 5 missed heartbeats (5 min)
    stale = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(stale_s))
    payload = _enqueued(ctx, ns_rb)
    _rb(ctx, ns_rb, "worker_register", worker=member, queues=queues, heartbeat_at=stale_s)
    _rb(ctx, ns_rb, "worker_working_on", worker=member, queue=QUEUE, payload=payload)
    _rb(ctx, ns_rb, "prune_dead_workers", queues=["elsewhere"])

    async def pruned(worker: Worker) -> Any:
        keys = KeySpace(ns_py)
        await asyncio.to_thread(ctx.client.hset, keys.heartbeats(), member, stale)
        await asyncio.to_thread(_rb, ctx, ns_py, "prune_dead_workers", queues=["elsewhere"])
        return ctx.snapshot(ns_py)

    ours = _without_runtime(ctx.run(lambda: _holding(ctx, ns_py, queues, pruned)), ns_py, member)
    theirs = ctx.snapshot(ns_rb)
    for side in (theirs, ours):
        for entry in side.values():
            if entry["type"] == "list" and any('"failed_at"' in v for v in entry["value"]):
                entry["value"] = [_FAILED_AT.sub('"failed_at":"<time>"', v) for v in entry["value"]]
    found = first_difference(theirs, ours) or ""
    # the pruning worker's lock (host:pid:queues of the peer's process) by form, as recorded
    lock = KeySpace(ns_rb).unprefixed(KeySpace(ns_rb).prune_lock())
    return found, {k: shape(v) if k == lock else v for k, v in theirs.items()}


RUBY_RUNTIME_CHECKS: dict[str, Check] = {
    "worker registration keys": worker_registration,
    "working-on record": working_on_record,
    "scheduler master lock and due jobs": master_lock_and_due_jobs,
    "dead worker pruning": dead_worker_pruning,
}
"""The Ruby checks of running workers and schedulers (after :data:`RUBY_CHECKS`' rows)."""
