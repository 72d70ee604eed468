"""Run a scheduler in the foreground until SIGTERM or SIGINT: what ``pyresque scheduler``
does. The signal stops it after its current step (each step is atomic, so that is soon)
and releases its lock(s), so a follower takes over within one poll."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence

from pyresque._version import __version__
from pyresque.scheduler.scheduler import Scheduler
from pyresque.signals import STOP_SIGNALS, StopSignals

__all__ = ["STOP_SIGNALS", "run_scheduler_until_signalled"]

log = logging.getLogger("pyresque.scheduler")


async def run_scheduler_until_signalled(
    scheduler: Scheduler, *, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> int:
    """Start ``scheduler``, run it until one of ``signals`` arrives, stop it. Returns 0.

    A second signal stops it at once, without waiting for a Redis that does not answer.
    Signal handlers are restored on return.
    """

    def on_signal(count: int) -> None:
        if count == 1:
            scheduler.request_stop()
        else:
            scheduler.cut_off()

    stop_signals = StopSignals(
        log,
        "scheduler",
        stop="stopping the scheduler (a second signal stops at once)",
        cut_off="stopping at once",
        signals=signals,
        on_signal=on_signal,
    )
    with stop_signals:
        try:
            await scheduler.start()
            log.info("pyresque %s: %r started", __version__, scheduler)
            await stop_signals.changed.wait()
        finally:
            await scheduler.stop()
    log.info("stopped")
    return 0
