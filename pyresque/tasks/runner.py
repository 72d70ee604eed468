"""Run an app node in the foreground until SIGTERM or SIGINT: what ``pyresque start`` does."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import setproctitle

from pyresque._version import __version__
from pyresque.signals import STOP_SIGNALS, StopSignals
from pyresque.worker.runner import process_title

if TYPE_CHECKING:
    from pyresque.tasks.app import App

__all__ = ["run_app_until_signalled"]

log = logging.getLogger("pyresque.tasks")

_CUT_OFF_BEAT = 0.05


async def run_app_until_signalled(
    app: App, *, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> int:
    """Start ``app`` and run it until a signal: the first stops it gracefully (running jobs
    may finish within the workers' grace), a second cuts running jobs off. Returns 0."""
    previous_title = setproctitle.getproctitle()
    stop_signals = StopSignals(
        log,
        "app",
        stop="stopping (a second signal cuts running jobs off)",
        cut_off="cutting running jobs off",
        signals=signals,
    )
    changed = stop_signals.changed
    with stop_signals:
        try:
            await app.start()
            title = f"pyresque-{__version__}: {'+'.join(app.roles)}"
            if app.multi_worker is not None:
                title = process_title([app.multi_worker])  # Ruby's pruning looks for this
            setproctitle.setproctitle(title)
            log.info("pyresque %s: %r running; SIGTERM or SIGINT stops it", __version__, app)
            await changed.wait()
            stopping = asyncio.ensure_future(app.stop())
            while not stopping.done():
                changed.clear()
                if stop_signals.cutting_off:
                    app.cut_off()  # on a beat: a job taken just before may start after it
                woken = asyncio.ensure_future(changed.wait())
                await asyncio.wait(
                    {stopping, woken},
                    timeout=_CUT_OFF_BEAT if stop_signals.cutting_off else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                woken.cancel()
            await stopping
        finally:
            if app.running:
                await app.stop()
            setproctitle.setproctitle(previous_title)
    log.info("stopped")
    return 0
