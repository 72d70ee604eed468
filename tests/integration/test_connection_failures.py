"""A hung, paused or not-Redis server: one clear error within the timeout, the connection
closed, nothing re-sent, and the next call connecting anew."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pyresque import ConnectionFailedError, Queue, Worker
from pyresque.connection import LeanDriver, LeanSyncDriver, Settings
from pyresque.connection.blocking import BlockingConnection
from pyresque.connection.resp import RespConnection
from pyresque.errors import ReplyTimeoutError
from pyresque.server import RedisServer
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import poll_until, wait_until
from tests.servers import Chatty, FakeServer, Handler, garbage, http, silent

REPLY_TIMEOUT = 0.3


@pytest.fixture
def hung() -> Iterator[FakeServer]:
    with FakeServer(silent) as server:
        yield server


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, to pause with SIGSTOP (resumed at the end)."""
    server = RedisServer()
    server.start()
    yield server
    assert server.pid is not None
    os.kill(server.pid, signal.SIGCONT)
    server.stop()


class _Paused:
    def __init__(self, server: RedisServer) -> None:
        assert server.pid is not None
        self.pid = server.pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _queue(port: int, **options: Any) -> Queue:
    options.setdefault("socket_timeout", REPLY_TIMEOUT)
    return Queue(Settings(port=port, **options), namespace="t")


async def test_a_server_that_never_answers_fails_every_pending_call_within_the_timeout(
    hung: FakeServer,
) -> None:
    queue = _queue(hung.port)
    started = time.monotonic()
    results = await asyncio.gather(
        queue.length("a"), queue.enqueue("a", "job", [1]), queue.queues(), return_exceptions=True
    )
    elapsed = time.monotonic() - started
    assert REPLY_TIMEOUT <= elapsed < REPLY_TIMEOUT + 0.5
    assert all(isinstance(r, ReplyTimeoutError) and r.maybe_sent for r in results), results
    where = f"Redis at 127.0.0.1:{hung.port}/0 did not answer"
    assert str(results[0]).startswith(f"{where} LLEN t:queue:a within 0.3 s")
    assert str(results[1]).startswith(f"{where} enqueue script on t:queues, t:queue:a within")
    assert str(results[2]).startswith(f"{where} SMEMBERS t:queues within")
    assert "\n" not in str(results[0])
    # The timed-out connection is closed; the next call opens a new one.
    with pytest.raises(ReplyTimeoutError):
        await queue.length("a")
    assert hung.connections == 2
    await queue.aclose()


def test_the_blocking_pool_times_out_and_connects_anew_on_the_next_call(
    hung: FakeServer,
) -> None:
    queue = SyncQueue(Settings(port=hung.port, socket_timeout=REPLY_TIMEOUT), namespace="t")
    started = time.monotonic()
    with pytest.raises(ReplyTimeoutError) as info:
        queue.length("a")
    assert REPLY_TIMEOUT <= time.monotonic() - started < REPLY_TIMEOUT + 0.5
    assert str(info.value).startswith(
        f"Redis at 127.0.0.1:{hung.port}/0 did not answer LLEN t:queue:a within 0.3 s"
    )
    assert info.value.maybe_sent
    with pytest.raises(ReplyTimeoutError):
        queue.length("a")
    assert hung.connections == 2
    queue.close()


@pytest.mark.parametrize("url_scheme", ["rediss", "redis"])
async def test_a_stalled_handshake_is_a_connect_timeout(hung: FakeServer, url_scheme: str) -> None:
    # TLS: the handshake never completes. Plain: AUTH, part of connecting, is not answered.
    # (patience=0: the connection's own timing, without the queue's retries.)
    url = f"{url_scheme}://:pw@127.0.0.1:{hung.port}/0?socket_connect_timeout=0.3"
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError, match=f"127.0.0.1:{hung.port}/0"):
        await Queue(url, patience=0).length("a")
    assert time.monotonic() - started < 1.5
    with pytest.raises(ConnectionFailedError, match=f"127.0.0.1:{hung.port}/0"):
        SyncQueue(url, patience=0).length("a")
    assert time.monotonic() - started < 3.0


