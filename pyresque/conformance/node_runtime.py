"""The node-resque checks of what runs beside the queue: the built-in plugins' locks and the
scheduler's leader lock and promotion. node-resque (through its public ``Queue``, ``Worker``
and ``Scheduler``) and pyresque (node dialect) each play the same scenario on a namespace of
their own; the keys left are compared, times by form (relative to the clock) and TTLs by
range."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio

from pyresque.conformance.common import ARGS, Check, Context, first_difference, shape
from pyresque.definitions import JobDefinition
from pyresque.errors import PeerError
from pyresque.protocol import times
from pyresque.protocol.context import Context as ProtocolContext
from pyresque.protocol.keys import KeySpace
from pyresque.queue import Queue
from pyresque.scheduler import Scheduler
from pyresque.worker import Worker
from pyresque.worker.jobs import current_job

__all__ = ["NODE_RUNTIME_CHECKS"]

LOCK_S = 30
"""The ``lockTimeout`` of the plugin jobs (node_peer.js's conformance jobs)."""
JOB_LOCK_OPTIONS = {"JobLock": {"lockTimeout": LOCK_S, "enqueueTimeout": 1001}}
QUEUE, HELD_QUEUE = "conformance", "conformance-held"
LEADER_TTL_S = 180
"""node-resque's default ``leaderLockTimeout`` (pyresque's too)."""
WAIT_S = 10.0
DELAYED = re.compile(re.escape(KeySpace.delayed_member("")) + r"(\d+)")
"""A delayed second in a key or a ``timestamps:`` member."""


def _plugin_jobs(redis_url: str) -> dict[str, JobDefinition]:
    """pyresque's twins of node_peer.js's plugin jobs."""

    async def held(job_id: Any) -> Any:
        # Holds its JobLock until the check pushes to conformance-release:<id>.
        job = current_job()
        assert job is not None
        release = job.worker.context.keys.key("conformance-release", str(job_id))
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            await client.blpop([release], timeout=2 * WAIT_S)
        finally:
            await client.aclose()
        return job_id

    async def same(job_id: Any) -> Any:
        return job_id

    return {
        "confQueueLock": JobDefinition(
            same, plugins=("QueueLock",), plugin_options={"QueueLock": {"lockTimeout": LOCK_S}}
        ),
        "confDelayLock": JobDefinition(same, plugins=("DelayQueueLock",)),
        "confJobLock": JobDefinition(held, plugins=("JobLock",), plugin_options=JOB_LOCK_OPTIONS),
    }


def _until(ctx: Context, ns: str, what: str, found: Callable[[dict[str, Any]], bool]) -> None:
    """Poll the namespace's keys until ``found`` says yes (else PeerError naming it)."""
    deadline = time.monotonic() + WAIT_S
    while not found(ctx.snapshot(ns)):
        if time.monotonic() > deadline:
            raise PeerError(f"{ns}: no {what} within {WAIT_S} s")
        time.sleep(0.005)


def _lock_prefixes(ns: str) -> tuple[str, str]:
    """The unprefixed starts of the plugin jobs' QueueLock and JobLock keys."""
    keys = KeySpace(ns)
    return (
        keys.unprefixed(keys.queue_lock_prefix("confQueueLock", QUEUE)),
        keys.unprefixed(keys.job_lock_prefix("confJobLock", HELD_QUEUE)),
    )


def _delayed_start(ns: str) -> str:
    """What every ``delayed:<second>`` key starts with, unprefixed."""
    keys = KeySpace(ns)
    return keys.unprefixed(keys.delayed(0)).removesuffix("0")


def _plugin_prefixes(ns: str) -> tuple[str, ...]:
    """The unprefixed starts of every key the plugin scenario writes."""
    keys = KeySpace(ns)
    written = (keys.queue(QUEUE), keys.queue(HELD_QUEUE), keys.schedule(), keys.timestamps(""))
    return (*_lock_prefixes(ns), _delayed_start(ns), *(keys.unprefixed(k) for k in written))


def _has(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda keys: any(key.startswith(prefix) for key in keys)


def _lacks(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda keys: not any(key.startswith(prefix) for key in keys)


def _expiry_form(value: str, since_ms: float, timeout_s: int) -> str:
    """A lock holding its expiry second (node-resque's ``now + timeout + 1``), by form."""
    earliest = times.js_bucket(since_ms) + timeout_s + 1
    latest = times.js_bucket(time.time() * 1000) + timeout_s + 2
    return (
        f"now+{timeout_s + 1}" if earliest <= int(value) <= latest else f"not now+{timeout_s + 1}"
    )


def _ttl_form(ttl: int, timeout_s: int) -> str:
    """A TTL by range: within the timeout, over it, or none (-1) / gone (-2)."""
    if ttl > timeout_s:
        return f"> {timeout_s}"
    return f"(0,{timeout_s}]" if ttl > 0 else str(ttl)


def _when(second: int, since_ms: float) -> str:
    """A delayed second relative to the scenario's start: in seconds, to ten seconds."""
    ahead = second - times.js_bucket(since_ms)
    return "now+<10s" if 0 <= ahead < 10 else f"now+~{round(ahead / 10) * 10}s"


def _relabel(value: Any, seconds: dict[str, str]) -> Any:
    if isinstance(value, str):
        return DELAYED.sub(
            lambda m: KeySpace.delayed_member(seconds.get(m.group(1), m.group(1))), value
        )
    if isinstance(value, list):
        return [_relabel(v, seconds) for v in value]
    if isinstance(value, dict):
        return {_relabel(k, seconds): _relabel(v, seconds) for k, v in value.items()}
    return value


def _locks(ctx: Context, ns: str, since_ms: float, timeout_s: int) -> dict[str, Any]:
    """The namespace's plugin keys (locks, queues, delayed jobs) as they are, but for what
    depends on the clock: lock values and TTLs by form, delayed seconds relative to
    ``since_ms``."""
    keys = KeySpace(ns)
    snapshot = {
        key: entry
        for key, entry in ctx.snapshot(ns).items()
        if key.startswith(_plugin_prefixes(ns))
    }
    seconds = {
        m.group(1): _when(int(m.group(1)), since_ms) for m in map(DELAYED.fullmatch, snapshot) if m
    }
    out: dict[str, Any] = {}
    for key, entry in snapshot.items():
        if key.startswith(_lock_prefixes(ns)):
            entry = {
                "type": entry["type"],
                "value": _expiry_form(entry["value"], since_ms, timeout_s),
                "ttl": _ttl_form(int(ctx.client.ttl(keys.key(key))), timeout_s),
            }
        elif entry["type"] == "zset":  # the schedule: member and score, the same second
            pairs = [[seconds.get(m, m), _when(int(t), since_ms)] for m, t in entry["value"]]
            entry = {"type": "zset", "value": pairs}
        out[_relabel(key, seconds)] = _relabel(entry, seconds)
    return out


def _node_locks(ctx: Context) -> dict[str, Any]:
    ns = ctx.namespace()

    def enqueue(method: str, *args: Any) -> Any:
        return ctx.peer.call("queue", namespace=ns, method=method, args=list(args))

    since = time.time() * 1000
    record: dict[str, Any] = {
        "QueueLock enqueues": [enqueue("enqueue", QUEUE, "confQueueLock", [7]) for _ in "ab"],
        "DelayQueueLock enqueues": [
            enqueue("enqueueIn", 60_000, QUEUE, "confDelayLock", [1]) and None,
            enqueue("enqueue", QUEUE, "confDelayLock", [1]),
            enqueue("enqueue", QUEUE, "confDelayLock", [2]),
        ],
    }
    holder = ctx.peer.call(
        "worker_start", namespace=ns, name="conformance:held", queues=[HELD_QUEUE], work=True
    )
    try:
        enqueue("enqueue", HELD_QUEUE, "confJobLock", [3])
        _until(ctx, ns, "JobLock lock", _has(_lock_prefixes(ns)[1]))
        enqueue("enqueue", HELD_QUEUE, "confJobLock", [3])
        events = ctx.peer.call(
            "work", namespace=ns, name="conformance:other", queues=[HELD_QUEUE], until=["job"]
        )
        record["JobLock copy taken"] = [e["event"] for e in events]
        _until(
            ctx,
            ns,
            f"delayed copy of the locked job in {HELD_QUEUE}",
            _has(_delayed_start(ns)),
        )
        record["held"] = _locks(ctx, ns, since, LOCK_S)
        ctx.client.rpush(KeySpace(ns).key("conformance-release", "3"), "go")
    finally:
        ctx.peer.call("worker_end", name=holder)
    left = _locks(ctx, ns, since, LOCK_S)
    record["released"] = sorted(k for k in left if k.startswith(_lock_prefixes(ns)))
    return record


def _pyresque_locks(ctx: Context) -> dict[str, Any]:
    ns = ctx.namespace()
    jobs = _plugin_jobs(ctx.redis_url)

    async def play() -> dict[str, Any]:
        since = time.time() * 1000
        async with Queue(ctx.redis_url, namespace=ns, dialect="node", jobs=jobs) as queue:
            record: dict[str, Any] = {
                "QueueLock enqueues": [
                    await queue.enqueue(QUEUE, "confQueueLock", [7]) for _ in "ab"
                ],
                "DelayQueueLock enqueues": [
                    await queue.enqueue_in(60_000, QUEUE, "confDelayLock", [1]) and None,
                    await queue.enqueue(QUEUE, "confDelayLock", [1]),
                    await queue.enqueue(QUEUE, "confDelayLock", [2]),
                ],
            }
            holder = Worker(ctx.redis_url, HELD_QUEUE, jobs, namespace=ns, name="conformance:held")
            await holder.start()
            try:
                await queue.enqueue(HELD_QUEUE, "confJobLock", [3])
                await _off_loop(
                    lambda: _until(ctx, ns, "JobLock lock", _has(_lock_prefixes(ns)[1]))
                )
                await queue.enqueue(HELD_QUEUE, "confJobLock", [3])
                taken: list[str] = []
                other = Worker(
                    ctx.redis_url, HELD_QUEUE, jobs, namespace=ns, name="conformance:other"
                )
                other.on("job", lambda *_: taken.append("job"))
                await other.run(burst=True)
                record["JobLock copy taken"] = taken
                record["held"] = await _off_loop(lambda: _locks(ctx, ns, since, LOCK_S))
                ctx.client.rpush(KeySpace(ns).key("conformance-release", "3"), "go")
                await _off_loop(lambda: _until(ctx, ns, "release", _lacks(_lock_prefixes(ns)[1])))
            finally:
                await holder.stop()
            locks = await _off_loop(lambda: _locks(ctx, ns, since, LOCK_S))
            record["released"] = sorted(k for k in locks if k.startswith(_lock_prefixes(ns)))
            return record

    result: dict[str, Any] = ctx.run(play)
    return result


async def _off_loop(call: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(call)


def plugin_locks(ctx: Context) -> tuple[str, Any]:
    """node-resque's QueueLock, DelayQueueLock and JobLock on jobs defined with ``plugins``
    and ``pluginOptions``: which second enqueue each refuses, that a locked job's copy is
    put off (delayed) rather than run, and the keys they write (lock values as an expiry
    second relative to now, TTLs by range), then release; pyresque's plugins the same."""
    theirs = _node_locks(ctx)
    ours = _pyresque_locks(ctx)
    return first_difference(theirs, ours) or "", theirs


def _leader_form(ctx: Context, ns: str) -> dict[str, Any]:
    """The namespace's keys, the leader lock's value (``host:pid``) by form (this host as
    ``HOST``, digits as ``N``) and its TTL by range."""
    found = ctx.snapshot(ns)
    lock = KeySpace(ns)
    name = lock.unprefixed(lock.leader_lock())
    if name in found:
        ttl = int(ctx.client.ttl(lock.leader_lock()))
        value = found[name]["value"].replace(ProtocolContext.create().hostname, "HOST")
        found[name] = {"type": found[name]["type"], "value": shape(value)}
        found[name]["ttl"] = _ttl_form(ttl, LEADER_TTL_S)
    return found


def scheduler_leader(ctx: Context) -> tuple[str, Any]:
    """A due job node-resque delayed (``enqueueAt``) promoted by pyresque's Scheduler, and one
    pyresque delayed promoted by node-resque's ``Scheduler`` (its default name, one poll):
    the keys left (the queue's bytes, the leader lock: its name, value ``host:pid`` by form,
    TTL by range), and that ending each scheduler releases its lock."""
    ns_their_scheduler, ns_our_scheduler = ctx.namespace(), ctx.namespace()
    due = (time.time() - 5) * 1000
    ctx.peer.call(
        "queue", namespace=ns_our_scheduler, method="enqueueAt", args=[due, QUEUE, "confOk", ARGS]
    )

    async def pyresque_side() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Queue(ctx.redis_url, namespace=ns_their_scheduler, dialect="node") as queue:
            await queue.enqueue_at(due, QUEUE, "confOk", ARGS)
        scheduler = Scheduler(
            ctx.redis_url, namespace=ns_our_scheduler, dialect="node", stuck_worker_timeout=None
        )
        try:
            while await scheduler.poll():  # as its loop: again at once while some are due
                pass
            during = await _off_loop(lambda: _leader_form(ctx, ns_our_scheduler))
        finally:
            await scheduler.stop()
        return during, ctx.snapshot(ns_our_scheduler)

    ours, ours_after = ctx.run(pyresque_side)
    ctx.peer.call("scheduler_poll", namespace=ns_their_scheduler)
    theirs = _leader_form(ctx, ns_their_scheduler)
    ctx.peer.call("scheduler_end", namespace=ns_their_scheduler)
    theirs_after = ctx.snapshot(ns_their_scheduler)
    found = first_difference(theirs, ours) or first_difference(theirs_after, ours_after)
    return found or "", {"promoted": theirs, "ended": theirs_after}


NODE_RUNTIME_CHECKS: dict[str, Check] = {
    "plugin lock keys": plugin_locks,
    "scheduler leader lock and due jobs": scheduler_leader,
}
"""The node-resque plugin and scheduler checks (rows after :data:`NODE_CHECKS`')."""
