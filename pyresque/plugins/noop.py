"""Noop: a job that raises is logged and counted as a success (node-resque's ``Noop``).

Option ``logger``: a callable (or coroutine function) given the exception; by default the
``pyresque.worker`` logger logs it with its traceback. Nothing is written to Redis: no
failure entry, and ``stat:processed`` counts the job.
"""

from __future__ import annotations

import inspect
import logging

from pyresque.plugins.base import Plugin

__all__ = ["Noop"]

_log = logging.getLogger("pyresque.worker")


class Noop(Plugin):
    """Swallow a job's error after logging it."""

    async def after_perform(self) -> bool:
        if self.outcome is None or self.outcome.error is None:
            return True
        error = self.outcome.error
        logger = self.options.get("logger")
        if callable(logger):
            result = logger(error)
            if inspect.isawaitable(result):
                await result
        else:
            _log.error(
                "%s on %s failed (ignored by Noop): %s",
                self.job_class,
                self.queue,
                error,
                exc_info=error,
            )
        self.outcome.error = None
        return True
