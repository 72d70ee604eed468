"""A lean blocking RESP2 connection and a thread- and fork-safe pool of them.

:mod:`pyresque.sync` runs on this when given a URL. Each call borrows an idle socket
(last returned first, so a single-threaded caller keeps one warm socket), writes its
commands in one ``sendall`` and parses replies with hiredis: about half the client time
redis-py spends per command, which is what decides a serial enqueue's speed.

As on the async side, nothing is ever re-sent: a command whose reply was lost may have
run, and a connection that failed mid-call is dropped rather than returned to the pool.
An idle socket the server has closed is noticed before it is handed out (a peek), so a
Redis restart or idle timeout costs a reconnect, not a failed call. A socket that gets no
reply within ``socket_timeout``, or bytes that are not RESP, is closed and the call fails
with ``maybe_sent=True``.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Sequence
from typing import Any

import hiredis

from pyresque.connection.resp import encode_command
from pyresque.connection.settings import Settings
from pyresque.connection.sockets import (
    NoReplyError,
    apply_socket_options,
    cannot_connect,
    check_role,
    command_name,
    no_master,
    not_redis,
    sentinel_answer,
    sentinel_query,
    ssl_context,
)
from pyresque.errors import ConnectionFailedError, ConnectionSetupError
from pyresque.protocol.plan import Segment

__all__ = ["BlockingConnection", "BlockingPool"]

_Arg = bytes | str | int | float
_READ_SIZE = 65536
_poll = getattr(select, "poll", None)


class BlockingConnection:
    """One socket to Redis, used by one thread at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = settings.describe()
        self.loaded_scripts: set[str] = set()
        self._reader = hiredis.Reader()
        self._sock = self._connect()
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> socket.socket:
        s = self.settings
        target = s
        if s.sentinels:
            host, port = _ask_sentinels(s)
            target = s.at(host, port)
            self.address = s.describe((host, port))
        try:
            if s.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(s.socket_connect_timeout)
                try:
                    sock.connect(s.path)
                except OSError:
                    sock.close()
                    raise
            else:
                address = (target.host, target.port)
                sock = socket.create_connection(address, s.socket_connect_timeout)
                try:
                    apply_socket_options(sock, s)
                    if s.tls:  # the handshake runs within the connect timeout
                        sock = ssl_context(s).wrap_socket(sock, server_hostname=target.host)
                except OSError:
                    sock.close()
                    raise
        except OSError as exc:
            raise cannot_connect(self.address, exc) from exc
        return sock

    def _setup(self) -> None:
        s = self.settings
        setup = s.setup_commands()
        if setup:
            # Part of connecting: still under the connect timeout.
            replies = self.send(setup)
            for reply in replies:
                if isinstance(reply, hiredis.ReplyError):
                    raise ConnectionSetupError(
                        f"Redis at {self.address} refused the connection setup: {reply}"
                    )
            if s.sentinels:
                check_role(self.address, replies[-1])
        self._sock.settimeout(s.socket_timeout)

    def send(self, commands: Sequence[Sequence[_Arg | Segment]]) -> list[Any]:
        """Write ``commands`` and return their raw replies in order (errors as values)."""
        if len(commands) == 1:
            data = encode_command(commands[0])
        else:
            data = b"".join([encode_command(c) for c in commands])
        try:
            self._sock.sendall(data)
            return self._read(len(commands))
        except TimeoutError:
            seconds = self._sock.gettimeout() or 0.0
            self.close()
            raise NoReplyError(self.address, command_name(commands[0]), seconds) from None
        except hiredis.ProtocolError as exc:
            self.close()
            raise not_redis(self.address, exc) from None
        except (OSError, ConnectionFailedError) as exc:
            self.close()
            raise ConnectionFailedError(
                f"connection to Redis at {self.address} lost: {exc or type(exc).__name__}",
                maybe_sent=True,
            ) from exc

    def _read(self, count: int) -> list[Any]:
        reader = self._reader
        replies: list[Any] = []
        while True:
            reply = reader.gets()
            if reply is False:
                data = self._sock.recv(_READ_SIZE)
                if not data:
                    raise ConnectionFailedError("closed by the server")
                reader.feed(data)
                continue
            replies.append(reply)
            if len(replies) == count:
                return replies

    def is_stale(self) -> bool:
        """True when this idle socket is readable: the server closed it (restart, idle
        timeout, kill; under TLS a close_notify), or it holds bytes nothing asked for.
        Either way it cannot be used. (A poll, not a peek: a socket with a timeout waits
        for data before even a non-blocking recv.)"""
        if self._reader.has_data():
            return True  # a reply nothing asked for, read along with the last one
        try:
            if _poll is None:  # pragma: no cover - no poll() (Windows)
                return bool(select.select([self._sock], [], [], 0)[0])
            poller = _poll()
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True  # closed under us

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:  # pragma: no cover - close on a broken socket
            pass


class BlockingPool:
    """Idle connections, handed out last-in first-out; any number may be in use.

    A child process (a forking WSGI server) never touches its parent's sockets: the
    pool notices the new pid and starts empty.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[BlockingConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def acquire(self) -> BlockingConnection:
        if self._pid != os.getpid():
            self._reset_after_fork()
        while True:
            try:
                # list.pop is atomic under the GIL (and free-threaded builds lock lists).
                conn = self._idle.pop()
            except IndexError:
                return BlockingConnection(self.settings)
            # A call on a socket the server already closed would fail, and could not be
            # re-sent safely afterwards: find out before sending.
            if not conn.is_stale():
                return conn
            conn.close()

    def release(self, conn: BlockingConnection) -> None:
        if self._pid == os.getpid():
            self._idle.append(conn)

    def _reset_after_fork(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # Not closed: the parent still uses these sockets.
                self._idle = []
                self._pid = os.getpid()

    def close(self) -> None:
        """Close the idle connections (those in use are closed as they come back
        broken, or kept: the pool stays usable)."""
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                conn.close()


def _ask_sentinels(s: Settings) -> tuple[str, int]:
    """The master's address, from the first Sentinel that knows it (in the given order)."""
    tried: list[str] = []
    for host, port in s.sentinels:
        try:
            conn = BlockingConnection(s.for_sentinel(host, port))
            try:
                reply = conn.send((sentinel_query(s),))[0]
            finally:
                conn.close()
        except ConnectionFailedError as exc:
            tried.append(str(exc))
            continue
        found = sentinel_answer((host, port), reply, tried)
        if found is not None:
            return found
    raise no_master(s, tried)
