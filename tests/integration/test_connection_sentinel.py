"""redis+sentinel:// URLs: pyresque asks the Sentinels where the master is, checks it is
one, and follows a failover. Real redis-server processes (a master and a replica) and
Debian's redis-sentinel, with quorum 1 and a short down-after time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import ConnectionFailedError, DuplicateJobError, Queue, Scheduler, Worker
from pyresque.connection import Settings
from pyresque.errors import RedisReplyError, ReplicationTimeoutError
from pyresque.server import RedisServer
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import poll_until, wait_until
from tests.servers import FakeServer, Process, answering, free_port, need, refused_port

SERVICE = "pyresque-main"
NAMESPACE = "sentinel"
# What an enqueuer does when Redis is away or failing over: wait a little, send again.
# A job the replica did not confirm may be lost by the failover: it is sent again too.
RETRY = (ConnectionFailedError, RedisReplyError, ReplicationTimeoutError)


def _fields(reply: list[Any] | dict[bytes, Any]) -> dict[bytes, Any]:
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _set_marker(master: redis.Redis) -> bool:
    try:
        return bool(master.set("streaming", "yes"))
    except redis.ResponseError:  # NOREPLICAS: the replica is not counted yet
        return False


class Topology:
    """A master, its replica, and one Sentinel watching them."""

    def __init__(self, folder: Path) -> None:
        # A master that lost its replica refuses writes (NOREPLICAS) instead of taking
        # writes a failover would then discard: what spec/connection.md advises.
        self.master = RedisServer(
            args=["--min-replicas-to-write", "1", "--repl-diskless-sync-delay", "0"]
        )
        self.replica = RedisServer()
        self.sentinel: Process | None = None
        self.sentinel_client = redis.Redis()
        try:
            self._start(folder)
        except BaseException:
            self.stop()
            raise

    def _start(self, folder: Path) -> None:
        self.master.start()
        self.replica.args = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        # Synced is not enough: after a full sync Redis streams writes to a replica only
        # once it has acknowledged (within a second). Promoted before, it would be empty.
        master, replica = redis.Redis(port=self.master.port), redis.Redis(port=self.replica.port)
        wait_until(lambda: _set_marker(master) and replica.get("streaming") == b"yes", timeout=10)
        master.delete("streaming")
        master.close()
        replica.close()
        self.sentinel_port = free_port()
        config = folder / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {folder}\n"
            f"logfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 800\n"
            f"sentinel failover-timeout {SERVICE} 4000\n"
        )
        self.sentinel = Process(
            [need("redis-sentinel", "redis-sentinel"), str(config)], folder / "sentinel.log"
        )
        self.sentinel_client = redis.Redis(port=self.sentinel_port)
        self.sentinel_client.response_callbacks.clear()
        # A Sentinel asks its replicas for INFO every 10 s: allow a few rounds on a busy host.
        self.sentinel.wait_ready(self._replica_known, timeout=30)

    @property
    def url(self) -> str:
        # wait_replicas: an enqueue returns once the replica holds the job, so promoting
        # it loses none (spec/connection.md, "At least once").
        return (
            f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"
            "?socket_timeout=2&wait_replicas=1&wait_timeout=1"
        )

    def _replica_known(self) -> bool:
        """The Sentinel knows the replica and can promote it."""
        replicas = self.sentinel_client.execute_command("SENTINEL", "REPLICAS", SERVICE)
        return any(
            _fields(r).get(b"flags") == b"slave" and _fields(r).get(b"master-link-status") == b"ok"
            for r in replicas
        )

    def master_port(self) -> int:
        reply = self.sentinel_client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(reply[1])

    def failover(self) -> None:
        def started() -> bool:
            try:
                return bool(self.sentinel_client.execute_command("SENTINEL", "FAILOVER", SERVICE))
            except redis.ResponseError:  # NOGOODSLAVE: its view of the replica is being refreshed
                return False

        wait_until(started, timeout=10)

    def stop(self) -> None:
        self.sentinel_client.close()
        if self.sentinel is not None:
            self.sentinel.stop()
        for server in (self.master, self.replica):
            if server.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGCONT)
            server.stop()


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    need("redis-sentinel", "redis-sentinel")
    found = Topology(tmp_path)
    yield found
    found.stop()


class Traffic:
    """A worker, a scheduler and two enqueuers (async and blocking) on a Sentinel URL;
    every job carries its id, and ``done`` counts the runs of each."""

    def __init__(self, url: str) -> None:
        self.done: dict[int, int] = {}
        self.queue = Queue(url, namespace=NAMESPACE)
        self.sync_queue = SyncQueue(url, namespace=NAMESPACE)
        self.worker = Worker(url, "q", {"job": self._job}, namespace=NAMESPACE, timeout=100)
        self.scheduler = Scheduler(url, namespace=NAMESPACE, timeout=100)
        self.next_id = 0

    async def _job(self, n: int) -> None:
        self.done[n] = self.done.get(n, 0) + 1

    async def start(self) -> None:
        await self.worker.start()
        await self.scheduler.start()

    async def enqueue(self, count: int, *, pace: float = 0.015) -> None:
        """``count`` jobs, a few ms apart, alternating: async now, blocking now, async in
        50 ms (promoted by the scheduler). A refused or lost enqueue is sent again (at
        least once: a job may run twice, but none may be missing)."""
        for _ in range(count):
            n, self.next_id = self.next_id, self.next_id + 1
            await _retrying(functools.partial(self._send, n))
            await asyncio.sleep(pace)  # a steady trickle, as a web app would make

    def _send(self, n: int) -> Awaitable[object]:
        if n % 3 == 0:
            return self.queue.enqueue("q", "job", [n])
        if n % 3 == 1:
            return asyncio.to_thread(self.sync_queue.enqueue, "q", "job", [n])
        return self.queue.enqueue_in(50, "q", "job", [n])

    async def all_done(self, timeout: float = 15.0) -> None:
        wanted = set(range(self.next_id))
        try:
            await poll_until(lambda: _true(set(self.done) == wanted), timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"jobs never run: {sorted(wanted - set(self.done))}") from None

    async def stop(self) -> None:
        await self.worker.stop()
        await self.scheduler.stop()
        await self.queue.aclose()
        self.sync_queue.close()


async def _retrying(send: Callable[[], Awaitable[object]], *, give_up: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + give_up
    while True:
        try:
            await send()
            return
        except DuplicateJobError:
            return  # a delayed enqueue whose reply was lost had run
        except RETRY as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"an enqueue kept failing for {give_up} s: {exc}") from exc
            await asyncio.sleep(0.05)


async def _true(value: bool) -> bool:
    return value


async def test_queues_workers_and_the_scheduler_follow_a_sentinel_failover(
    topology: Topology,
) -> None:
    old, new = topology.master.port, topology.replica.port
    traffic = Traffic(topology.url)
    await traffic.start()
    await traffic.enqueue(30)
    await traffic.all_done()
    topology.failover()
    await traffic.enqueue(60)  # during and after the failover
    await traffic.all_done()
    assert topology.master_port() == new
    with redis.Redis(port=new) as promoted:
        assert promoted.role()[0] == b"master"
    await traffic.enqueue(15)
    await traffic.all_done()
    await traffic.stop()
    assert old != new and len(traffic.done) == 105


async def test_work_goes_on_when_the_master_is_killed(topology: Topology) -> None:
    traffic = Traffic(topology.url)
    await traffic.start()
    await traffic.enqueue(15)
    await traffic.all_done()
    assert topology.master.pid is not None
    os.kill(topology.master.pid, signal.SIGKILL)
    # Refused until the Sentinel promotes the replica, then unconfirmed (wait_replicas=1)
    # until the killed server is back and the Sentinel makes it the new master's replica.
    sending = asyncio.create_task(traffic.enqueue(30))
    await poll_until(lambda: _true(topology.master_port() == topology.replica.port), timeout=20)
    topology.master.restart()
    await sending
    await traffic.all_done(timeout=20)
    await traffic.stop()


def _fake_sentinel(master: tuple[str, int] | None) -> FakeServer:
    if master is None:
        reply = b"*-1\r\n"
    else:
        host, port = master[0].encode(), str(master[1]).encode()
        reply = b"*2\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(host), host, len(port), port)
    return FakeServer(answering({b"SENTINEL": reply}))


def _fake_replica() -> FakeServer:
    role = b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n"
    return FakeServer(answering({b"ROLE": role, b"PING": b"+PONG\r\n"}))


async def test_a_server_the_sentinel_names_must_say_it_is_the_master() -> None:
    with _fake_replica() as replica, _fake_sentinel(("127.0.0.1", replica.port)) as sentinel:
        url = f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}"
        message = rf"127\.0\.0\.1:{replica.port}/0 \(Sentinel service '{SERVICE}'\) is not a master"
        with pytest.raises(ConnectionFailedError, match=message):
            await Queue(url, patience=0).length("q")
        with pytest.raises(ConnectionFailedError, match=message):
            SyncQueue(url, patience=0).length("q")


async def test_sentinels_are_asked_in_turn_until_one_names_the_master(redis_url: str) -> None:
    master = Settings.from_url(redis_url)
    with (
        refused_port() as dead,
        _fake_sentinel(None) as unaware,
        _fake_sentinel((master.host, master.port)) as aware,
    ):
        hosts = f"127.0.0.1:{dead},127.0.0.1:{unaware.port},127.0.0.1:{aware.port}"
        queue = Queue(f"redis+sentinel://{hosts}/{SERVICE}/{master.db}")
        assert await queue.length("sentinel-test-nothing") == 0
        await queue.aclose()
        with SyncQueue(f"redis+sentinel://{hosts}/{SERVICE}/{master.db}") as sync_queue:
            assert sync_queue.length("sentinel-test-nothing") == 0
        assert aware.connections == 2


async def test_no_sentinel_knowing_the_master_is_one_error_naming_each() -> None:
    with refused_port() as dead, _fake_sentinel(None) as unaware:
        url = f"redis+sentinel://127.0.0.1:{dead},127.0.0.1:{unaware.port}/{SERVICE}"
        with pytest.raises(ConnectionFailedError) as info:
            await Queue(url, patience=0).length("q")
        with pytest.raises(ConnectionFailedError) as sync_info:
            SyncQueue(url, patience=0).length("q")
    for message in (str(info.value), str(sync_info.value)):
        assert message.startswith(f"no Sentinel named a master for service '{SERVICE}': ")
        assert f"cannot connect to Redis at 127.0.0.1:{dead}/0" in message
        assert f"Sentinel 127.0.0.1:{unaware.port} does not know it" in message
