"""Shared fixtures for pyresque's own tests (the Redis ones come from pyresque.testing).

The ``make_*`` factories build on the test's Redis and namespace; ``redis=`` targets
something else (a ``redis.asyncio.Redis``, Settings, a driver, another URL). What they
made is stopped when the test ends, whatever state the test left it in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import redis.asyncio

from pyresque import MultiWorker, Queue, Scheduler, Worker
from pyresque.protocol.keys import KeySpace


@pytest.fixture(params=["lean", "redis-py"])
async def queue(
    request: pytest.FixtureRequest, redis_url: str, resque_namespace: str
) -> AsyncIterator[Queue]:
    """A node-dialect Queue on the test's namespace, over each kind of connection."""
    if request.param == "lean":
        async with Queue(redis_url, namespace=resque_namespace) as q:
            yield q
        return
    client = redis.asyncio.Redis.from_url(redis_url)
    async with Queue(client, namespace=resque_namespace) as q:
        yield q
    await client.aclose()


@pytest.fixture
async def ruby_queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        yield q


@pytest.fixture
def keys(resque_namespace: str) -> KeySpace:
    """The test namespace's key names as pyresque spells them, for tests about something
    else than the names (those spell them out with ``tests.keys.key``)."""
    return KeySpace(resque_namespace)


@pytest.fixture
async def make_worker(
    redis_url: str, resque_namespace: str
) -> AsyncIterator[Callable[..., Worker]]:
    """``make_worker(queues="q", jobs=None, **options)``: a Worker whose poll interval
    (``timeout``) is one the tests never wait for, unless given."""
    made: list[Worker] = []

    def make(
        queues: str | Sequence[str] = "q", jobs: dict[str, Any] | None = None, **options: Any
    ) -> Worker:
        options.setdefault("namespace", resque_namespace)
        options.setdefault("timeout", 60_000)
        worker = Worker(options.pop("redis", redis_url), queues, jobs or {}, **options)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.stop(grace=0)


@pytest.fixture
async def make_multi_worker(
    redis_url: str, resque_namespace: str
) -> AsyncIterator[Callable[..., MultiWorker]]:
    """``make_multi_worker(jobs, **options)``: a MultiWorker on queue ``q`` that checks its
    pool every 50 ms."""
    made: list[MultiWorker] = []

    def make(jobs: dict[str, Any], **options: Any) -> MultiWorker:
        options.setdefault("namespace", resque_namespace)
        options.setdefault("queues", ["q"])
        options.setdefault("check_timeout", 50)
        # Generous against a loaded test machine; blocking jobs in the tests lag ~200 ms.
        options.setdefault("max_event_loop_delay", 50)
        multi = MultiWorker(options.pop("redis", redis_url), jobs=jobs, **options)
        made.append(multi)
        return multi

    yield make
    for multi in made:
        await multi.stop(grace=0)


@pytest.fixture
async def make_scheduler(
    redis_url: str, resque_namespace: str
) -> AsyncIterator[Callable[..., Scheduler]]:
    """``make_scheduler(**options)``: a Scheduler polling every 100 ms unless given."""
    made: list[Scheduler] = []

    def make(**options: Any) -> Scheduler:
        options.setdefault("namespace", resque_namespace)
        options.setdefault("timeout", 100)
        scheduler = Scheduler(options.pop("redis", redis_url), **options)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        await scheduler.stop()
