"""Worker, MultiWorker and Scheduler on a ``redis.asyncio.Redis`` the user made (the
RedisPyDriver path): jobs run, blocking waits wake, delayed jobs are promoted, failures
are recorded, and the user's client is left open and as it was."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from pyresque import MultiWorker, Queue, Scheduler, Worker
from pyresque.testing import poll_until
from tests.keys import key

USER_CLIENT = "pyresque-test-user-client"  # the name every connection of its pool gets


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """The user's client: pyresque must neither close it nor change how it replies."""
    user = redis.asyncio.Redis.from_url(redis_url, client_name=USER_CLIENT)
    yield user
    await user.aclose()


@pytest.fixture
async def queue(client: redis.asyncio.Redis, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(client, namespace=resque_namespace) as q:
        yield q


async def assert_open_and_unchanged(client: redis.asyncio.Redis, ns: str) -> None:
    """Still usable, with redis-py's reply conversions (PING -> True) still on."""
    assert await client.ping() is True
    await client.set(key(ns, "user", "probe"), "v")
    assert await client.get(key(ns, "user", "probe")) == b"v"


async def boom(*args: Any) -> None:
    raise RuntimeError("boom é")


async def test_a_worker_on_a_users_client_runs_jobs_records_a_failure_and_leaves_it_open(
    client: redis.asyncio.Redis,
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    sums: list[int] = []
    await queue.enqueue("q", "add", [1, 2])
    await queue.enqueue("q", "boom", ["x"])
    await queue.enqueue("q", "add", [3, 4])
    worker = make_worker(
        jobs={"add": lambda a, b: sums.append(a + b), "boom": boom}, name="user:1", redis=client
    )
    await worker.run(burst=True)

    assert sums == [3, 7]
    [failure] = await queue.failed()
    assert (failure["exception"], failure["error"]) == ("RuntimeError", "boom é")
    assert failure["payload"] == {"class": "boom", "queue": "q", "args": ["x"]}
    assert failure["worker"] == "user:1"
    assert await queue.stats() == {"failed": "1", "processed": "2"}  # node: successes only
    assert resque_redis.scard(key(resque_namespace, "workers")) == 0  # unregistered
    await assert_open_and_unchanged(client, resque_namespace)


async def test_a_worker_on_a_users_client_wakes_for_a_job_enqueued_while_it_waits(
    client: redis.asyncio.Redis,
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    # The poll interval is a minute: only the blocking wait on a pool connection wakes it.
    ran = asyncio.Event()
    worker = make_worker(jobs={"go": ran.set}, redis=client)
    await worker.start()
    assert await poll_until(queue.workers)  # registered, waiting
    waiting = await poll_until(lambda: _blocked_on_user_pool(resque_redis))
    assert waiting[0]["cmd"] == "blmove"  # on a connection of the user's pool
    await queue.enqueue("q", "go", [])
    await asyncio.wait_for(ran.wait(), 5)
    await worker.stop()
    assert await queue.workers() == {}
    await assert_open_and_unchanged(client, resque_namespace)


async def _blocked_on_user_pool(server: redis.Redis) -> list[dict[str, Any]]:
    return [c for c in server.client_list() if c["name"] == USER_CLIENT and c["cmd"] == "blmove"]


async def test_a_multi_worker_on_a_users_client_runs_every_job_and_leaves_it_open(
    client: redis.asyncio.Redis,
    queue: Queue,
    make_multi_worker: Callable[..., MultiWorker],
    resque_namespace: str,
) -> None:
    done: list[int] = []

    async def job(n: int) -> None:
        await asyncio.sleep(0.01)
        done.append(n)

    for n in range(20):
        await queue.enqueue("q", "job", [n])
    await queue.enqueue("q", "boom", [])
    multi = make_multi_worker(
        {"job": job, "boom": boom}, min_task_processors=1, max_task_processors=3, redis=client
    )
    await multi.start()
    await poll_until(lambda: _settled(queue, 21))
    await multi.stop()

    assert sorted(done) == list(range(20))
    [failure] = await queue.failed()
    assert failure["payload"]["class"] == "boom"
    assert await queue.workers() == {}
    await assert_open_and_unchanged(client, resque_namespace)


async def _settled(queue: Queue, jobs: int) -> bool:
    stats = await queue.stats()
    return int(stats.get("processed") or 0) + int(stats.get("failed") or 0) >= jobs


async def test_a_scheduler_on_a_users_client_promotes_due_jobs_for_a_worker_on_it_too(
    client: redis.asyncio.Redis,
    queue: Queue,
    make_scheduler: Callable[..., Scheduler],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    now_ms = time.time() * 1000
    await queue.enqueue_at(now_ms - 5000, "q", "add", [1, 2])  # due
    await queue.enqueue_at(now_ms - 1000, "q", "boom", [])  # due
    await queue.enqueue_at(now_ms + 3_600_000, "q", "add", [5, 5])  # an hour away
    scheduler = make_scheduler(name="user-scheduler", redis=client)
    await scheduler.start()
    assert await poll_until(lambda: _length(queue, "q", 2)) == 2
    assert scheduler.leader is True
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    assert resque_redis.get(lock) == b"user-scheduler"

    sums: list[int] = []
    worker = make_worker(jobs={"add": lambda a, b: sums.append(a + b), "boom": boom}, redis=client)
    await worker.run(burst=True)
    await scheduler.stop()

    assert sums == [3]
    assert [f["payload"]["class"] for f in await queue.failed()] == ["boom"]
    assert await queue.count_all_scheduled_jobs() == 1  # the later one stays delayed
    assert resque_redis.get(lock) is None  # released on stop
    await assert_open_and_unchanged(client, resque_namespace)


async def _length(queue: Queue, name: str, at_least: int) -> int:
    length = await queue.length(name)
    return length if length >= at_least else 0
