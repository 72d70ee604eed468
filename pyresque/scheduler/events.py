"""Scheduler events (node-resque's set, plus ``vetoedJob``) and their log lines.

``scheduler.on("transferredJob", fn)`` calls ``fn(timestamp, job)`` like node-resque's
emitter; a callback may be a coroutine function. Each event is also logged on the
``pyresque.scheduler`` logger at the level Actionhero's ``schedulerLogging`` gives it
(``leader``'s notice is INFO), changeable per event (``None`` silences one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyresque.errors import ConfigurationError
from pyresque.worker.events import Events, Listener

__all__ = ["DEFAULT_LOG_LEVELS", "EVENTS", "SchedulerEvents"]

EVENTS = (
    "start",
    "end",
    "poll",
    "leader",
    "cleanStuckWorker",
    "error",
    "workingTimestamp",
    "transferredJob",
    "vetoedJob",
)

DEFAULT_LOG_LEVELS: Mapping[str, int | None] = {
    "start": logging.INFO,
    "end": logging.INFO,
    "poll": logging.DEBUG,
    "leader": logging.INFO,
    "cleanStuckWorker": logging.WARNING,
    "error": logging.ERROR,
    "workingTimestamp": logging.DEBUG,
    "transferredJob": logging.DEBUG,
    "vetoedJob": logging.INFO,
}
"""Actionhero's ``schedulerLogging`` defaults; ``vetoedJob`` is pyresque's."""


class SchedulerEvents(Events):
    """The worker's emitter, with the scheduler's events, levels and logger."""

    def __init__(
        self, source: str, *, log_levels: Mapping[str, int | str | None] | None = None
    ) -> None:
        super().__init__(
            source,
            logger=logging.getLogger("pyresque.scheduler"),
            log_levels={**DEFAULT_LOG_LEVELS, **(log_levels or {})},
        )
        self.levels = {name: self.levels[name] for name in EVENTS}

    def on(self, event: str, listener: Listener) -> Listener:
        """Call ``listener(*args)`` on every ``event``; returns it (usable as a decorator)."""
        if event not in EVENTS:
            raise ConfigurationError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
        self._listeners.setdefault(event, []).append((listener, False))
        return listener
