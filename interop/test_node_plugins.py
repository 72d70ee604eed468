"""node-resque 9.7.1's plugins and pyresque's twins on one Redis behave as one.

Both peers define the same job classes with the same plugins and options (node's in
interop/node/peer.js ``pluginJobsFor``, pyresque's in :func:`py_jobs`), so they meet on the
same lock and retry keys. Delayed retries are moved to their queue by the test itself
(:func:`promote`), not by a scheduler, so nothing waits on a clock.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from interop.harness import Peer
from pyresque import JobDefinition, Queue, Worker, current_job
from pyresque.protocol import times
from pyresque.testing import poll_until

pytestmark = pytest.mark.interop

JOB_LOCK = {"JobLock": {"lockTimeout": 30, "enqueueTimeout": 1001}}
RETRY = {"Retry": {"retryLimit": 3, "retryDelay": 100, "backoffStrategy": [100, 200]}}


def py_jobs(client: redis.Redis) -> dict[str, JobDefinition]:
    """pyresque's twins of peer.js's plugin jobs."""

    def done_key(*parts: str) -> str:
        job = current_job()
        assert job is not None
        key: str = job.worker.context.keys.key(*parts)
        return key

    def mark(job_id: Any) -> None:
        client.rpush(done_key("done"), f"{job_id}:py")

    async def locked_slow(job_id: Any, ms: float) -> Any:
        await asyncio.to_thread(mark, job_id)
        await asyncio.sleep(ms / 1000)
        return job_id

    def marked(job_id: Any) -> Any:
        mark(job_id)
        return job_id

    def retried(job_id: Any, *rest: Any) -> None:
        mark(job_id)
        raise RuntimeError("BUSTED")

    def flaky(job_id: Any) -> int:
        attempt = int(client.incr(done_key("flaky", str(job_id))))
        mark(job_id)
        if attempt == 1:
            raise RuntimeError("first attempt")
        return attempt

    def noop_fail() -> None:
        raise RuntimeError("BUSTED")

    return {
        "lockedSlow": JobDefinition(locked_slow, plugins=("JobLock",), plugin_options=JOB_LOCK),
        "queueLocked": JobDefinition(
            marked, plugins=("QueueLock",), plugin_options={"QueueLock": {"lockTimeout": 30}}
        ),
        "delayLocked": JobDefinition(marked, plugins=("DelayQueueLock",)),
        "retried": JobDefinition(retried, plugins=("Retry",), plugin_options=RETRY),
        "flaky": JobDefinition(
            flaky,
            plugins=("Retry",),
            plugin_options={"Retry": {"retryLimit": 3, "retryDelay": 100}},
        ),
        "noopFail": JobDefinition(
            noop_fail, plugins=("Noop",), plugin_options={"Noop": {"logger": lambda e: None}}
        ),
    }


@pytest.fixture
def jobs(resque_redis: redis.Redis) -> dict[str, JobDefinition]:
    return py_jobs(resque_redis)


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        yield q


@pytest.fixture
async def plugin_queue(
    redis_url: str, resque_namespace: str, jobs: dict[str, JobDefinition]
) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as q:
        yield q


def node_plugin_queue(node: Peer, ns: str, method: str, *args: Any) -> Any:
    return node.call("plugin_queue", namespace=ns, method=method, args=list(args))


async def node_work(node: Peer, ns: str, queue: str, **options: Any) -> list[dict[str, Any]]:
    """A node worker with the plugin jobs, until ``count`` events of ``until``."""
    events: list[dict[str, Any]] = await asyncio.to_thread(
        node.call, "plugin_work", namespace=ns, name="node:1", queues=[queue], **options
    )
    return events


async def py_work(redis_url: str, ns: str, queue: str, jobs: Any) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    worker = Worker(redis_url, queue, jobs, namespace=ns, name="py:1", timeout=60_000)
    for name in ("success", "failure"):
        worker.on(name, lambda q, payload, *rest, name=name: events.append((name, None)))
    worker.on("reEnqueue", lambda q, job, detail: events.append(("reEnqueue", detail)))
    await worker.run(burst=True)
    return events


async def promote(queue: Queue, q: str, job_class: str, args: list[Any]) -> None:
    """The scheduler's work, done now: move a delayed job to its queue."""
    assert await queue.delete_delayed(q, job_class, args), f"{job_class}{args} is not delayed"
    await queue.enqueue(q, job_class, args)


