"""Riding out a Redis that is briefly unavailable: backoff, and plans run patiently.

A step refused with a transient reply (``LOADING`` after a restart, ``BUSY``, ``READONLY``
or ``MASTERDOWN`` in a failover, ``TRYAGAIN``, ``OOM``) did not run, and neither did one
whose connection could not be opened: sending it again is always safe. A step whose
connection dropped after it was sent may have run, and is never sent again here.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, TypeVar

from pyresque.connection.drivers import AsyncDriver, SyncDriver
from pyresque.errors import ConnectionFailedError, ConnectionSetupError, TransientReplyError
from pyresque.protocol.plan import Plan

__all__ = ["DEFAULT_PATIENCE", "UNAVAILABLE", "Backoff", "run_patiently", "run_patiently_sync"]

T = TypeVar("T")

UNAVAILABLE = (ConnectionFailedError, TransientReplyError)
"""What says "Redis is away or busy for now", as opposed to "this cannot be done"."""

DEFAULT_PATIENCE = 5.0
"""Seconds a queue client keeps retrying a step Redis refused for now before raising."""


class Backoff:
    """Delays that double from ``first`` up to ``cap`` seconds, each drawn from the upper
    half of its range (jitter: a fleet does not come back in lock step)."""

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


class _Patience:
    """How long to wait before sending a refused step again; None once out of patience.
    Made only when a step is refused, so the hot path pays nothing."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.backoff = Backoff(cap=1.0)

    def pause(self, exc: BaseException) -> float | None:
        retryable = isinstance(exc, TransientReplyError) or (
            isinstance(exc, ConnectionFailedError)
            and not exc.maybe_sent
            and not isinstance(exc, ConnectionSetupError)
        )
        pause = self.backoff.next()
        return pause if retryable and time.monotonic() + pause < self.deadline else None


async def run_patiently(plan: Plan[T], driver: AsyncDriver, patience: float) -> T:
    """Drive ``plan`` like :func:`~pyresque.connection.run_plan`, sending a step again
    (with backoff) for up to ``patience`` seconds while Redis refuses it for now."""
    waiting: _Patience | None = None
    try:
        step = next(plan)
        while True:
            try:
                reply: Any = await driver.execute(step)
            except Exception as exc:
                waiting = waiting or _Patience(patience)
                pause = waiting.pause(exc)
                if pause is not None:
                    await asyncio.sleep(pause)
                    continue
                step = plan.throw(exc)
            else:
                step = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def run_patiently_sync(plan: Plan[T], driver: SyncDriver, patience: float) -> T:
    """:func:`run_patiently` for blocking code."""
    waiting: _Patience | None = None
    try:
        step = next(plan)
        while True:
            try:
                reply: Any = driver.execute(step)
            except Exception as exc:
                waiting = waiting or _Patience(patience)
                pause = waiting.pause(exc)
                if pause is not None:
                    time.sleep(pause)
                    continue
                step = plan.throw(exc)
            else:
                step = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
