"""Job definitions and how a worker calls them.

Jobs resolve only through the ``jobs`` mapping a worker is given (class name -> callable
or :class:`JobDefinition`): nothing named in a payload is ever imported or evaluated.
An ``async def`` runs on the event loop; a plain function runs in a thread pool, so a
blocking job never stalls the loop (or the other workers sharing it).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pyresque.definitions import JobDefinition, job_definitions
from pyresque.errors import JobTimeoutError, UnknownJobError

__all__ = [
    "CurrentJob",
    "JobDefinition",
    "JobTimeoutError",
    "PerformWrapper",
    "UnknownJobError",
    "current_job",
    "job_definitions",
]


@dataclass(slots=True)
class CurrentJob:
    """What a running job can learn about itself (:func:`current_job`)."""

    worker: Any
    queue: str
    job_class: str
    args: list[Any]
    payload: Mapping[str, Any]

    @property
    def job(self) -> Mapping[str, Any]:
        """The payload, under the name node-resque's and Actionhero's ``worker.job`` has."""
        return self.payload


PerformWrapper = Callable[[CurrentJob], AbstractContextManager[object]]
"""An entry of a worker's ``around_perform`` list: called with each job the worker runs,
it returns a context manager entered before the job's before_perform hooks and exited
after its after_perform hooks, told the job's error as if it were raised inside (a job
cut off by a stop: a CancelledError; a class with no definition: UnknownJobError). The
job runs in its context (contextvars set on entering are the job's); what its exit
returns is ignored: a wrapper cannot swallow a failure. A wrapper that raises on entering
fails the job unrun; one that raises on exiting fails a job that had not failed."""

_current: contextvars.ContextVar[CurrentJob | None] = contextvars.ContextVar(
    "pyresque_current_job", default=None
)


def current_job() -> CurrentJob | None:
    """The job being performed in this task or thread, or None outside a job."""
    return _current.get()


async def invoke(
    definition: JobDefinition,
    args: list[Any],
    context: CurrentJob,
    *,
    executor: Executor | None,
    timeout_ms: float | None,
) -> Any:
    """Run one job; a ``timeout_ms`` overrun raises :class:`JobTimeoutError`.

    A thread cannot be stopped from outside: a blocking job that overruns keeps running in
    its thread, but its result is ignored and the job is settled as timed out.
    """
    token = _current.set(context)
    try:
        if definition.is_async:
            call: Awaitable[Any] = definition.perform(*args)
        else:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            call = loop.run_in_executor(executor, lambda: ctx.run(definition.perform, *args))
        if timeout_ms is None or math.isinf(timeout_ms):
            result = await call
        else:
            try:
                async with asyncio.timeout(timeout_ms / 1000) as limit:
                    result = await call
            except TimeoutError:
                if not limit.expired():
                    raise  # the job's own TimeoutError, not the limit
                raise JobTimeoutError(
                    f"{context.job_class} ran longer than {timeout_ms:.0f} ms"
                ) from None
        if inspect.isawaitable(result):  # a sync callable that returned a coroutine
            result = await result
        return result
    finally:
        _current.reset(token)