async def test_a_paused_redis_times_out_and_the_next_call_after_it_resumes_works(
    private_redis: RedisServer,
) -> None:
    queue = _queue(private_redis.port)
    assert await queue.enqueue("a", "job", [1])
    message = f":{private_redis.port}/0 did not answer LLEN"
    with _Paused(private_redis), pytest.raises(ReplyTimeoutError, match=message):
        await queue.length("a")
    assert await queue.length("a") == 1
    await queue.aclose()


def test_a_paused_redis_times_out_the_blocking_pool_too(private_redis: RedisServer) -> None:
    queue = SyncQueue(
        Settings(port=private_redis.port, socket_timeout=REPLY_TIMEOUT), namespace="t"
    )
    assert queue.enqueue("a", "job", [1])
    with _Paused(private_redis), pytest.raises(ReplyTimeoutError, match="did not answer LLEN"):
        queue.length("a")
    assert queue.length("a") == 1
    queue.close()


async def test_a_blocking_command_may_block_its_block_time_before_the_reply_timeout_counts(
    private_redis: RedisServer,
) -> None:
    driver = LeanDriver(Settings(port=private_redis.port, socket_timeout=REPLY_TIMEOUT))
    call, close = await driver.open_blocking()
    started = time.monotonic()
    assert await call("BLMOVE", "t:k", "t:k", "RIGHT", "RIGHT", 0.6) is None
    assert 0.6 <= time.monotonic() - started < 0.6 + REPLY_TIMEOUT
    with _Paused(private_redis):
        started = time.monotonic()
        with pytest.raises(ReplyTimeoutError, match=r"did not answer BLMOVE within 0\.9 s"):
            await call("BLMOVE", "t:k", "t:k", "RIGHT", "RIGHT", 0.6)
        assert 0.9 <= time.monotonic() - started < 1.5
    await close()


