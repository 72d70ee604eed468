"""Servers for connection tests: things that are not Redis on a port, and real
``redis-server`` / ``redis-sentinel`` processes started with arguments of the test's
choosing (TLS-only ports, replicas, Sentinels)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import hiredis
import pytest
import redis.exceptions

Handler = Callable[[socket.socket], None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port held (bound, not listening) for the block: connections are refused,
    and no other process can start listening there meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class FakeServer:
    """A TCP server on a loopback port; each connection runs ``handler`` in a thread."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self._handler = handler
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._handler(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def silent(conn: socket.socket) -> None:
    """Accepts and reads, never answers (a hung server, or a TLS handshake that stalls)."""
    while conn.recv(65536):
        pass


def http(conn: socket.socket) -> None:
    """Answers anything like a web server refusing it."""
    if conn.recv(65536):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    while conn.recv(65536):
        pass


def garbage(conn: socket.socket) -> None:
    """Answers anything with bytes that are no RESP type."""
    while conn.recv(65536):
        conn.sendall(b"\x00\xfe\x13\x37 not redis at all \xff" * 4)


class Chatty:
    """Answers its first command with ``+PONG``, then, a moment later, says more: a reply
    nothing asked for. Later commands are answered normally."""

    def __init__(self) -> None:
        self.replies = 0

    def __call__(self, conn: socket.socket) -> None:
        reader = hiredis.Reader()
        first = True
        while data := conn.recv(65536):
            reader.feed(data)
            while reader.gets() is not False:
                conn.sendall(b"+PONG\r\n")
                self.replies += 1
                if first:
                    first = False
                    time.sleep(0.05)
                    conn.sendall(b"+SURPRISE\r\n")
                    self.replies += 1


def answering(replies: dict[bytes, bytes]) -> Handler:
    """A handler answering each command (by its upper-cased name) with canned RESP."""

    def handle(conn: socket.socket) -> None:
        reader = hiredis.Reader()
        while data := conn.recv(65536):
            reader.feed(data)
            while (command := reader.gets()) is not False:
                conn.sendall(replies.get(command[0].upper(), b"-ERR unknown\r\n"))

    return handle


def need(binary: str, package: str) -> str:
    """The path of ``binary``, or skip the test saying it is missing."""
    found = shutil.which(binary)
    if found is None:
        pytest.skip(f"{binary} is not on PATH (Debian package {package})")
    return found


class Process:
    """``argv`` started now; :meth:`wait_ready` polls ``ready()``; :meth:`stop` ends it."""

    def __init__(self, argv: Sequence[str], log: Path) -> None:
        self.argv = list(argv)
        self.log = log
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            # Not listening yet: redis-py says so with its own ConnectionError (after its
            # retries), no OSError.
            with contextlib.suppress(OSError, redis.exceptions.ConnectionError):
                if ready():
                    return
            time.sleep(0.02)
        detail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        self.stop()
        raise RuntimeError(f"{self.argv[0]} did not start: {detail}")

    def stop(self) -> None:
        if self.proc.poll() is None:  # ours, by its pid
            self.proc.kill()
        self.proc.wait(10)
