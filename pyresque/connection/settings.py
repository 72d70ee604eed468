"""Where Redis is: parsed from a ``redis://``, ``rediss://`` or ``unix://`` URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from pyresque.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "Settings", "default_url"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def default_url() -> str:
    """``$REDIS_URL``, else the local default."""
    return os.environ.get("REDIS_URL") or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    connect_timeout: float = 5.0

    @classmethod
    def from_url(cls, url: str, *, connect_timeout: float = 5.0) -> Settings:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        scheme = parts.scheme.lower()
        if scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError(
                f"unsupported Redis URL {url!r}: use redis://, rediss:// or unix://"
            )
        try:
            db = int(query.get("db") or (parts.path.strip("/") if scheme != "unix" else "") or 0)
            port = parts.port or 6379
        except ValueError as exc:
            raise ConfigurationError(f"bad Redis URL {url!r}: {exc}") from None
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else query.get("password")
        if scheme == "unix":
            if not parts.path:
                raise ConfigurationError(f"unix Redis URL {url!r} has no socket path")
            return cls(
                path=parts.path,
                db=db,
                username=username,
                password=password,
                connect_timeout=connect_timeout,
            )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            db=db,
            username=username or None,
            password=password,
            tls=scheme == "rediss",
            connect_timeout=connect_timeout,
        )

    def setup_commands(self) -> list[list[str | int]]:
        """What a new connection sends first: AUTH and SELECT, as the URL asks."""
        setup: list[list[str | int]] = []
        if self.password is not None:
            auth = [self.username, self.password] if self.username else [self.password]
            setup.append(["AUTH", *auth])
        if self.db:
            setup.append(["SELECT", self.db])
        return setup

    def describe(self) -> str:
        """The address without credentials, for messages."""
        where = f"unix://{self.path}" if self.path else f"{self.host}:{self.port}"
        return f"{where}/{self.db}"
