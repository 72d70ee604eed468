"""What every plan needs: the key space, the dialect, a clock and the host name (and
resque-scheduler's lookup of it)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyresque.protocol.dialect import Dialect, get_dialect
from pyresque.protocol.keys import KeySpace

__all__ = ["Context", "ruby_hostname"]


@dataclass(frozen=True, slots=True)
class Context:
    keys: KeySpace
    dialect: Dialect
    clock: Callable[[], float] = time.time
    """Unix time in seconds (a float); tests inject a fixed one."""
    hostname: str = field(default_factory=socket.gethostname)
    replicas: int = 0
    """Replicas that must hold each job written before the write counts as done (``WAIT``;
    0: the master's acknowledgement is enough). spec/connection.md, "At least once"."""
    replica_timeout_ms: int = 1000

    @classmethod
    def create(
        cls,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        *,
        clock: Callable[[], float] | None = None,
        replicas: int = 0,
        replica_timeout_ms: int = 1000,
    ) -> Context:
        return cls(
            KeySpace(namespace),
            get_dialect(dialect),
            clock or time.time,
            replicas=replicas,
            replica_timeout_ms=replica_timeout_ms,
        )

    def now_ms(self) -> float:
        return self.clock() * 1000


def ruby_hostname(host: str | None = None) -> str:
    """The host resque-scheduler puts in its lock value for ``host`` (default: this
    machine's name): ``Addrinfo.getaddrinfo(Socket.gethostname, 'http').first
    .getnameinfo.first`` (often ``localhost``), or the bare host name when that lookup
    fails, as it rescues."""
    host = socket.gethostname() if host is None else host
    try:
        first = socket.getaddrinfo(host, "http")[0]
        return socket.getnameinfo(first[4], 0)[0]
    except (OSError, IndexError, UnicodeError):
        return host
