"""When a job is to run, as ``--at`` and ``--in`` take it and as the command says it back.

``--at`` is unix epoch milliseconds (node-resque's unit) or an ISO-8601 date and time. A
number that is a plausible time in epoch *seconds* (below 10^11 ms, before 1973-03-03) is
refused with the value it most likely meant: a job delayed by fifty years by mistake does
no harm until someone wonders where it went.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime

__all__ = ["SECONDS_LOOK_ALIKE", "at_ms", "delay_ms", "iso", "relative", "when"]

SECONDS_LOOK_ALIKE = 1e11
"""Epoch milliseconds below this (1973-03-03) are taken for a time in seconds."""


def iso(ms: float) -> str:
    """``ms`` (unix epoch) as ISO-8601 UTC with milliseconds: ``2026-12-06T10:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def at_ms(given: str) -> float:
    """An argparse ``type`` for ``--at``: epoch ms, or an ISO-8601 datetime (local time
    without an offset)."""
    try:
        value = float(given)
    except ValueError:
        value = _iso_ms(given)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{given!r} is no time: give unix epoch milliseconds, 0 or more, or an ISO-8601 "
            "date and time such as 2026-12-06T10:00:00Z"
        )
    if value < SECONDS_LOOK_ALIKE:
        raise argparse.ArgumentTypeError(
            f"{given} is {iso(value)} in milliseconds; did you mean seconds? "
            f"use --at {value * 1000:.0f} ({iso(value * 1000)})"
        )
    return value


def _iso_ms(given: str) -> float:
    try:
        moment = datetime.fromisoformat(given.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{given!r} is neither unix epoch milliseconds nor an ISO-8601 date and time "
            "(e.g. 2026-12-06T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: this machine's local time
    return moment.timestamp() * 1000


def delay_ms(given: str) -> float:
    """An argparse ``type`` for ``--in``: a delay in ms, 0 or more."""
    try:
        value = float(given)
    except ValueError:
        value = math.nan
    if math.isnan(value) or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a number of ms, 0 or more, not {given!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{given} is negative: a delay is 0 or more ms (0 runs it now); for a time in "
            "the past use --at"
        )
    return value


def relative(ms: float) -> str:
    """A span of ``ms`` in its two largest units: ``3m20s``, ``2h5m``, ``450ms``."""
    total = round(abs(ms))
    if total < 1000:
        return f"{total}ms"
    seconds = round(total / 1000)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or parts:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def when(at: float, now_ms: float | None = None) -> str:
    """``until <ISO> (in <span>)``, or ``(<span> ago)`` for a time past."""
    now = time.time() * 1000 if now_ms is None else now_ms
    span = relative(at - now)
    return f"until {iso(at)} ({'in ' + span if at >= now else span + ' ago'})"
