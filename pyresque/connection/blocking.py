"""A lean blocking RESP2 connection and a thread- and fork-safe pool of them.

:mod:`pyresque.sync` runs on this when given a URL. Each call borrows an idle socket
(last returned first, so a single-threaded caller keeps one warm socket), writes its
commands in one ``sendall`` and parses replies with hiredis: about half the client time
redis-py spends per command, which is what decides a serial enqueue's speed.

As on the async side, nothing is ever re-sent: a command whose reply was lost may have
run, and a connection that failed mid-call is dropped rather than returned to the pool.
An idle socket the server has closed is noticed before it is handed out (a peek), so a
Redis restart or idle timeout costs a reconnect, not a failed call.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import Any

import hiredis

from pyresque.connection.resp import encode_command
from pyresque.connection.settings import Settings
from pyresque.errors import ConnectionFailedError
from pyresque.protocol.plan import Segment

__all__ = ["BlockingConnection", "BlockingPool"]

_Arg = bytes | str | int | float
_READ_SIZE = 65536
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", None)
_PEEK = socket.MSG_PEEK | _DONTWAIT if _DONTWAIT is not None else None


class BlockingConnection:
    """One socket to Redis, used by one thread at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
        try:
            if s.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(s.connect_timeout)
                sock.connect(s.path)
            else:
                sock = socket.create_connection((s.host, s.port), s.connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if s.tls:
                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=s.host)
            # Idle pooled sockets can sit for hours behind NAT: let the kernel notice.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.settimeout(None)
        except OSError as exc:
            raise ConnectionFailedError(
                f"cannot connect to Redis at {s.describe()}: {exc or type(exc).__name__}"
            ) from exc
        return sock

    def _setup(self) -> None:
        s = self.settings
        setup = s.setup_commands()
        if setup:
            for reply in self.send(setup):
                if isinstance(reply, hiredis.ReplyError):
                    raise ConnectionFailedError(
                        f"Redis at {s.describe()} refused the connection setup: {reply}"
                    )

    def send(self, commands: Sequence[Sequence[_Arg | Segment]]) -> list[Any]:
        """Write ``commands`` and return their raw replies in order (errors as values)."""
        if len(commands) == 1:
            data = encode_command(commands[0])
        else:
            data = b"".join([encode_command(c) for c in commands])
        try:
            self._sock.sendall(data)
            return self._read(len(commands))
        except (OSError, ConnectionFailedError) as exc:
            self.close()
            raise ConnectionFailedError(
                f"connection to Redis at {self.settings.describe()} lost: "
                f"{exc or type(exc).__name__}",
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
        """True when the server has closed this idle socket (restart, idle timeout, kill)."""
        if _PEEK is None:  # pragma: no cover - no MSG_DONTWAIT (Windows)
            return False
        try:
            # The raw socket, also under TLS: a peek consumes nothing.
            return socket.socket.recv(self._sock, 1, _PEEK) == b""
        except BlockingIOError:
            return False  # nothing to read: open and idle, as it should be
        except OSError:
            return True

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
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                conn.close()
