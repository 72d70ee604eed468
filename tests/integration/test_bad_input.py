"""Bad input gets a clear PyresqueError, nothing is half-written, nothing is lost."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
import redis
import redis.asyncio

from pyresque import (
    ConfigurationError,
    ConnectionFailedError,
    Dialect,
    PayloadDecodeError,
    PayloadEncodeError,
    PyresqueError,
    Queue,
)
from pyresque.protocol.plan import Call
from pyresque.sync import Queue as SyncQueue


def keys_of(r: redis.Redis, namespace: str) -> list[bytes]:
    return sorted(r.scan_iter(match=f"{namespace}:*"))


@pytest.mark.parametrize(
    "args",
    [
        [object()],
        [{1: "non-str key"}],
        [b"bytes"],
        [{"a": {1, 2}}],
        [datetime(2026, 1, 1)],
    ],
    ids=["object", "int-key", "bytes", "set", "datetime"],
)
async def test_unserialisable_args_are_refused_before_anything_is_written(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str, args: list[object]
) -> None:
    with pytest.raises(PayloadEncodeError):
        await queue.enqueue("q", "job", args)
    with pytest.raises(PayloadEncodeError):
        await queue.enqueue_at(1_900_000_000_000, "q", "job", args)
    assert keys_of(resque_redis, resque_namespace) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_nan_and_infinity_are_refused_unless_following_node_resque(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str, value: float
) -> None:
    async with Queue(redis_url, namespace=resque_namespace) as strict:
        with pytest.raises(PayloadEncodeError, match="(?i)nan|infinity"):
            await strict.enqueue("q", "job", [1, value])
    assert keys_of(resque_redis, resque_namespace) == []

    lenient = Dialect("node", non_finite="null")
    async with Queue(redis_url, namespace=resque_namespace, dialect=lenient) as peer_like:
        await peer_like.enqueue("q", "job", [1, value])
    assert resque_redis.lrange(f"{resque_namespace}:queue:q", 0, -1) == [
        b'{"class":"job","queue":"q","args":[1,null]}'
    ]


@pytest.mark.parametrize("name", ["", "   ", None, 5])
async def test_empty_or_non_string_queue_and_class_names_are_refused(
    queue: Queue, name: object
) -> None:
    with pytest.raises(PayloadEncodeError):
        await queue.enqueue(name, "job")
    with pytest.raises(PayloadEncodeError):
        await queue.enqueue("q", name)


def test_unknown_dialect_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown dialect 'python'"):
        Queue("redis://127.0.0.1:1/0", dialect="python")


@pytest.mark.parametrize("namespace", [5, None, ["ok", 3], b"bytes"])
def test_namespace_must_be_a_string_or_list_of_strings(namespace: object) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        Queue("redis://127.0.0.1:1/0", namespace=namespace)


def test_bad_urls_and_clients_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="unsupported Redis URL"):
        Queue("http://127.0.0.1:6379")
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        Queue(redis.asyncio.Redis(decode_responses=True))
    with pytest.raises(ConfigurationError, match="pyresque.sync.Queue"):
        Queue(redis.Redis())
    with pytest.raises(ConfigurationError):
        SyncQueue(redis.asyncio.Redis())


async def test_unreachable_redis_is_a_connection_error_naming_the_address() -> None:
    queue = Queue("redis://127.0.0.1:1/0", patience=0)  # not waiting for it to come up
    with pytest.raises(ConnectionFailedError, match=r"127\.0\.0\.1:1/0") as caught:
        await queue.enqueue("q", "job")
    assert isinstance(caught.value, PyresqueError)
    assert isinstance(caught.value.__cause__, OSError)
    await queue.aclose()
    with pytest.raises(ConnectionFailedError):
        SyncQueue("redis://127.0.0.1:1/0", patience=0).length("q")
    with pytest.raises(ConnectionFailedError):
        async with Queue(redis.asyncio.Redis(port=1), patience=0):
            pass


async def test_invalid_json_in_a_queue_is_reported_and_left_in_place(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    key = f"{resque_namespace}:queue:q"
    await queue.enqueue("q", "good")
    resque_redis.rpush(key, b'{"class":"x","args":[1]', b"\xff\xfe not utf-8", b"NaN")
    with pytest.raises(PayloadDecodeError) as caught:
        await queue.queued("q")
    assert caught.value.key == key
    assert caught.value.raw == b'{"class":"x","args":[1]'
    assert resque_redis.llen(key) == 4
    for index in (2, 3):
        with pytest.raises(PayloadDecodeError):
            await queue.queued("q", index, index)
    assert await queue.queued("q", 0, 0) == [{"class": "good", "queue": "q", "args": []}]


async def test_a_failed_entry_that_is_not_an_object_is_reported_and_kept(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    key = f"{resque_namespace}:failed"
    resque_redis.rpush(key, b'["not", "an", "object"]')
    with pytest.raises(PayloadDecodeError, match="not an object"):
        await queue.failed()
    assert await queue.failed_count() == 1
    assert await queue.retry_stuck_jobs() == 0
    assert resque_redis.llen(key) == 1


async def test_wrong_redis_type_surfaces_redis_error_without_side_effects(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    resque_redis.set(f"{resque_namespace}:queue:q", "a string, not a list")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await queue.enqueue("q", "job")
    assert resque_redis.get(f"{resque_namespace}:queue:q") == b"a string, not a list"


async def test_a_dropped_connection_fails_pending_calls_and_the_next_call_reconnects(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        await q.enqueue("q", "job")
        client_id = await q._driver.execute(Call("CLIENT", "ID"))
        resque_redis.client_kill_filter(_id=client_id)
        with pytest.raises(ConnectionFailedError):
            # the first write after the kill sees the closed socket (it may have run, so it
            # is not sent again; a read would be)
            for _ in range(50):
                await q.enqueue("w", "job")
        assert await q.length("q") == 1
