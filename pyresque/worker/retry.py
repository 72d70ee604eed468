"""Reports of trouble that do not flood the log.

A worker or scheduler meets a dropped connection, a reply timeout or a transient reply
as a reason to wait and try again (:class:`~pyresque.connection.patience.Backoff`);
:class:`Throttle` keeps one report per kind of trouble and key per interval.
"""

from __future__ import annotations

import time

__all__ = ["REPORT_INTERVAL", "Throttle"]

REPORT_INTERVAL = 60.0
"""Seconds between two reports of the same trouble (the first one is at once)."""


class Throttle:
    """``due(key)`` is True the first time and then at most once per ``interval``."""

    def __init__(self, interval: float = REPORT_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def due(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        return True

    def forget(self, key: str) -> None:
        """The trouble is over: report it at once if it comes back."""
        self._last.pop(key, None)
