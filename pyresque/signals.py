"""Stop signals for the long-running commands (``pyresque worker``, ``pyresque scheduler``):
installed on the running loop, and the previous handlers put back afterwards."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from typing import Any

from pyresque.errors import ConfigurationError

__all__ = ["STOP_SIGNALS", "install", "restore"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

Previous = dict[signal.Signals, Any]


def install(
    loop: asyncio.AbstractEventLoop,
    signals: Sequence[signal.Signals],
    handler: Callable[[int], object],
    what: str,
) -> Previous:
    """Call ``handler(signum)`` on each of ``signals``; returns the handlers they had."""
    previous: Previous = {}
    try:
        for sig in signals:
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, handler, sig)
            previous[sig] = before
    except (ValueError, RuntimeError, NotImplementedError) as exc:
        restore(loop, previous)
        raise ConfigurationError(
            f"cannot handle {', '.join(s.name for s in signals)} here ({exc}); "
            f"run the {what} in the main thread, or pass signals=()"
        ) from exc
    return previous


def restore(loop: asyncio.AbstractEventLoop, previous: Previous) -> None:
    for sig, handler in previous.items():
        loop.remove_signal_handler(sig)  # that resets to the default: put back what was there
        if handler is not None:
            signal.signal(sig, handler)
