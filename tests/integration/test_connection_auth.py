"""AUTH and SELECT from the URL, on pyresque's async and blocking connections."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from pyresque import Queue
from pyresque.errors import ConnectionSetupError
from pyresque.sync import Queue as SyncQueue


@pytest.fixture
def acl_user(resque_redis: redis.Redis) -> Iterator[tuple[str, str]]:
    """A throwaway ACL user with full rights (other clients are left alone)."""
    name, secret = f"pyresque-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    resque_redis.acl_setuser(
        name, enabled=True, passwords=[f"+{secret}"], keys="*", channels="*", commands=["+@all"]
    )
    yield name, secret
    resque_redis.acl_deluser(name)


def _with(redis_url: str, credentials: str, db: int) -> str:
    parts = urlsplit(redis_url)
    netloc = f"{credentials}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, f"/{db}", "", ""))


async def test_the_async_connection_authenticates_as_the_urls_user_and_selects_its_db(
    redis_url: str, acl_user: tuple[str, str], resque_namespace: str
) -> None:
    name, secret = acl_user
    async with Queue(_with(redis_url, f"{name}:{secret}", 4), namespace=resque_namespace) as q:
        assert await q.enqueue("q", "job", [1])
        assert await q.length("q") == 1
    check = redis.Redis.from_url(_with(redis_url, f"{name}:{secret}", 4))
    assert check.acl_whoami() == name
    assert check.delete(f"{resque_namespace}:queue:q", f"{resque_namespace}:queues") == 2
    check.close()


def test_the_blocking_connection_authenticates_as_the_urls_user_and_selects_its_db(
    redis_url: str, acl_user: tuple[str, str], resque_namespace: str
) -> None:
    name, secret = acl_user
    with SyncQueue(_with(redis_url, f"{name}:{secret}", 4), namespace=resque_namespace) as q:
        assert q.enqueue("q", "job", [1])
        assert q.length("q") == 1
    check = redis.Redis.from_url(_with(redis_url, f"{name}:{secret}", 4))
    assert check.delete(f"{resque_namespace}:queue:q", f"{resque_namespace}:queues") == 2
    check.close()


async def test_a_wrong_password_is_a_connection_error_on_both_clients(
    redis_url: str, acl_user: tuple[str, str]
) -> None:
    name, _ = acl_user
    url = _with(redis_url, f"{name}:wrong", 0)
    address = urlsplit(redis_url).port
    began = time.monotonic()
    with pytest.raises(ConnectionSetupError, match=f"{address}/0 refused the connection setup"):
        async with Queue(url) as q:
            await q.length("q")
    sync = SyncQueue(url)
    with pytest.raises(ConnectionSetupError, match=f"{address}/0 refused the connection setup"):
        sync.length("q")
    sync.close()
    assert time.monotonic() - began < 2  # refused setups are not retried: it will not help
