"""Redis away for a while (restarting and LOADING, refusing writes under maxmemory, not
there yet at start-up, dropping connections): workers, pools and schedulers wait and go on,
every job settled exactly once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.exceptions

from pyresque import ConnectionFailedError, MultiWorker, Queue, Scheduler, Worker
from pyresque.connection import AsyncDriver, open_async_driver
from pyresque.errors import RedisOutOfMemoryError, TransientReplyError
from pyresque.protocol.keys import KeySpace
from pyresque.protocol.plan import Step
from pyresque.server import RedisServer, find_redis_server
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import poll_until

pytestmark = pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server")

# Keys Redis reads slowly at start-up: a restart answers LOADING for about a second.
PADDING_KEYS = 5000
SLOW_LOADING = [
    "--appendonly", "yes",
    "--key-load-delay", "100",
    "--loading-process-events-interval-bytes", "1024",
    "--enable-debug-command", "yes",
]  # fmt: skip


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private Redis with a dataset that takes about a second to load."""
    started = RedisServer(args=SLOW_LOADING)
    started.start()
    client = redis.Redis(port=started.port)
    client.execute_command("DEBUG", "POPULATE", PADDING_KEYS, "pad", 10)
    client.bgrewriteaof()
    while client.info("persistence")["aof_rewrite_in_progress"]:
        threading.Event().wait(0.02)
    client.close()
    yield started
    started.stop()


def restart_in_thread(server: RedisServer) -> threading.Thread:
    thread = threading.Thread(target=server.restart)
    thread.start()
    return thread


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_a_worker_waits_out_a_restart_and_settles_the_job_it_was_running_once(
    server: RedisServer, dialect: str
) -> None:
    ns = f"restart-{dialect}"
    started = asyncio.Event()
    release = asyncio.Event()
    done: list[int] = []

    async def slow(n: int) -> None:
        started.set()
        await release.wait()
        done.append(n)

    worker = Worker(server.url, "q", {"slow": slow}, namespace=ns, dialect=dialect, timeout=100)
    errors: list[Any] = []
    worker.on("error", lambda *args: errors.append(args[0]))
    async with Queue(server.url, namespace=ns, dialect=dialect) as queue:
        for n in range(5):
            await queue.enqueue("q", "slow", [n])
    await worker.start()
    await started.wait()  # job 0 runs; Redis restarts under it
    thread = restart_in_thread(server)
    await asyncio.to_thread(thread.join)
    release.set()  # job 0 ends while Redis still answers LOADING: its settle waits
    await poll_until(lambda: _true(len(done) == 5), timeout=30)
    client = redis.Redis(port=server.port)
    keys = KeySpace(ns)
    await poll_until(lambda: _true(client.get(keys.worker(worker.identity.member)) is None))
    await worker.stop()
    assert done == [0, 1, 2, 3, 4]
    assert client.get(keys.stat("processed")) == b"5"
    assert client.llen(keys.failed()) == 0
    assert worker.running is False
    kinds = {type(e).__name__ for e in errors}
    assert kinds & {"ConnectionFailedError", "RedisLoadingError"}, kinds
    assert len(errors) <= 3  # reported, not once per retry
    client.close()


async def test_a_pool_keeps_working_through_a_restart(server: RedisServer) -> None:
    ns = "restart-pool"
    done: list[int] = []

    async def job(n: int) -> None:
        await asyncio.sleep(0.01)
        done.append(n)

    pool = MultiWorker(
        server.url, "q", {"job": job}, namespace=ns, timeout=100,
        min_task_processors=3, max_task_processors=3, check_timeout=20,
    )  # fmt: skip
    await pool.start()
    async with Queue(server.url, namespace=ns) as queue:
        for n in range(30):
            await queue.enqueue("q", "job", [n])
        await poll_until(lambda: _true(len(done) >= 5))
        await asyncio.to_thread(server.restart)
        await poll_until(lambda: _true(len(pool.workers) == 3))
        for n in range(30, 40):
            await queue.enqueue("q", "job", [n])  # within the queue's patience
        await poll_until(lambda: _true(len(set(done)) == 40), timeout=30)
    await pool.stop()
    assert sorted(done) == list(range(40))  # each once


