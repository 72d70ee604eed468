"""What a dashboard shows and who may use it: its Redis, its namespaces (each with the
dialect pyresque writes there), read-only mode and authentication.

:meth:`WebConfig.from_env` reads ``PYRESQUE_WEB_*`` variables, so a deployment sets
secrets in its environment rather than on a command line (where ``ps`` shows them).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pyresque.connection.settings import default_url
from pyresque.errors import ConfigurationError

__all__ = ["Fleet", "WebConfig"]

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Fleet:
    """One namespace the dashboard shows, and the dialect its writes (retries, run-now)
    use there. Reads understand both peers whatever the dialect."""

    namespace: str = "resque"
    dialect: str = "node"

    def __post_init__(self) -> None:
        if self.dialect not in ("node", "ruby"):
            raise ConfigurationError(f"dialect {self.dialect!r}: expected 'node' or 'ruby'")
        if not self.namespace or "/" in self.namespace:
            raise ConfigurationError(f"namespace {self.namespace!r}: empty or has a '/'")

    @classmethod
    def parse(cls, text: str) -> Fleet:
        """``NAMESPACE`` or ``NAMESPACE=DIALECT``."""
        namespace, _, dialect = text.partition("=")
        return cls(namespace.strip(), dialect.strip() or "node")


@dataclass(frozen=True)
class WebConfig:
    """The dashboard's settings.

    ``fleets``: the namespaces shown, the first one at ``/``. ``read_only``: no page offers
    a change and every POST is refused. ``token``: API clients send ``Authorization: Bearer
    <token>``; a browser signs in once with it at ``/login``. ``username``/``password``:
    HTTP Basic authentication instead (or as well). With neither, anyone who reaches the
    port may act: bind to loopback, or put it behind your own authentication.
    ``refresh_ms``: how often an open page reloads its data (0: never).
    ``stale_after_ms``/``dead_after_ms``: a worker silent (no ping or heartbeat) for longer
    is flagged stale / dead; only such a worker may be cleaned from the dashboard.
    ``app_path``: a task app folder whose periodic and cron tasks get a page.
    """

    redis: str = field(default_factory=default_url)
    fleets: tuple[Fleet, ...] = (Fleet(),)
    read_only: bool = False
    token: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_ms: int = 2000
    stale_after_ms: int = 180_000
    dead_after_ms: int = 3_600_000
    app_path: str | None = None
    page_size: int = 50

    def __post_init__(self) -> None:
        if not self.fleets:
            raise ConfigurationError("the dashboard needs at least one namespace")
        names = [fleet.namespace for fleet in self.fleets]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"namespaces {names}: each may appear once")
        if (self.username is None) != (self.password is None):
            raise ConfigurationError("basic authentication needs both a username and a password")
        if self.token is not None and len(self.token) < 16:
            raise ConfigurationError("the token must be at least 16 characters")
        for name in ("refresh_ms", "stale_after_ms", "dead_after_ms", "page_size"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must be 0 or more")
        if self.page_size == 0:
            raise ConfigurationError("page_size must be more than 0")

    @property
    def authenticated(self) -> bool:
        """Whether requests must authenticate."""
        return self.token is not None or self.username is not None

    def fleet(self, namespace: str) -> Fleet | None:
        """The fleet shown under ``namespace``, or None."""
        return next((f for f in self.fleets if f.namespace == namespace), None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WebConfig:
        """The settings from ``PYRESQUE_WEB_TOKEN``, ``PYRESQUE_WEB_USERNAME``,
        ``PYRESQUE_WEB_PASSWORD``, ``PYRESQUE_WEB_READ_ONLY`` and
        ``PYRESQUE_WEB_NAMESPACES`` (comma-separated ``NAMESPACE[=DIALECT]``), then
        ``overrides`` (those not None) on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("PYRESQUE_WEB_TOKEN"):
            values["token"] = env["PYRESQUE_WEB_TOKEN"]
        if env.get("PYRESQUE_WEB_USERNAME"):
            values["username"] = env["PYRESQUE_WEB_USERNAME"]
            values["password"] = env.get("PYRESQUE_WEB_PASSWORD")
        if env.get("PYRESQUE_WEB_READ_ONLY"):
            values["read_only"] = env["PYRESQUE_WEB_READ_ONLY"].strip().lower() in _TRUE
        if env.get("PYRESQUE_WEB_NAMESPACES"):
            values["fleets"] = parse_fleets(env["PYRESQUE_WEB_NAMESPACES"].split(","))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> WebConfig:
        """A copy with ``changes``."""
        return replace(self, **changes)


def parse_fleets(items: Sequence[str]) -> tuple[Fleet, ...]:
    """``["resque", "jobs=ruby"]`` as fleets."""
    return tuple(Fleet.parse(item) for item in items if item.strip())


def new_secret() -> str:
    """A random token, for a deployment that has none yet."""
    return secrets.token_urlsafe(32)
