"""Shared fixtures for pyresque's own tests (the Redis ones come from pyresque.testing)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pyresque import Queue


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
