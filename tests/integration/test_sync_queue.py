"""pyresque.sync.Queue: the async API without await, on the same plans."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

import pyresque
from pyresque import ConfigurationError, ConnectionFailedError, DuplicateJobError, JobDefinition
from pyresque.activejob import WRAPPER, ActiveJobs
from pyresque.connection import LeanSyncDriver, RedisPySyncDriver, Settings, SyncDriver
from pyresque.plugins import Plugin
from pyresque.protocol.plan import Call, Plan
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import wait_until
from tests.concurrency import run_in_fork, run_in_threads


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_sync_queue_offers_every_async_method_with_the_same_signature() -> None:
    lifecycle = {"aclose", "close", "after_fork"}  # the sync pool handles forks itself
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

    def work(n: int) -> None:
        for i in range(50):
            q.enqueue("threads", "job", [n, i])

    run_in_threads(work)
    assert q.length("threads") == 400


# -- pyresque's own blocking connections (a URL given) ------------------------------------


def _client_id(driver: SyncDriver) -> int:
    value = driver.execute(Call("CLIENT", "ID"))
    assert isinstance(value, int)
    return value


def test_a_url_queue_runs_on_pyresques_own_connections_and_a_client_on_redis_py(
    make_sync_queue: Callable[..., SyncQueue], redis_url: str
) -> None:
    assert isinstance(make_sync_queue()._driver, LeanSyncDriver)
    client = redis.Redis.from_url(redis_url)
    with SyncQueue(client) as q:
        assert isinstance(q._driver, RedisPySyncDriver)
    client.close()


def test_one_thread_keeps_reusing_one_socket(make_sync_queue: Callable[..., SyncQueue]) -> None:
    q = make_sync_queue()
    first = _client_id(q._driver)
    for i in range(20):
        q.enqueue("q", "job", [i])
    assert _client_id(q._driver) == first


def test_an_idle_socket_the_server_closed_is_replaced_before_the_next_call(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis
) -> None:
    q = make_sync_queue()
    assert q.enqueue("q", "job", [1])
    killed = _client_id(q._driver)
    assert resque_redis.client_kill_filter(_id=str(killed)) == 1
    # Nothing is re-sent after a failure, so the call must not go out on the dead socket.
    assert q.enqueue("q", "job", [2]) is True
    assert q.queued("q") == [
        {"class": "job", "queue": "q", "args": [1]},
        {"class": "job", "queue": "q", "args": [2]},
    ]
    assert _client_id(q._driver) != killed


def test_a_connection_lost_mid_call_raises_maybe_sent_and_the_next_call_reconnects(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    driver = LeanSyncDriver(Settings.from_url(redis_url))
    blocked = _client_id(driver)
    errors: list[ConnectionFailedError] = []

    def block() -> None:
        try:
            driver.execute(Call("BLPOP", f"{resque_namespace}:never", "30"))
        except ConnectionFailedError as exc:
            errors.append(exc)

    thread = threading.Thread(target=block)
    thread.start()

    def blocked_in_blpop() -> bool:
        clients = resque_redis.client_list()
        return any(c["id"] == str(blocked) and c["cmd"] == "blpop" for c in clients)

    wait_until(blocked_in_blpop)
    assert resque_redis.client_kill_filter(_id=str(blocked)) == 1
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert errors[0].maybe_sent is True
    assert "lost" in str(errors[0]) and Settings.from_url(redis_url).describe() in str(errors[0])
    assert driver.execute(Call("PING")) == b"PONG"
    assert _client_id(driver) != blocked
    driver.close()


def test_an_error_reply_leaves_the_socket_in_use(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    q = make_sync_queue()
    before = _client_id(q._driver)
    resque_redis.set(f"{resque_namespace}:queue:q", "not a list")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        q.enqueue("q", "job", [1])
    assert _client_id(q._driver) == before


def test_the_database_in_the_url_is_selected(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    parts = urlsplit(redis_url)
    db5 = urlunsplit((parts.scheme, parts.netloc, "/5", parts.query, ""))
    with SyncQueue(db5, namespace=resque_namespace) as q:
        assert q.enqueue("q", "job", [1])
    other = redis.Redis.from_url(db5)
    try:
        assert other.llen(f"{resque_namespace}:queue:q") == 1
        assert resque_redis.exists(f"{resque_namespace}:queue:q") == 0
    finally:
        other.delete(f"{resque_namespace}:queue:q", f"{resque_namespace}:queues")
        other.close()


def test_an_unreachable_redis_is_a_connection_error_naming_the_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        q = SyncQueue(f"redis://127.0.0.1:{port}/0", patience=0)  # not waiting for it
        with pytest.raises(ConnectionFailedError, match=f"127.0.0.1:{port}") as caught:
            q.enqueue("q", "job", [1])
    assert caught.value.maybe_sent is False
    q.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_socket_and_leaves_the_parents_alone(
    make_sync_queue: Callable[..., SyncQueue],
) -> None:
    q = make_sync_queue()
    parent = _client_id(q._driver)

    def child_enqueues() -> str:
        q.enqueue("q", "job", ["child"])
        return str(_client_id(q._driver))

    child = int(run_in_fork(child_enqueues))
    assert child not in (0, parent)
    assert _client_id(q._driver) == parent
    assert q.queued("q") == [{"class": "job", "queue": "q", "args": ["child"]}]


def test_blocking_code_enqueues_the_same_payload_through_pyresque_sync(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    q = make_sync_queue(dialect="ruby", clock=lambda: 1_795_890_000.0)
    args = ActiveJobs().payload_args(q, "ChargeJob", (7,), {"amount": 12}, "billing", "id-1")
    assert q.enqueue("billing", WRAPPER, args) is True
    (raw,) = resque_redis.lrange(f"{resque_namespace}:queue:billing", 0, -1)
    assert raw == (
        b'{"class":"ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper","args":[{"job_class":'
        b'"ChargeJob","job_id":"id-1","provider_job_id":null,"queue_name":"billing",'
        b'"priority":null,"arguments":[7,{"amount":12,"_aj_ruby2_keywords":["amount"]}],'
        b'"executions":0,"exception_executions":{},"locale":"en","timezone":null,'
        b'"enqueued_at":"2026-11-28T18:20:00Z"}]}'
    )


def test_the_constructors_take_the_same_options_in_the_same_order() -> None:
    def options(cls: type) -> list[tuple[str, Any, Any]]:
        params = list(inspect.signature(cls).parameters.values())[1:]  # after redis
        return [(p.name, p.kind, p.default) for p in params]

    assert options(SyncQueue) == options(pyresque.Queue)
    async_redis = inspect.signature(pyresque.Queue).parameters["redis"]
    sync_redis = inspect.signature(SyncQueue).parameters["redis"]
    assert (sync_redis.kind, sync_redis.default) == (async_redis.kind, async_redis.default)


class Recording(Plugin):
    async def after_enqueue(self) -> bool:
        await self.run(_rpush(self.context.keys.key("seen"), self.job_class))
        return True


def _rpush(key: str, value: str) -> Plan[None]:
    yield Call("RPUSH", key, value)


def test_a_blocking_enqueue_runs_the_jobs_plugins_like_the_async_queue(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    jobs = {
        "locked": JobDefinition(lambda: None, plugins=("QueueLock", Recording)),
        "delay_locked": JobDefinition(lambda: None, plugins=("DelayQueueLock",)),
    }
    q = make_sync_queue(jobs=jobs)
    assert q.enqueue("q", "locked", [1]) is True
    assert q.enqueue("q", "locked", [1]) is False  # QueueLock: a copy waits already
    assert q.enqueue("q", "locked", [2]) is True
    assert q.enqueue_in(60_000, "q", "delay_locked", [1]) is True
    assert q.enqueue("q", "delay_locked", [1]) is False  # DelayQueueLock: a copy is delayed
    assert q.length("q") == 2
    assert resque_redis.lrange(f"{resque_namespace}:seen", 0, -1) == [b"locked", b"locked"]
    assert sorted(q.locks()) == ["lock:locked:q:[1]", "lock:locked:q:[2]"]


class Sleepy(Plugin):
    async def before_enqueue(self) -> bool:
        await asyncio.sleep(0)
        return True


def test_a_hook_that_needs_an_event_loop_is_refused_with_the_reason(
    make_sync_queue: Callable[..., SyncQueue],
) -> None:
    q = make_sync_queue(jobs={"sleepy": JobDefinition(lambda: None, plugins=(Sleepy,))})
    with pytest.raises(ConfigurationError, match="without an event loop"):
        q.enqueue("q", "sleepy")
    assert q.length("q") == 0