async def test_a_worker_waits_out_a_paused_redis_and_works_on(private_redis: RedisServer) -> None:
    done: list[int] = []

    async def job(n: int) -> None:
        done.append(n)

    settings = Settings(port=private_redis.port, socket_timeout=REPLY_TIMEOUT)
    queue = Queue(settings, namespace="t")
    worker = Worker(settings, "q", {"job": job}, namespace="t", timeout=100)
    errors: list[BaseException] = []
    worker.events.on("error", lambda exc, *_: errors.append(exc))
    await worker.start()
    for n in range(3):
        await queue.enqueue("q", "job", [n])
    await poll_until(lambda: _true(len(done) == 3))
    with _Paused(private_redis):
        await asyncio.sleep(REPLY_TIMEOUT * 4)  # how long Redis stays paused
    for n in range(3, 6):
        await queue.enqueue("q", "job", [n])
    await poll_until(lambda: _true(sorted(done) == list(range(6))), timeout=10)
    assert any(isinstance(e, ReplyTimeoutError) for e in errors), errors
    await worker.stop()
    await queue.aclose()


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("keepalive", [True, False])
async def test_tcp_keepalive_is_set_as_asked_on_both_kinds_of_connection(
    private_redis: RedisServer, keepalive: bool
) -> None:
    settings = Settings(
        port=private_redis.port,
        socket_keepalive=keepalive,
        socket_keepalive_idle=45,
        socket_keepalive_interval=7,
        socket_keepalive_count=4,
    )
    conn = await RespConnection.open(settings)
    assert conn._transport is not None
    blocking = BlockingConnection(settings)
    for sock in (conn._transport.get_extra_info("socket"), blocking._sock):
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == int(keepalive)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        if keepalive and hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 45
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
    conn.close()
    blocking.close()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler (asyncio's "Fatal error ..." log)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


NOT_REDIS: list[Handler] = [http, garbage]


@pytest.mark.parametrize("handler", NOT_REDIS, ids=lambda h: h.__name__)
async def test_something_else_on_the_port_is_one_line_saying_it_is_not_redis(
    handler: Handler, loop_errors: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with FakeServer(handler) as server:
        queue = _queue(server.port)
        with pytest.raises(ConnectionFailedError) as info:
            await queue.length("a")
        await queue.aclose()
    message = str(info.value)
    assert message.startswith(
        f"the server at 127.0.0.1:{server.port}/0 did not answer like Redis: protocol error ("
    )
    assert "\n" not in message and info.value.maybe_sent
    assert loop_errors == []
    assert "Fatal error" not in caplog.text


@pytest.mark.parametrize("handler", NOT_REDIS, ids=lambda h: h.__name__)
def test_the_blocking_connection_says_it_is_not_redis_too(handler: Handler) -> None:
    with FakeServer(handler) as server:
        queue = SyncQueue(Settings(port=server.port, socket_timeout=REPLY_TIMEOUT))
        with pytest.raises(ConnectionFailedError, match="did not answer like Redis") as info:
            queue.length("a")
        queue.close()
    assert "\n" not in str(info.value) and info.value.maybe_sent


async def test_a_reply_nothing_asked_for_closes_the_async_connection(
    loop_errors: list[dict[str, Any]],
) -> None:
    with FakeServer(Chatty()) as server:
        conn = await RespConnection.open(Settings(port=server.port))
        assert await conn.call("PING") == b"PONG"
        await poll_until(lambda: _true(not conn.is_open))
        with pytest.raises(ConnectionFailedError, match="closed"):
            await conn.call("PING")
    assert loop_errors == []


def test_a_reply_nothing_asked_for_retires_a_pooled_blocking_connection() -> None:
    chatty = Chatty()
    with FakeServer(chatty) as server:
        driver = LeanSyncDriver(Settings(port=server.port))
        driver.ping()
        wait_until(lambda: chatty.replies == 2)
        driver.ping()  # not answered by the stray reply: on a new connection
        assert server.connections == 2
        driver.close()


async def test_callers_waiting_for_the_same_connection_share_its_failure(
    hung: FakeServer,
) -> None:
    # AUTH is never answered: each connect attempt takes the whole connect timeout.
    queue = Queue(f"redis://:pw@127.0.0.1:{hung.port}/0?socket_connect_timeout=0.4", patience=0)
    started = time.monotonic()
    results = await asyncio.gather(*(queue.length("a") for _ in range(5)), return_exceptions=True)
    assert time.monotonic() - started < 0.4 * 2
    assert all(isinstance(r, ConnectionFailedError) for r in results), results
    assert hung.connections == 1
    await queue.aclose()


async def test_a_cancel_as_the_connection_opens_is_not_lost(
    hung: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C (asyncio.run cancels the main task) that comes just as the socket opens:
    Python 3.11's wait_for returned the connection and dropped the cancel, and the caller
    then waited its whole reply timeout. The cancel must reach the next await."""
    opened = RespConnection._open_transport
    caller: list[asyncio.Task[Any]] = []

    async def open_then_cancel(self: RespConnection, *args: Any) -> None:
        await opened(self, *args)
        asyncio.get_running_loop().call_soon(caller[0].cancel)  # before the caller resumes

    monkeypatch.setattr(RespConnection, "_open_transport", open_then_cancel)

    async def connect_and_ping() -> None:
        conn = await RespConnection.open(Settings.from_url(hung.url, socket_timeout=5))
        try:
            await conn.call("PING")
        finally:
            conn.abort()

    caller.append(asyncio.create_task(connect_and_ping()))
    began = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await caller[0]
    assert time.monotonic() - began < 2  # not the 5 s reply timeout


class ResetOnce:
    """Drops the first connection (with a reset) once a command arrived on it; answers
    PING on the others. ``pings``: the PINGs that arrived."""

    def __init__(self) -> None:
        self.pings = 0
        self._first = True

    def __call__(self, conn: socket.socket) -> None:
        while data := conn.recv(65536):
            self.pings += data.count(b"PING")
            if self._first:
                self._first = False
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # a reset: the command was sent, its reply never comes
                return
            conn.sendall(b"+PONG\r\n")


async def test_a_read_whose_reply_was_lost_is_read_again_within_the_patience() -> None:
    """As when Redis shuts down for a restart just after taking the connection: a PING
    changes nothing, so the lost reply is asked for again (a write is not: it may have
    run)."""
    handler = ResetOnce()
    with FakeServer(handler) as server:
        async with Queue(server.url, patience=5):  # connect() pings
            pass
        assert handler.pings == 2
    handler = ResetOnce()
    with FakeServer(handler) as server, SyncQueue(server.url, patience=5):
        assert handler.pings == 2


async def test_without_patience_a_lost_read_is_one_error() -> None:
    with FakeServer(ResetOnce()) as server:
        queue = Queue(server.url, patience=0)
        try:
            with pytest.raises(ConnectionFailedError, match="lost|closed"):
                await queue.connect()
        finally:
            await queue.aclose()
