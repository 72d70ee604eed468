"""Run a scheduler in the foreground until SIGTERM or SIGINT: what ``pyresque scheduler``
does. The signal stops it after its current step (each step is atomic, so that is soon)
and releases its lock(s), so a follower takes over within one poll."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any

from pyresque._version import __version__
from pyresque.errors import ConfigurationError
from pyresque.scheduler.scheduler import Scheduler

__all__ = ["STOP_SIGNALS", "run_scheduler_until_signalled"]

log = logging.getLogger("pyresque.scheduler")

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


async def run_scheduler_until_signalled(
    scheduler: Scheduler, *, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> int:
    """Start ``scheduler``, run it until one of ``signals`` arrives, stop it. Returns 0.

    Signal handlers are restored on return.
    """
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("%s: stopping the scheduler", signal.Signals(signum).name)
        scheduler.request_stop()
        stopped.set()

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in signals:
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal, sig)
            previous[sig] = before
    except (ValueError, RuntimeError, NotImplementedError) as exc:
        _restore(loop, previous)
        raise ConfigurationError(
            f"cannot handle {', '.join(s.name for s in signals)} here ({exc}); "
            "run the scheduler in the main thread, or pass signals=()"
        ) from exc
    try:
        await scheduler.start()
        log.info("pyresque %s: %r started", __version__, scheduler)
        await stopped.wait()
    finally:
        await scheduler.stop()
        _restore(loop, previous)
    log.info("stopped")
    return 0


def _restore(loop: asyncio.AbstractEventLoop, previous: dict[signal.Signals, Any]) -> None:
    for sig, handler in previous.items():
        loop.remove_signal_handler(sig)  # that resets to the default: put back what was there
        if handler is not None:
            signal.signal(sig, handler)