def done(client: redis.Redis, ns: str) -> list[str]:
    return [item.decode() for item in client.lrange(f"{ns}:done", 0, -1)]


def lock_is_fresh(client: redis.Redis, key: str, timeout: int, since_ms: float) -> bool:
    """The lock holds node's expiry second for a lock taken between ``since_ms`` and now
    (bounds, not a reading of the clock at check time: a slow machine checks late)."""
    value, ttl = client.get(key), client.ttl(key)
    earliest = times.js_bucket(since_ms) + timeout + 1
    latest = times.js_bucket(time.time() * 1000) + timeout + 1
    return value is not None and earliest <= int(value) <= latest + 1 and 0 < ttl <= timeout


# -- JobLock ---------------------------------------------------------------------------------


async def test_a_job_lock_held_by_node_puts_off_the_copy_a_pyresque_worker_takes(
    node: Peer, queue: Queue, jobs: Any, redis_url: str, resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:  # fmt: skip
    ns = resque_namespace
    lock = f"{ns}:workerslock:lockedSlow:jl:[1,800]"
    await asyncio.to_thread(
        node.call, "plugin_work_start", namespace=ns, name="node:lock", queues=["jl"]
    )
    try:
        since = time.time() * 1000
        await queue.enqueue("jl", "lockedSlow", [1, 800])
        await poll_until(lambda: asyncio.to_thread(resque_redis.exists, lock))
        assert lock_is_fresh(resque_redis, lock, 30, since)
        await queue.enqueue("jl", "lockedSlow", [1, 800])
        sent = time.time() * 1000
        assert await py_work(redis_url, ns, "jl", jobs) == []  # refused: no success, no failure
        [at] = await queue.scheduled_at("jl", "lockedSlow", [1, 800])
        assert at - times.js_bucket(sent + 1001) in (0, 1)
        assert resque_redis.exists(lock) == 1  # still node's
    finally:
        await asyncio.to_thread(node.call, "work_stop", name="node:lock")
    assert resque_redis.exists(lock) == 0  # node released it when its job ended
    assert done(resque_redis, ns) == ["1:node"]
    assert await queue.stats() == {"processed": "1"}


async def test_a_job_lock_held_by_pyresque_puts_off_the_copy_a_node_worker_takes(
    node: Peer, queue: Queue, jobs: Any, redis_url: str, resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:  # fmt: skip
    ns = resque_namespace
    lock = f"{ns}:workerslock:lockedSlow:jl:[2,800]"
    worker = Worker(redis_url, "jl", jobs, namespace=ns, name="py:lock", timeout=60_000)
    await worker.start()
    try:
        since = time.time() * 1000
        await queue.enqueue("jl", "lockedSlow", [2, 800])
        await poll_until(lambda: asyncio.to_thread(resque_redis.exists, lock))
        assert lock_is_fresh(resque_redis, lock, 30, since)
        await queue.enqueue("jl", "lockedSlow", [2, 800])
        sent = time.time() * 1000
        events = await node_work(node, ns, "jl", count=1, until=["job"])
        assert [e["event"] for e in events] == ["job"]  # refused: no success, no failure
        [at] = await queue.scheduled_at("jl", "lockedSlow", [2, 800])
        assert at - times.js_bucket(sent + 1001) in (0, 1)
        assert resque_redis.exists(lock) == 1
    finally:
        await worker.stop()
    assert resque_redis.exists(lock) == 0
    assert done(resque_redis, ns) == ["2:py"]
    assert await queue.stats() == {"processed": "1"}


# -- QueueLock and DelayQueueLock ------------------------------------------------------------


async def test_queue_locks_refuse_the_same_enqueues_on_both_sides(
    node: Peer, plugin_queue: Queue, jobs: Any, redis_url: str, resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:  # fmt: skip
    ns = resque_namespace
    since = time.time() * 1000
    assert node_plugin_queue(node, ns, "enqueue", "qa", "queueLocked", [7]) is True
    assert await plugin_queue.enqueue("qa", "queueLocked", [7]) is False
    assert await plugin_queue.enqueue("qb", "queueLocked", [8]) is True
    assert node_plugin_queue(node, ns, "enqueue", "qb", "queueLocked", [8]) is False
    locks = [f"{ns}:lock:queueLocked:qa:[7]", f"{ns}:lock:queueLocked:qb:[8]"]
    for lock in locks:  # the same value and TTL, whoever took the lock
        assert lock_is_fresh(resque_redis, lock, 30, since)
    assert await plugin_queue.length("qa") == await plugin_queue.length("qb") == 1

    # Taking a job frees its lock before it runs, on either side.
    await node_work(node, ns, "qa", count=1)
    await py_work(redis_url, ns, "qb", jobs)
    assert sorted(done(resque_redis, ns)) == ["7:node", "8:py"]
    assert resque_redis.exists(*locks) == 0
    assert node_plugin_queue(node, ns, "enqueue", "qb", "queueLocked", [8]) is True
    assert await plugin_queue.enqueue("qa", "queueLocked", [7]) is True

    # Keys from args with non-ASCII text and floats: both sides spell them the same.
    odd = [{"k": "v é", "n": 1.5, "z": None}, "日本"]
    assert await plugin_queue.enqueue("qc", "queueLocked", odd) is True
    assert node_plugin_queue(node, ns, "enqueue", "qc", "queueLocked", odd) is False
    assert resque_redis.exists(f'{ns}:lock:queueLocked:qc:[{{"k":"v é","n":1.5,"z":null}},"日本"]')

    # A lock left without a TTL and a past value is taken over by both.
    for n, side in ((9, "node"), (10, "py")):
        key = f"{ns}:lock:queueLocked:ql:[{n}]"
        resque_redis.set(key, b"100")
        since = time.time() * 1000
        if side == "node":
            assert node_plugin_queue(node, ns, "enqueue", "ql", "queueLocked", [n]) is True
        else:
            assert await plugin_queue.enqueue("ql", "queueLocked", [n]) is True
        assert lock_is_fresh(resque_redis, key, 30, since)


async def test_delay_queue_lock_refuses_the_same_enqueues_on_both_sides(
    node: Peer, plugin_queue: Queue, queue: Queue, resque_namespace: str
) -> None:
    ns = resque_namespace
    node_plugin_queue(node, ns, "enqueueIn", 60_000, "dq", "delayLocked", [1])
    await queue.enqueue_in(60_000, "dq", "delayLocked", [2])
    for n in (1, 2):
        assert node_plugin_queue(node, ns, "enqueue", "dq", "delayLocked", [n]) is False
        assert await plugin_queue.enqueue("dq", "delayLocked", [n]) is False
    assert node_plugin_queue(node, ns, "enqueue", "dq", "delayLocked", [3]) is True
    assert await plugin_queue.enqueue("dq", "delayLocked", [4]) is True
    assert [j["args"] for j in await queue.queued("dq")] == [[3], [4]]


# -- Retry -----------------------------------------------------------------------------------


def retry_keys(ns: str, job_class: str, args_key: str) -> tuple[str, str]:
    return (
        f"{ns}:resque-retry:{job_class}:{args_key}",
        f"{ns}:failure-resque-retry:{job_class}:{args_key}",
    )


def check_last_error(client: redis.Redis, key: str, args: list[Any], exception: str) -> None:
    error = json.loads(client.get(key))
    assert list(error) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", error["failed_at"])
    assert error["payload"] == args and error["worker"] == "retried" and error["queue"] == "rq"
    assert error["exception"] == error["error"] == exception == error["backtrace"][0]


@pytest.mark.parametrize("first", ["node", "py"])
async def test_a_retry_chain_begun_on_one_side_goes_on_on_the_other(
    first: str, node: Peer, queue: Queue, jobs: Any, redis_url: str, resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:  # fmt: skip
    ns = resque_namespace
    # node's argsKey (objects as JSON, joined with "-"), less the key's first whitespace
    args = [5, "a b", {"c": [1, None, "d e"]}]
    count_key, error_key = retry_keys(ns, "retried", '5-ab-{"c":[1,null,"d e"]}')
    order = ["node", "py", "node"] if first == "node" else ["py", "node", "py"]
    exceptions = {"node": "Error: BUSTED", "py": "RuntimeError: BUSTED"}
    delays: list[tuple[int, int]] = []
    await queue.enqueue("rq", "retried", args)
    for attempt, side in enumerate(order):
        if side == "node":
            events = await node_work(node, ns, "rq", count=1)
            retries = [e for e in events if e["event"] == "reEnqueue"]
            delays += [(e["delay"], e["remainingAttempts"]) for e in retries]
            last = events[-1]["event"]
        else:
            py_events = await py_work(redis_url, ns, "rq", jobs)
            details = [d for n, d in py_events if n == "reEnqueue"]
            delays += [(d["delay"], d["remainingAttempts"]) for d in details]
            last = py_events[-1][0]
        if attempt < 2:
            assert last == "success"  # as node-resque: a retried failure is a "success"
            assert resque_redis.get(count_key) == str(attempt).encode()
            # node keeps the keys the largest delay in ms, as seconds (200 s); pyresque at
            # least that and the delay plus an hour
            assert resque_redis.ttl(count_key) > (3600 if side == "py" else 190)
            check_last_error(resque_redis, error_key, args, exceptions[side])
            assert (await queue.stats()).get("failed") == str(attempt + 1)
            assert int((await queue.stats()).get("processed", "0")) == 0
            await promote(queue, "rq", "retried", args)
        else:
            assert last == "failure"
    assert delays == [(100, 2), (200, 1)]
    assert resque_redis.exists(count_key, error_key) == 0
    assert done(resque_redis, ns) == [f"5:{side}" for side in order]
    [failed] = await queue.failed()
    assert failed["payload"] == {"class": "retried", "queue": "rq", "args": args}
    assert (await queue.stats()).get("failed") == "3"
    assert await queue.scheduled_at("rq", "retried", args) == []


@pytest.mark.parametrize("first", ["node", "py"])
async def test_a_retry_that_succeeds_on_the_other_side_clears_the_keys(
    first: str, node: Peer, queue: Queue, jobs: Any, redis_url: str, resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:  # fmt: skip
    ns = resque_namespace
    count_key, error_key = retry_keys(ns, "flaky", "9")
    await queue.enqueue("rq", "flaky", [9])
    for side in (first, "py" if first == "node" else "node"):
        if side == "node":
            await node_work(node, ns, "rq", count=1)
        else:
            await py_work(redis_url, ns, "rq", jobs)
        if resque_redis.exists(count_key):
            assert resque_redis.get(count_key) == b"0"
            await promote(queue, "rq", "flaky", [9])
    assert resque_redis.exists(count_key, error_key) == 0
    assert done(resque_redis, ns) == [f"9:{first}", f"9:{'py' if first == 'node' else 'node'}"]
    stats = await queue.stats()
    assert stats.get("failed") == "1" and stats.get("processed") == "1"
    assert await queue.failed_count() == 0


# -- Noop ------------------------------------------------------------------------------------


async def test_noop_turns_failures_into_successes_on_both_sides(
    node: Peer, queue: Queue, jobs: Any, redis_url: str, resque_namespace: str
) -> None:
    ns = resque_namespace
    node.call("noop_logged")
    await queue.enqueue("nq", "noopFail")
    events = await node_work(node, ns, "nq", count=1)
    assert [e["event"] for e in events] == ["job", "success"]
    assert node.call("noop_logged") == ["Error: BUSTED"]
    await queue.enqueue("nq", "noopFail")
    assert await py_work(redis_url, ns, "nq", jobs) == [("success", None)]
    assert await queue.stats() == {"processed": "2"}
    assert await queue.failed_count() == 0
