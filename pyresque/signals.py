"""Stop signals for the long-running commands (``pyresque worker``, ``scheduler``, ``start``):
installed on the running loop, and the previous handlers put back afterwards. All three
runners share one rule, :class:`StopSignals`: the first signal stops, a second cuts off."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from pyresque.errors import ConfigurationError

__all__ = ["STOP_SIGNALS", "StopSignals", "install", "restore"]

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
    """Put back the handlers :func:`install` returned."""
    for sig, handler in previous.items():
        loop.remove_signal_handler(sig)  # that resets to the default: put back what was there
        if handler is not None:
            signal.signal(sig, handler)


class StopSignals:
    """The first stop signal stops, a second (and any later) cuts off: one count for a
    runner, logged to ``log`` as ``"<SIG>: <stop>"`` then ``"<SIG> again: <cut_off>"``.

    A context manager on the running loop: entering installs the handlers (for the
    ``what`` named in the error when they cannot be), leaving restores the previous ones.
    ``on_signal(count)`` runs on each signal, after the count went up and before
    ``changed`` is set; ``changed`` only wakes the runner, which reads the count.
    """

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        stop: str,
        cut_off: str,
        signals: Sequence[signal.Signals] = STOP_SIGNALS,
        on_signal: Callable[[int], object] | None = None,
    ) -> None:
        self.log, self.what, self.stop_message, self.cut_off_message = log, what, stop, cut_off
        self.signals = tuple(signals)
        self.on_signal = on_signal
        self.count = 0
        self.changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Previous = {}

    @property
    def stopping(self) -> bool:
        """A signal came: stop."""
        return self.count >= 1

    @property
    def cutting_off(self) -> bool:
        """A second signal came: cut running work off."""
        return self.count >= 2

    def __call__(self, signum: int) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.log.info("%s: %s", name, self.stop_message)
        else:
            self.log.warning("%s again: %s", name, self.cut_off_message)
        if self.on_signal is not None:
            self.on_signal(self.count)
        self.changed.set()

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        self._previous = install(self._loop, self.signals, self, self.what)
        # A worker process forked by a supervisor starts with its stop signals blocked
        # (pyresque.worker.processes): one sent while it was starting waited for this
        # handler, and is delivered now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self.signals)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None:
            restore(self._loop, self._previous)
            self._loop, self._previous = None, {}