async def test_a_scheduler_waits_out_a_restart_and_promotes_each_job_once(
    server: RedisServer,
) -> None:
    ns = "restart-scheduler"
    async with Queue(server.url, namespace=ns) as queue:
        now = await _redis_now(server)
        for n in range(20):
            await queue.enqueue_at((now + 1 + n % 3) * 1000, "q", "job", [n])
    scheduler = Scheduler(server.url, namespace=ns, timeout=50)
    await scheduler.start()
    await asyncio.to_thread(server.restart)
    client = redis.Redis(port=server.port)
    keys = KeySpace(ns)
    await poll_until(lambda: _true(client.llen(keys.queue("q")) == 20), timeout=30)
    await scheduler.stop()
    moved = sorted(json.loads(p)["args"][0] for p in client.lrange(keys.queue("q"), 0, -1))
    assert moved == list(range(20)) and client.zcard(keys.schedule()) == 0
    client.close()


async def test_a_worker_started_before_redis_is_up_starts_once_it_answers(
    resque_namespace: str,
) -> None:
    server = RedisServer()
    server.start()
    port = server.port
    server.stop()
    later = RedisServer(port=port)
    done: list[int] = []
    worker = Worker(later.url, "q", {"add": lambda a, b: done.append(a + b)}, timeout=50)
    starting = asyncio.ensure_future(worker.start())
    try:
        await asyncio.sleep(0.3)
        assert not starting.done() and not worker.running
        later.start()
        await asyncio.wait_for(starting, 10)
        async with Queue(later.url) as queue:
            await queue.enqueue("q", "add", [1, 2])
        await poll_until(lambda: _true(done == [3]))
    finally:
        await worker.stop()
        later.stop()


async def test_a_worker_asked_to_stop_while_redis_is_away_at_start_up_never_starts() -> None:
    server = RedisServer()
    server.start()
    url = server.url
    server.stop()
    worker = Worker(url, "q", {}, timeout=50)
    starting = asyncio.ensure_future(worker.start())
    await asyncio.sleep(0.2)
    worker.request_stop()
    await asyncio.wait_for(starting, 5)
    await asyncio.wait_for(worker.join(), 5)
    assert worker.running is False


class Cut(AsyncDriver):
    """Drops the connection on the first ``times`` steps matching ``when``."""

    def __init__(self, inner: AsyncDriver, when: str, times: int = 1) -> None:
        self.inner = inner
        self.when = when
        self.left = times

    async def execute(self, step: Step) -> Any:
        if self.left and self.when in repr(step):
            self.left -= 1
            await self.inner.execute(step)  # it ran; the reply is lost
            raise ConnectionFailedError("injected: dropped", maybe_sent=True) from None
        return await self.inner.execute(step)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def open_blocking(self) -> Any:
        return self.inner.open_blocking()

    async def ping(self) -> None:
        await self.inner.ping()


async def test_a_connection_cut_while_a_worker_registers_does_not_end_it(
    redis_url: str, resque_namespace: str
) -> None:
    driver = Cut(open_async_driver(redis_url), "register_worker", times=2)
    done: list[int] = []
    worker = Worker(
        driver, "q", {"add": lambda a, b: done.append(a + b)}, namespace=resque_namespace,
        timeout=50,
    )  # fmt: skip
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "add", [2, 2])
        await worker.run(burst=True)
        assert done == [4]
        assert await queue.workers() == {}
    await driver.aclose()


async def test_under_maxmemory_an_enqueue_raises_redis_pys_out_of_memory_naming_the_key(
    resque_namespace: str,
) -> None:
    with RedisServer() as server:
        client = redis.Redis(port=server.port)
        client.config_set("maxmemory", 1)
        async with Queue(server.url, namespace=resque_namespace, patience=0.3) as queue:
            began = time.monotonic()
            with pytest.raises(redis.exceptions.OutOfMemoryError) as raised:
                await queue.enqueue("q", "job", [1])
            assert 0.1 < time.monotonic() - began < 2  # it waited, then gave up
        assert isinstance(raised.value, RedisOutOfMemoryError)
        assert isinstance(raised.value, TransientReplyError)
        assert KeySpace(resque_namespace).queue("q") in str(raised.value)
        assert "script:" not in str(raised.value)
        client.close()


