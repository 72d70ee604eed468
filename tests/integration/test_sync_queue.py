"""pyresque.sync.Queue: the async API without await, on the same plans."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable

import pytest
import redis

import pyresque
from pyresque import DuplicateJobError
from pyresque.sync import Queue as SyncQueue


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_sync_queue_offers_every_async_method_with_the_same_signature() -> None:
    lifecycle = {"aclose", "close"}
    async_api = {k: v for k, v in _public(pyresque.Queue).items() if k not in lifecycle}
    sync_api = {k: v for k, v in _public(SyncQueue).items() if k not in lifecycle}
    assert sync_api.keys() == async_api.keys()
    for name, signature in async_api.items():
        assert str(sync_api[name]) == str(signature), name


def test_sync_queue_enqueues_and_reads_like_the_async_one(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    q = make_sync_queue()
    assert q.enqueue("math", "add", [1, 2]) is True
    assert q.enqueue_at(1_900_000_000_500, "math", "add", [3]) is True
    with pytest.raises(DuplicateJobError):
        q.enqueue_at(1_900_000_000_700, "math", "add", [3])
    assert q.queued("math") == [{"class": "add", "queue": "math", "args": [1, 2]}]
    assert q.timestamps() == [1_900_000_001_000]
    assert q.scheduled_at("math", "add", [3]) == [1_900_000_001]
    assert resque_redis.lrange(f"{resque_namespace}:queue:math", 0, -1) == [
        b'{"class":"add","queue":"math","args":[1,2]}'
    ]
    assert q.info()["pending"] == 1


def test_sync_queue_accepts_a_redis_client_and_leaves_it_open(
    redis_url: str, resque_namespace: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    with SyncQueue(client, namespace=resque_namespace, dialect="ruby") as q:
        q.enqueue("q", "Job", [1])
        assert q.queued("q") == [{"class": "Job", "args": [1]}]
    assert client.ping() is True
    client.close()


def test_sync_queue_is_safe_to_share_between_threads(
    make_sync_queue: Callable[..., SyncQueue],
) -> None:
    q = make_sync_queue()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                q.enqueue("threads", "job", [n, i])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert q.length("threads") == 400
