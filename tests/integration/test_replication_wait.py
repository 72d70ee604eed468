"""``wait_replicas``: a Queue returns from an enqueue only once that many replicas hold the
job (Redis ``WAIT``), so a failover cannot lose a job the caller was told is written. Real
redis-server processes: a master and its replica."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import redis

from pyresque import Queue
from pyresque.connection import Settings
from pyresque.errors import ConfigurationError, ReplicationTimeoutError
from pyresque.server import RedisServer
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import wait_until

NS = "waitrepl"


class Pair:
    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica = RedisServer()

    def start(self) -> None:
        self.master.start()
        self.replica.args = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        self.replica_client = redis.Redis(port=self.replica.port)
        master = redis.Redis(port=self.master.port)
        # Streaming, not only synced: a replica acknowledges writes once it has caught up.
        master.set("streaming", "yes")
        wait_until(lambda: self.replica_client.get("streaming") == b"yes", timeout=10)
        master.delete("streaming")
        master.close()

    def url(self, query: str) -> str:
        return f"redis://127.0.0.1:{self.master.port}/0?{query}"

    def stop(self) -> None:
        self.replica_client.close()
        if self.replica.pid is not None:
            os.kill(self.replica.pid, signal.SIGCONT)
        self.replica.stop()
        self.master.stop()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    found = Pair()
    try:
        found.start()
        yield found
    finally:
        found.stop()


def _on_replica(pair: Pair, key: str) -> list[bytes]:
    return list(pair.replica_client.lrange(key, 0, -1))


async def test_each_enqueue_returns_only_once_the_replica_holds_the_job(pair: Pair) -> None:
    async with Queue(pair.url("wait_replicas=1"), namespace=NS, dialect="node") as queue:
        assert queue.context.replicas == 1
        for n in range(50):
            # Read from the replica at once, no polling: the enqueue waited for it.
            await queue.enqueue("now", "job", [n])
            assert len(_on_replica(pair, f"{NS}:queue:now")) == n + 1
        await queue.enqueue_at(1_900_000_000_000, "later", "job", [1])
        assert _on_replica(pair, f"{NS}:delayed:1900000000") == [
            b'{"class":"job","queue":"later","args":[1]}'
        ]
        await queue.enqueue_many("many", "job", [[i] for i in range(20)])
        assert len(_on_replica(pair, f"{NS}:queue:many")) == 20
        await queue.delete_queue("now")
        await queue.delete_queue("many")
        await queue.delete_delayed("later", "job", [1])


def test_the_blocking_queue_waits_for_the_replica_too(pair: Pair) -> None:
    with SyncQueue(pair.url("wait_replicas=1"), namespace=NS, dialect="ruby") as queue:
        for n in range(20):
            queue.enqueue("sync", "Job", [n])
            assert len(_on_replica(pair, f"{NS}:queue:sync")) == n + 1
        queue.delete_queue("sync")


async def test_a_replica_that_cannot_confirm_is_an_error_naming_the_key(pair: Pair) -> None:
    assert pair.replica.pid is not None
    url = pair.url("wait_replicas=1&wait_timeout=0.2")
    async with Queue(url, namespace=NS) as queue:
        os.kill(pair.replica.pid, signal.SIGSTOP)  # alive, connected, silent
        try:
            with pytest.raises(ReplicationTimeoutError) as raised:
                await queue.enqueue("stalled", "job", [1])
            # The master has it: the error says "may be lost", so sending again is safe.
            assert await queue.length("stalled") == 1
        finally:
            os.kill(pair.replica.pid, signal.SIGCONT)
        await queue.delete_queue("stalled")
    message = str(raised.value)
    assert f"{NS}:queue:stalled" in message
    assert "0 of 1 replicas confirmed it within 200 ms" in message


async def test_more_replicas_than_exist_never_confirm(pair: Pair) -> None:
    url = pair.url("wait_replicas=2&wait_timeout=0.1")
    async with Queue(url, namespace=NS) as queue:
        with pytest.raises(ReplicationTimeoutError, match="1 of 2 replicas"):
            await queue.enqueue_in(60_000, "few", "job", [1])
        assert len(await queue.timestamps()) == 1
        await queue.delete_delayed("few", "job", [1])


async def test_without_wait_replicas_no_wait_is_sent(pair: Pair) -> None:
    master = redis.Redis(port=pair.master.port)
    before = master.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
    async with Queue(pair.url("socket_timeout=5"), namespace=NS) as queue:
        assert queue.context.replicas == 0
        await queue.enqueue("plain", "job", [1])
        await queue.delete_queue("plain")
    assert master.info("commandstats").get("cmdstat_wait", {}).get("calls", 0) == before
    master.close()


def test_the_url_options_are_checked() -> None:
    settings = Settings.from_url("redis://h:1/0?wait_replicas=2&wait_timeout=0.5")
    assert (settings.wait_replicas, settings.wait_timeout) == (2, 0.5)
    with pytest.raises(ConfigurationError, match="wait_replicas must be a whole number"):
        Settings(wait_replicas=-1)
    with pytest.raises(ConfigurationError, match="wait_timeout must be a number of seconds"):
        Settings(wait_timeout=0)
    with pytest.raises(ConfigurationError, match="bad value 'x' for wait_replicas"):
        Settings.from_url("redis://h/0?wait_replicas=x")