async def test_an_enqueue_during_a_restart_waits_for_redis_within_the_queues_patience(
    server: RedisServer,
) -> None:
    thread = restart_in_thread(server)
    await asyncio.sleep(0.05)  # going down, then LOADING
    async with Queue(server.url, namespace="patient", patience=30) as queue:
        assert await queue.enqueue("q", "job", [1]) is True
    await asyncio.to_thread(thread.join)
    thread = restart_in_thread(server)
    await asyncio.sleep(0.05)
    with SyncQueue(server.url, namespace="patient", patience=30) as blocking:
        assert blocking.enqueue("q", "job", [2]) is True
        assert blocking.length("q") == 2
    await asyncio.to_thread(thread.join)


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_workers_drain_their_queues_under_maxmemory(
    resque_namespace: str, dialect: str
) -> None:
    with RedisServer() as server:
        client = redis.Redis(port=server.port)
        keys = KeySpace(resque_namespace)
        async with Queue(server.url, namespace=resque_namespace, dialect=dialect) as queue:
            for n in range(20):
                await queue.enqueue("q", "job" if n % 4 else "boom", [n])
        client.config_set("maxmemory", 1)  # every write that may grow memory is refused
        done: list[int] = []
        worker = Worker(
            server.url, "q", {"job": done.append, "boom": _boom},
            namespace=resque_namespace, dialect=dialect, timeout=50,
        )  # fmt: skip
        await asyncio.wait_for(worker.run(burst=True), 20)
        client.config_set("maxmemory", 0)
        assert sorted(done) == [n for n in range(20) if n % 4]
        assert client.llen(keys.queue("q")) == 0
        assert client.llen(keys.failed()) == 5  # each failure recorded, none lost
        client.close()


async def _redis_now(server: RedisServer) -> int:
    client = redis.Redis(port=server.port)
    seconds = int(client.time()[0])
    client.close()
    return seconds


def _boom(n: int) -> None:
    raise RuntimeError(f"boom {n}")


async def _true(value: bool) -> bool:
    return value


class Hang(AsyncDriver):
    """Never answers a step matching ``when`` once ``armed`` (a hung server)."""

    def __init__(self, inner: AsyncDriver, when: str) -> None:
        self.inner = inner
        self.when = when
        self.armed = False

    async def execute(self, step: Step) -> Any:
        if self.armed and self.when in repr(step):
            await asyncio.Event().wait()
        return await self.inner.execute(step)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def open_blocking(self) -> Any:
        return self.inner.open_blocking()


async def test_a_stop_gives_up_a_settle_redis_never_answers_after_the_grace(
    redis_url: str, resque_namespace: str
) -> None:
    driver = Hang(open_async_driver(redis_url), "Eval(script=Script(name='work'")
    ran = asyncio.Event()

    async def job() -> None:
        driver.armed = True  # from now on the server "hangs" on the worker's steps
        ran.set()

    worker = Worker(driver, "q", {"job": job}, namespace=resque_namespace, timeout=50)
    errors: list[str] = []
    worker.on("error", lambda *args: errors.append(str(args[0])))
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "job", [])
        await worker.start()
        await ran.wait()
        began = asyncio.get_running_loop().time()
        await asyncio.wait_for(worker.stop(grace=0.3), 5)
        took = asyncio.get_running_loop().time() - began
        assert took < 2, took
        records = await queue.all_working_on()
    # The job ran; its settle could not be written: it stays in the record for a cleanup.
    assert [r["payload"]["class"] for r in records.values() if isinstance(r, dict)] == ["job"]
    assert any("before the last job could be settled" in e for e in errors)
    await driver.aclose()
