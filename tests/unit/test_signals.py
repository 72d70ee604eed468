"""StopSignals: the one "first signal stops, a second cuts off" rule of the three runners."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from pyresque.signals import StopSignals

SIG = signal.SIGUSR1  # not the test run's own SIGINT/SIGTERM


async def test_first_signal_stops_a_second_cuts_off_and_each_wakes_the_runner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    log = logging.getLogger("test.signals")
    signals = StopSignals(
        log,
        "test",
        stop="stopping now",
        cut_off="cutting off",
        signals=(SIG,),
        on_signal=seen.append,
    )
    with caplog.at_level(logging.INFO, logger="test.signals"), signals:
        assert (signals.count, signals.stopping, signals.cutting_off) == (0, False, False)
        os.kill(os.getpid(), SIG)
        await asyncio.wait_for(signals.changed.wait(), 5)
        assert (signals.count, signals.stopping, signals.cutting_off) == (1, True, False)
        signals.changed.clear()
        os.kill(os.getpid(), SIG)
        await asyncio.wait_for(signals.changed.wait(), 5)
        assert (signals.count, signals.stopping, signals.cutting_off) == (2, True, True)
    assert seen == [1, 2]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "SIGUSR1: stopping now"),
        ("WARNING", "SIGUSR1 again: cutting off"),
    ]


async def test_leaving_puts_the_previous_handler_back() -> None:
    def before(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(SIG, before)
    try:
        with StopSignals(logging.getLogger("test"), "test", stop="s", cut_off="c", signals=(SIG,)):
            assert signal.getsignal(SIG) is not before
        assert signal.getsignal(SIG) is before
    finally:
        signal.signal(SIG, previous)
