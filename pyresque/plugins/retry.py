"""Retry: a job that raises is tried again later, up to ``retryLimit`` attempts in all.

node-resque's ``Retry``, on its keys, so a chain begun by a node worker goes on on a
pyresque worker and the other way round:

- ``resque-retry:<class>[:<args key>]`` counts failed attempts (``0`` after the first);
- ``failure-resque-retry:<class>:<args key>`` keeps the last error as JSON;
- the args key joins the args with ``-`` (objects, arrays and null as JSON, the rest as
  text), and each key loses its first whitespace character (node's ``.replace(/\\s/,"")``).

A failed attempt with attempts left is delayed by ``retryDelay`` ms (5000), or by
``backoffStrategy[n]`` (the last entry once n runs past it), the worker emits
``reEnqueue(queue, job, {"delay", "remainingAttempts", "err"})`` and the job settles as a
success that counts a failure (``stat:processed`` +0 but written, ``"0"`` when new, as
node-resque's DECR after the success's INCR leaves it; ``stat:failed`` +1; no failure
entry). The last attempt's error stays: the job fails as usual. Success or final failure
deletes both keys.

Options (node's names, or their snake_case): ``retryLimit`` (1), ``retryDelay`` (5000 ms),
``backoffStrategy`` (a list of ms); pyresque's own ``ttl_margin`` (3600 s, see
:func:`~pyresque.protocol.plans.locks.retry_ttl`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pyresque.errors import ConfigurationError
from pyresque.plugins.base import Plugin
from pyresque.plugins.joblock import delay_job, milliseconds, option, whole_seconds
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import NODE
from pyresque.protocol.plans import locks
from pyresque.protocol.workers import backtrace_lines

__all__ = ["Retry", "js_error_string"]


def js_error_string(error: BaseException) -> str:
    """``String(err)`` for a Python exception: ``"ValueError: bad"``, or just the name."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class Retry(Plugin):
    """Try a failed job again; see the module docstring."""

    def _limit(self) -> int:
        value = option(self.options, "retryLimit", "retry_limit") or 1
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"retryLimit must be a whole number, not {value!r}")
        return value

    def _backoff(self) -> list[float]:
        found = option(self.options, "backoffStrategy", "backoff_strategy")
        if not found:
            return []  # node would delay by backoff[-1] (undefined) for []: NaN seconds
        if not isinstance(found, Sequence) or isinstance(found, str):
            raise ConfigurationError(f"backoffStrategy must be a list of ms, not {found!r}")
        return [milliseconds(d, 0, "backoffStrategy") for d in found]

    async def after_perform(self) -> bool:
        outcome = self.outcome
        if outcome is None:
            return True
        if outcome.error is None:
            await self.run(locks.retry_cleanup(self.context, self.job_class, self.args))
            return True
        error = outcome.error
        limit = self._limit()
        delay = milliseconds(option(self.options, "retryDelay", "retry_delay"), 5000, "retryDelay")
        backoff = self._backoff()
        ttl = locks.retry_ttl(
            max([delay, *backoff]),
            whole_seconds(self.options.get("ttl_margin"), 3600, "ttl_margin"),
        )
        count = await self.run(
            locks.retry_attempt(
                self.context,
                self.job_class,
                self.args,
                limit=limit,
                ttl=ttl,
                error=self._last_error(error),
            )
        )
        remaining = limit - count - 1
        if remaining <= 0:
            # The keys are gone; the error stays and the job fails as usual. (node-resque
            # rethrows here, which also skips the after_perform of plugins listed later.)
            return True
        if backoff:
            delay = backoff[min(count, len(backoff) - 1)]
        await delay_job(self, delay)
        detail: dict[str, Any] = {"delay": delay, "remainingAttempts": remaining, "err": error}
        events = getattr(self.owner, "events", None)
        if events is not None:
            events.emit("reEnqueue", self.queue, self.job, detail, delay=delay, remaining=remaining)
        outcome.error = None
        outcome.counts_as_failure = True
        return True

    def _last_error(self, error: BaseException) -> bytes:
        message = js_error_string(error)
        # node's backtrace is err.stack split into lines: the message, then the frames.
        frames = backtrace_lines(_node_context(self.context), error)
        return locks.retry_last_error(
            self.context,
            message=message,
            backtrace=[*message.split("\n"), *frames],
            args=self.args,
            job_class=self.job_class,
            queue=self.queue,
        )


def _node_context(ctx: Context) -> Context:
    # The stored error is node-resque's format whatever the worker's dialect: V8-style frames.
    return replace(ctx, dialect=NODE) if not ctx.dialect.is_node else ctx
