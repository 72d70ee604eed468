"""Worker events (node-resque's set) and their structured log lines.

``worker.on("success", fn)`` calls ``fn(queue, job, result, duration_ms)`` like node-resque's
emitter; a callback may be a coroutine function. Each event is also logged on the
``pyresque.worker`` logger at the level Actionhero's ``workerLogging`` gives it, changeable
per event (``None`` silences one).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

from pyresque.errors import ConfigurationError

__all__ = [
    "DEFAULT_LOG_LEVELS",
    "EVENTS",
    "LEVEL_NAMES",
    "Events",
    "check_event_levels",
    "parse_event_levels",
]

EVENTS = (
    "start",
    "end",
    "cleaning_worker",
    "poll",
    "ping",
    "job",
    "reEnqueue",
    "success",
    "failure",
    "error",
    "pause",
    "multiWorkerAction",
)

DEFAULT_LOG_LEVELS: Mapping[str, int | None] = {
    "start": logging.INFO,
    "end": logging.INFO,
    "cleaning_worker": logging.INFO,
    "poll": logging.DEBUG,
    "ping": logging.DEBUG,
    "job": logging.DEBUG,
    "reEnqueue": logging.DEBUG,
    "success": logging.INFO,
    "failure": logging.ERROR,
    "error": logging.ERROR,
    "pause": logging.DEBUG,
    "multiWorkerAction": logging.DEBUG,
}
"""Actionhero's ``workerLogging`` defaults."""

LEVEL_NAMES: Mapping[str, int | None] = MappingProxyType(
    {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "notice": logging.INFO,
        "warning": logging.WARNING,
        "warn": logging.WARNING,
        "error": logging.ERROR,
        "crit": logging.CRITICAL,
        "critical": logging.CRITICAL,
        "alert": logging.CRITICAL,
        "emerg": logging.CRITICAL,
        "off": None,
        "none": None,
    }
)
"""The names an event's log level may be given by: logging's and Actionhero's (syslog's);
``off`` silences the event."""

Listener = Callable[..., Any]


def check_event_levels(
    option: str, given: Mapping[str, object], events: Collection[str]
) -> Mapping[str, int | None]:
    """``given`` as levels, read-only: each key one of ``events``, each level a number,
    a name of :data:`LEVEL_NAMES`, or None or False (silent); else ConfigurationError."""
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"{option} must map event names to levels, not {given!r}")
    levels: dict[str, int | None] = {}
    for event, level in given.items():
        if event not in events:
            raise ConfigurationError(
                f"{option}: unknown event {event!r}; events are {', '.join(events)}"
            )
        if level is None or level is False:
            levels[event] = None
        elif isinstance(level, int) and not isinstance(level, bool) and level >= 0:
            levels[event] = level
        elif isinstance(level, str) and level.strip().lower() in LEVEL_NAMES:
            levels[event] = LEVEL_NAMES[level.strip().lower()]
        else:
            raise ConfigurationError(
                f"{option}: the level of {event!r} must be a number, one of "
                f"{', '.join(LEVEL_NAMES)} or None, not {level!r}"
            )
    return MappingProxyType(levels)


def parse_event_levels(text: str) -> dict[str, str]:
    """``"poll=info,job=off"`` (a command line's or an environment's spelling) as a
    mapping; ValueError when it is not ``EVENT=LEVEL`` pairs separated by commas."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not all(sep and key.strip() for key, sep, _ in pairs):
        raise ConfigurationError(f"expected EVENT=LEVEL pairs separated by commas, not {text!r}")
    return {key.strip(): value.strip() for key, _, value in pairs}


class Events:
    """A small emitter: ``on``, ``once``, ``off``, ``emit``; logs every event it emits.

    ``fields``: structured fields every line carries (a worker's ``worker`` name) beside
    ``pyresque_event``, ``pyresque_source`` and the event's own; they are not repeated in
    the message, which starts with ``source`` already."""

    def __init__(
        self,
        source: str,
        *,
        logger: logging.Logger | None = None,
        log_levels: Mapping[str, int | str | None] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.fields = dict(fields or {})
        self.logger = logger or logging.getLogger("pyresque.worker")
        levels: dict[str, int | None] = dict(DEFAULT_LOG_LEVELS)
        for name, level in (log_levels or {}).items():
            levels[name] = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        self.levels = levels
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, listener: Listener) -> Listener:
        """Call ``listener(*args)`` on every ``event``; returns it (usable as a decorator)."""
        if event not in EVENTS:
            raise ConfigurationError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
        self._listeners.setdefault(event, []).append((listener, False))
        return listener

    def once(self, event: str, listener: Listener) -> Listener:
        """Like :meth:`on`, for the next ``event`` only."""
        self.on(event, listener)
        self._listeners[event][-1] = (listener, True)
        return listener

    def off(self, event: str, listener: Listener | None = None) -> None:
        """Remove one listener, or all of an event's listeners."""
        if listener is None:
            self._listeners.pop(event, None)
        else:
            self._listeners[event] = [e for e in self._listeners.get(event, []) if e[0] != listener]

    def wanted(self, event: str) -> bool:
        """Whether :meth:`emit` of ``event`` would do anything (a listener, or its log
        level enabled): callers skip building its fields when not."""
        if self._listeners.get(event):
            return True
        level = self.levels.get(event)
        return level is not None and self.logger.isEnabledFor(level)

    def emit(self, event: str, *args: Any, **log_fields: Any) -> None:
        """Call the listeners of ``event`` with ``args`` (coroutines are scheduled)
        and log it at its level with ``log_fields``."""
        # Per job this runs twice or more: skip quickly when nobody listens or logs.
        listeners = self._listeners.get(event)
        level = self.levels.get(event)
        if not listeners and (level is None or not self.logger.isEnabledFor(level)):
            return
        if level is not None and self.logger.isEnabledFor(level):
            self.logger.log(
                level,
                "%s %s%s",
                self.source,
                event,
                "".join(f" {k}={v!r}" for k, v in log_fields.items()),
                extra={
                    "pyresque_event": event,
                    "pyresque_source": self.source,
                    **self.fields,
                    **log_fields,
                },
            )
        if not listeners:
            return
        for listener, once in list(listeners):
            if once:
                listeners.remove((listener, once))
            try:
                result = listener(*args)
            except Exception:
                self.logger.exception("%s: %s listener failed", self.source, event)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("%s: event listener failed", self.source, exc_info=task.exception())
