"""Waiting out a Redis that is away for a while, without flooding the log.

A worker or scheduler meets a dropped connection, a reply timeout or a transient reply
(``LOADING``, ``BUSY``, ``READONLY``, ``MASTERDOWN``, ``TRYAGAIN``, ``OOM``) as a reason to
wait and try again: :class:`Backoff` spaces the tries out (exponential, with jitter, so a
fleet does not come back in lock step), :class:`Throttle` keeps one report per kind of
trouble and key per interval.
"""

from __future__ import annotations

import random
import time

from pyresque.errors import ConnectionFailedError, TransientReplyError

__all__ = ["REPORT_INTERVAL", "UNAVAILABLE", "Backoff", "Throttle"]

UNAVAILABLE = (ConnectionFailedError, TransientReplyError)
"""What says "Redis is away or busy for now", as opposed to "this cannot be done"."""

REPORT_INTERVAL = 60.0
"""Seconds between two reports of the same trouble (the first one is at once)."""


class Backoff:
    """Delays that double from ``first`` up to ``cap`` seconds, each drawn from the upper
    half of its range."""

    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self.first = first
        self.cap = max(cap, first)
        self._delay = first

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self._delay * 2, self.cap)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self._delay = self.first


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
