"""Where Redis is and how to talk to it: a :class:`Settings`, given field by field or
parsed from a URL (``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``,
``rediss+sentinel://``).

URL query options carry redis-py's names where redis-py has one, so a URL that works
with redis-py works here; each is also a :class:`Settings` field of the same name.
Options redis-py uses for its own pool (``max_connections``, ``health_check_interval``
...) mean nothing to pyresque's connections and are accepted and ignored; anything else
unknown is refused, so a misspelt timeout or certificate option is not silently lost.
See ``spec/connection.md``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pyresque.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "Settings", "default_url"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SENTINEL_PORT = 26379
CERT_REQS = ("none", "optional", "required")


def default_url() -> str:
    """``$REDIS_URL``, else the local default."""
    return os.environ.get("REDIS_URL") or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class Settings:
    """How pyresque's own connections reach Redis. Defaults and reasons: spec/connection.md.

    Timeouts are in seconds; ``None`` turns one off (not advised: a hung server then
    hangs its caller). ``sentinels`` (``(host, port)`` pairs) with ``service_name`` make
    every new connection ask the Sentinels where the master is; ``host``/``port`` are then
    unused.
    """

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    socket_connect_timeout: float | None = 5.0
    """Seconds to open the connection: TCP connect, TLS handshake."""
    socket_timeout: float | None = 10.0
    """Seconds to wait for a reply (a blocking command: its block time plus this)."""
    socket_keepalive: bool = True
    socket_keepalive_idle: int = 60
    """Seconds of silence before the first keepalive probe (Linux TCP_KEEPIDLE)."""
    socket_keepalive_interval: int = 10
    socket_keepalive_count: int = 3
    ssl_cert_reqs: str = "required"
    """``required``, ``optional`` or ``none`` (no verification: self-signed servers)."""
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    wait_replicas: int = 0
    """Replicas that must confirm each job a Queue writes (``WAIT``) before the enqueue
    returns; fewer within ``wait_timeout`` raise ReplicationTimeoutError. 0: the master's
    acknowledgement is enough (a failover can then lose an acknowledged job)."""
    wait_timeout: float = 1.0
    """Seconds to wait for the ``wait_replicas`` confirmations."""

    def __post_init__(self) -> None:
        for name in ("socket_connect_timeout", "socket_timeout"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            ):
                raise ConfigurationError(f"{name} must be a number of seconds > 0, not {value!r}")
        for name in _KEEPALIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a whole number >= 1, not {value!r}")
        if self.ssl_cert_reqs not in CERT_REQS:
            raise ConfigurationError(
                f"ssl_cert_reqs must be one of {', '.join(CERT_REQS)}, not {self.ssl_cert_reqs!r}"
            )
        if not self.tls and (
            self.ssl_ca_certs or self.ssl_certfile or self.ssl_keyfile
            or self.ssl_cert_reqs != "required"
        ):  # fmt: skip
            raise ConfigurationError("ssl_* options need TLS (a rediss:// URL, or tls=True)")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigurationError("ssl_keyfile needs ssl_certfile (the client certificate)")
        sentinels = tuple((str(h), int(p)) for h, p in self.sentinels)
        object.__setattr__(self, "sentinels", sentinels)
        if bool(sentinels) != bool(self.service_name):
            raise ConfigurationError("Sentinel needs both sentinels and a service_name")
        if sentinels and self.path is not None:
            raise ConfigurationError("a unix socket path and Sentinel cannot be combined")
        if (
            isinstance(self.wait_replicas, bool)
            or not isinstance(self.wait_replicas, int)
            or self.wait_replicas < 0
        ):
            raise ConfigurationError(
                f"wait_replicas must be a whole number >= 0, not {self.wait_replicas!r}"
            )
        if isinstance(self.wait_timeout, bool) or not (
            isinstance(self.wait_timeout, int | float) and self.wait_timeout > 0
        ):
            raise ConfigurationError(
                f"wait_timeout must be a number of seconds > 0, not {self.wait_timeout!r}"
            )
        if isinstance(self.db, bool) or not isinstance(self.db, int) or self.db < 0:
            raise ConfigurationError(f"db must be a whole number >= 0, not {self.db!r}")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Settings:
        """The settings a URL describes; ``options`` (field names) override its query."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigurationError(
                f"unsupported Redis URL {_redacted(url)!r}: use redis://, rediss://, unix://, "
                "redis+sentinel:// or rediss+sentinel://"
            )
        fields = _query(url, parts.query)
        try:
            if scheme.endswith("+sentinel"):
                fields.update(_sentinel_location(parts.netloc, parts.path, fields))
            elif scheme == "unix":
                if not parts.path:
                    raise ConfigurationError("no socket path")
                fields["path"] = unquote(parts.path)
            else:
                fields["host"] = unquote(parts.hostname or "127.0.0.1")
                fields["port"] = parts.port or 6379
                db_path = parts.path.strip("/")
                if db_path and "db" not in fields:
                    fields["db"] = int(db_path)
            if "@" in parts.netloc:
                # Sentinel URLs too: the credentials are the master's, as for a plain URL.
                user, _, password = parts.netloc.rpartition("@")[0].partition(":")
                fields["username"] = unquote(user) or None
                if password:
                    fields["password"] = unquote(password)
            fields["tls"] = scheme.startswith("rediss")
            fields.update(options)
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"bad Redis URL {_redacted(url)!r}: {exc}") from None

    def setup_commands(self) -> list[list[str | int]]:
        """What a new connection sends first: AUTH and SELECT, as asked; with Sentinel,
        ROLE (a master must say it is one)."""
        setup: list[list[str | int]] = []
        if self.password is not None:
            auth = [self.username, self.password] if self.username else [self.password]
            setup.append(["AUTH", *auth])
        if self.db:
            setup.append(["SELECT", self.db])
        if self.sentinels:
            setup.append(["ROLE"])
        return setup

    def at(self, host: str, port: int) -> Settings:
        """These settings for the server at ``host:port`` (a master a Sentinel named)."""
        return dataclasses.replace(self, host=host, port=port, sentinels=(), service_name=None)

    def for_sentinel(self, host: str, port: int) -> Settings:
        """Settings to ask the Sentinel at ``host:port`` (its own credentials, db 0)."""
        return dataclasses.replace(
            self,
            host=host,
            port=port,
            db=0,
            username=self.sentinel_username,
            password=self.sentinel_password,
            sentinels=(),
            service_name=None,
        )

    def describe(self, at: tuple[str, int] | None = None) -> str:
        """The address without credentials, for messages."""
        if self.sentinels:
            where = f"{at[0]}:{at[1]}" if at else "?"
            return f"{where}/{self.db} (Sentinel service {self.service_name!r})"
        where = f"unix://{self.path}" if self.path else f"{self.host}:{self.port}"
        return f"{where}/{self.db}"


