"""Riding out a Redis that is briefly unavailable: backoff, and plans run patiently.

A step refused with a transient reply (``LOADING`` after a restart, ``BUSY``, ``READONLY``
or ``MASTERDOWN`` in a failover, ``TRYAGAIN``, ``OOM``) did not run, and neither did one
whose connection could not be opened: sending it again is always safe. A step whose
connection dropped after it was sent may have run, and is never sent again here, unless it
only reads (a ``PING``, a ``GET`` ...): reading twice changes nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, TypeVar

from pyresque.connection.drivers import AsyncDriver, SyncDriver
from pyresque.errors import (
    ConnectionFailedError,
    ConnectionSetupError,
    ReplyTimeoutError,
    TransientReplyError,
)
from pyresque.protocol.plan import Call, Plan, Step

__all__ = ["DEFAULT_PATIENCE", "UNAVAILABLE", "Backoff", "run_patiently", "run_patiently_sync"]

T = TypeVar("T")

_READS = frozenset(
    {b"PING", b"GET", b"MGET", b"EXISTS", b"TYPE", b"LLEN", b"LRANGE", b"LINDEX",
     b"SMEMBERS", b"SISMEMBER", b"ZRANGE", b"ZRANGEBYSCORE", b"ZCARD", b"HGET",
     b"HGETALL", b"SCAN", b"INFO", b"TIME"}
)  # fmt: skip
"""Commands that only read: sent again even when the reply to the first was lost."""


def _only_reads(step: Step) -> bool:
    if type(step) is not Call or not step.args:
        return False
    name = step.args[0]
    name = name.encode() if isinstance(name, str) else name
    return isinstance(name, bytes) and name.upper() in _READS


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

    def pause(self, exc: BaseException, step: Step) -> float | None:
        retryable = isinstance(exc, TransientReplyError) or (
            isinstance(exc, ConnectionFailedError)
            # A lost reply to a read: read again. A hung server (no reply in time) is no
            # restart: its caller hears of it once.
            and (
                not exc.maybe_sent or (_only_reads(step) and not isinstance(exc, ReplyTimeoutError))
            )
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
                pause = waiting.pause(exc, step)
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
                pause = waiting.pause(exc, step)
                if pause is not None:
                    time.sleep(pause)
                    continue
                step = plan.throw(exc)
            else:
                step = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
