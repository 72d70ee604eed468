"""Run a scheduler in the foreground until SIGTERM or SIGINT: what ``pyresque scheduler``
does. The signal stops it after its current step (each step is atomic, so that is soon)
and releases its lock(s), so a follower takes over within one poll."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from pyresque._version import __version__
from pyresque.scheduler.scheduler import Scheduler
from pyresque.signals import STOP_SIGNALS, install, restore

__all__ = ["STOP_SIGNALS", "run_scheduler_until_signalled"]

log = logging.getLogger("pyresque.scheduler")


async def run_scheduler_until_signalled(
    scheduler: Scheduler, *, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> int:
    """Start ``scheduler``, run it until one of ``signals`` arrives, stop it. Returns 0.

    A second signal stops it at once, without waiting for a Redis that does not answer.
    Signal handlers are restored on return.
    """
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stopped.is_set():
            log.warning("%s again: stopping at once", name)
            scheduler.cut_off()
            return
        log.info("%s: stopping the scheduler (a second signal stops at once)", name)
        scheduler.request_stop()
        stopped.set()

    previous = install(loop, signals, on_signal, "scheduler")
    try:
        await scheduler.start()
        log.info("pyresque %s: %r started", __version__, scheduler)
        await stopped.wait()
    finally:
        await scheduler.stop()
        restore(loop, previous)
    log.info("stopped")
    return 0
