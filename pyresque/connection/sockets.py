"""What the async and the blocking connection share: TLS contexts, socket options,
Sentinel replies, and the wording of their failures.

Every failure here is one line naming the address, so a log shows what went wrong
without a traceback through asyncio's internals.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from typing import Any

import hiredis

from pyresque.connection.settings import Settings
from pyresque.errors import (
    ConnectionFailedError,
    ConnectionSetupError,
    NoReplyError,
)
from pyresque.protocol.plan import Segment

__all__ = [
    "FAILOVER_REPLIES",
    "NoReplyError",
    "apply_socket_options",
    "block_seconds",
    "cannot_connect",
    "check_role",
    "command_name",
    "master_address",
    "no_master",
    "not_redis",
    "sentinel_answer",
    "sentinel_query",
    "ssl_context",
]

_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

FAILOVER_REPLIES = ("READONLY ", "MASTERDOWN ", "NOREPLICAS ", "UNBLOCKED ")
"""Error replies saying this server is no longer (or not yet) a usable master: the
connection is given up so the next one finds the master again (asks the Sentinels,
or resolves a DNS name that a managed service moved)."""


def ssl_context(s: Settings) -> ssl.SSLContext:
    """The client TLS context ``s`` asks for (system CAs unless ``ssl_ca_certs``)."""
    context = ssl.create_default_context(cafile=s.ssl_ca_certs)
    verify = _VERIFY[s.ssl_cert_reqs]
    # Hostname checks need a verified certificate: off with ssl_cert_reqs=none.
    context.check_hostname = s.ssl_check_hostname and verify != ssl.CERT_NONE
    context.verify_mode = verify
    if s.ssl_certfile:
        context.load_cert_chain(s.ssl_certfile, s.ssl_keyfile)
    return context


def apply_socket_options(sock: Any, s: Settings) -> None:
    """TCP_NODELAY and keepalive on a TCP socket (a no-op for a unix socket)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not s.socket_keepalive:
        return
    # An idle socket may sit for hours behind NAT or a dead peer: let the kernel probe it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", s.socket_keepalive_idle),
        ("TCP_KEEPINTVL", s.socket_keepalive_interval),
        ("TCP_KEEPCNT", s.socket_keepalive_count),
    ):
        option = getattr(socket, name, None)
        if option is not None:  # Linux; other systems keep their own defaults
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def command_name(command: Sequence[Any]) -> str:
    """A command's name for messages (``EVALSHA`` for a script call)."""
    first = command[0] if command else b"?"
    if type(first) is Segment:
        first = first.args[0]
    if isinstance(first, bytes):
        return first.decode("utf-8", "replace").upper()
    return str(first).upper()


# Blocking commands whose last argument is their block time in seconds.
_BLOCKING = frozenset({"BLMOVE", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZPOPMIN", "BZPOPMAX"})


def block_seconds(command: Sequence[Any]) -> float | None:
    """How long ``command`` may block on the server before answering: 0.0 for a normal
    command, None for one that may block forever (block time 0)."""
    if command_name(command) not in _BLOCKING:
        return 0.0
    seconds = float(command[-1])
    return None if seconds == 0 else seconds


def cannot_connect(address: str, exc: BaseException) -> ConnectionFailedError:
    """The error for a connection that could not be opened. A certificate that does not
    verify is a setup problem (the CA, the host name): trying again will not help."""
    cls = (
        ConnectionSetupError
        if isinstance(exc, ssl.SSLCertVerificationError)
        else ConnectionFailedError
    )
    return cls(f"cannot connect to Redis at {address}: {exc or type(exc).__name__}")


def not_redis(address: str, detail: object) -> ConnectionFailedError:
    """Something other than Redis answered (an HTTP server, a TLS port spoken to in
    clear, random bytes): the pending commands may have been read by it."""
    return ConnectionFailedError(
        f"the server at {address} did not answer like Redis: protocol error ({detail}); "
        "connection closed",
        maybe_sent=True,
    )


def sentinel_query(s: Settings) -> tuple[str, str, str]:
    assert s.service_name is not None
    return ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.service_name)


def master_address(reply: Any) -> tuple[str, int] | None:
    """``(host, port)`` from a ``SENTINEL GET-MASTER-ADDR-BY-NAME`` reply (None: the
    Sentinel does not know the service)."""
    if isinstance(reply, list) and len(reply) == 2:
        host, port = reply
        return (host.decode() if isinstance(host, bytes) else str(host)), int(port)
    return None


def sentinel_answer(
    sentinel: tuple[str, int], reply: Any, tried: list[str]
) -> tuple[str, int] | None:
    """The master's address from one Sentinel's reply, or None after noting in ``tried``
    why this Sentinel could not say (it refused, or does not know the service)."""
    host, port = sentinel
    if isinstance(reply, hiredis.ReplyError):
        tried.append(f"Sentinel {host}:{port} refused: {reply}")
        return None
    found = master_address(reply)
    if found is None:
        tried.append(f"Sentinel {host}:{port} does not know it")
    return found


def no_master(s: Settings, tried: list[str]) -> ConnectionFailedError:
    return ConnectionFailedError(
        f"no Sentinel named a master for service {s.service_name!r}: {'; '.join(tried)}"
    )


def check_role(address: str, reply: Any) -> None:
    """A Sentinel's master must say it is one: else the Sentinel's view is stale (a
    failover under way) and this connection must not be used."""
    role = reply[0] if isinstance(reply, list) and reply else reply
    if role != b"master":
        shown = role.decode("utf-8", "replace") if isinstance(role, bytes) else repr(role)
        raise ConnectionFailedError(
            f"Redis at {address} is not a master (ROLE says {shown}): a failover is under "
            "way; the next connection asks the Sentinels again"
        )