_KEEPALIVE = ("socket_keepalive_idle", "socket_keepalive_interval", "socket_keepalive_count")
_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")


def _seconds(value: str) -> float | None:
    if value.strip().lower() == "none":
        return None
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ConfigurationError(f"not a number of seconds: {value!r}")
    return seconds


def _flag(value: str) -> bool:
    # redis-py's to_bool: these mean false, anything else true.
    return value.strip().upper() not in ("0", "F", "FALSE", "N", "NO")


def _text(value: str) -> str:
    return value


_PARSERS: dict[str, Callable[[str], Any]] = {
    "db": int,
    "password": _text,
    "socket_connect_timeout": _seconds,
    "socket_timeout": _seconds,
    "socket_keepalive": _flag,
    "socket_keepalive_idle": int,
    "socket_keepalive_interval": int,
    "socket_keepalive_count": int,
    "ssl_cert_reqs": str.lower,
    "ssl_ca_certs": _text,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_check_hostname": _flag,
    "sentinel_username": _text,
    "sentinel_password": _text,
    "wait_replicas": int,
    "wait_timeout": float,
}
# redis-py's own pool and client options: nothing to do with pyresque's connections.
_IGNORED = frozenset(
    {"max_connections", "health_check_interval", "retry_on_timeout", "retry_on_error",
     "socket_read_size", "timeout", "protocol", "decode_responses", "encoding",
     "encoding_errors", "client_name", "single_connection_client", "legacy_responses"}
)  # fmt: skip


def _query(url: str, query: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name in _IGNORED:
            continue
        parser = _PARSERS.get(name)
        if parser is None:
            raise ConfigurationError(
                f"unknown option {name!r} in Redis URL {_redacted(url)!r}; pyresque reads "
                f"{', '.join(sorted(_PARSERS))} (and ignores redis-py's pool options)"
            )
        try:
            fields[name] = parser(values[-1])
        except ValueError:
            raise ConfigurationError(
                f"bad value {values[-1]!r} for {name} in Redis URL {_redacted(url)!r}"
            ) from None
    return fields


def _sentinel_location(netloc: str, path: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``host:port[,host:port...]`` and ``/service[/db]`` of a Sentinel URL."""
    hosts = netloc.rpartition("@")[2]
    sentinels = []
    for item in hosts.split(","):
        host, port = _host_port(item.strip())
        sentinels.append((host, port))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ConfigurationError(
            "no service name: redis+sentinel://host:port/<service_name>[/<db>]"
        )
    found: dict[str, Any] = {"sentinels": tuple(sentinels), "service_name": unquote(service)}
    if db and "db" not in fields:
        found["db"] = int(db)
    return found


def _host_port(item: str) -> tuple[str, int]:
    if not item:
        raise ConfigurationError("an empty Sentinel address")
    if item.startswith("["):  # [v6]:port
        host, _, rest = item[1:].partition("]")
        return unquote(host), int(rest.lstrip(":") or DEFAULT_SENTINEL_PORT)
    host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    return unquote(host), int(port or DEFAULT_SENTINEL_PORT)


def _redacted(url: str) -> str:
    """``url`` without its passwords, for messages."""
    url = re.sub(r"(?<=://)[^/@]*@", "***@", url)
    return re.sub(r"(?<=[?&])((?:sentinel_)?password)=[^&]*", r"\1=***", url)
