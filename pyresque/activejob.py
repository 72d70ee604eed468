"""Run Rails ActiveJob jobs in Python, and enqueue jobs a Rails app runs.

A Rails app on resque enqueues every job as ``ActiveJob::QueueAdapters::ResqueAdapter::
JobWrapper`` with its job data. :class:`ActiveJobs` maps ``job_class`` names to Python
handlers and gives a worker one job for the wrapper that dispatches on them::

    active = ActiveJobs()

    @active.handler("SendInvoiceJob")
    async def send_invoice(invoice_id, note, force=False): ...

    Worker(url, "python", active.jobs, dialect="ruby")

Arguments arrive as Python values: Ruby keywords as keyword arguments, symbols as
:class:`Symbol` (a ``str``), times as aware datetimes, records as :class:`GlobalID`.
A job class with no handler fails (the job stays in the failed list to retry), so give
the jobs Python runs a queue of their own (``queue_as :python`` in the Rails job).
:meth:`ActiveJobs.enqueue` writes the bytes Rails 6.1's adapter writes, so a Rails worker
runs the job; the queue should be a ``dialect="ruby"`` :class:`~pyresque.Queue`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pyresque.definitions import JobDefinition
from pyresque.errors import UnknownActiveJobError
from pyresque.protocol.activejob import (
    WRAPPER,
    ActiveJobData,
    ActiveJobError,
    GlobalID,
    RubyModule,
    Symbol,
    deserialize_arguments,
    job_data,
    read_job_data,
    serialize_arguments,
)
from pyresque.queue import Queue
from pyresque.sync import Queue as SyncQueue
from pyresque.worker.jobs import current_job

__all__ = [
    "WRAPPER",
    "ActiveJobData",
    "ActiveJobError",
    "ActiveJobs",
    "GlobalID",
    "RubyModule",
    "Symbol",
    "UnknownActiveJobError",
    "current_active_job",
]

F = TypeVar("F", bound=Callable[..., Any])

_current: contextvars.ContextVar[ActiveJobData | None] = contextvars.ContextVar(
    "pyresque_active_job", default=None
)


def current_active_job() -> ActiveJobData | None:
    """The job data of the ActiveJob job running here (its handler, and threads it runs in)."""
    return _current.get()


class ActiveJobs:
    """Python handlers for ActiveJob job classes, by the Rails class name."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}

    def handler(self, job_class: str) -> Callable[[F], F]:
        """Register the decorated function for ``job_class`` (one handler per class)."""

        def register(fn: F) -> F:
            self.add(job_class, fn)
            return fn

        return register

    def add(self, job_class: str, fn: Callable[..., Any]) -> None:
        """Run Rails jobs of ``job_class`` with ``fn`` (called with the job's
        arguments as Ruby passed them, mapped to Python)."""
        if not isinstance(job_class, str) or not job_class:
            raise ActiveJobError(f"job_class must be a non-empty string, not {job_class!r}")
        if job_class in self.handlers:
            raise ActiveJobError(f"{job_class} already has a handler")
        self.handlers[job_class] = fn

    @property
    def jobs(self) -> dict[str, Callable[..., Any]]:
        """The worker's jobs mapping: the wrapper class, dispatching to the handlers."""
        return {WRAPPER: self.perform}

    async def perform(self, data: Any) -> Any:
        """Run one wrapper job: find the handler by ``job_class``, call it."""
        job = read_job_data(data)
        fn = self.handlers.get(job.job_class)
        if fn is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            raise UnknownActiveJobError(
                f"no Python handler for ActiveJob class {job.job_class} (handlers: {known})"
            )
        args, kwargs = deserialize_arguments(job.raw.get("arguments", []))
        token = _current.set(job)
        try:
            if JobDefinition(fn).is_async:
                return await fn(*args, **kwargs)
            # A plain function may block: in the worker's thread pool, as its sync jobs run.
            running = current_job()
            executor = getattr(running.worker, "executor", None) if running else None
            ctx = contextvars.copy_context()
            call = functools.partial(ctx.run, fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(executor, call)
        finally:
            _current.reset(token)

    # -- enqueueing for Rails ------------------------------------------------------------------
    def payload_args(
        self,
        queue: Queue | SyncQueue,
        job_class: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        queue_name: str,
        job_id: str | None = None,
    ) -> list[Any]:
        """The wrapper job's resque args: ``[job data]``. From blocking code::

        q.enqueue("billing", WRAPPER, active.payload_args(q, "ChargeJob", (7,), {}, "billing"))
        """
        arguments = serialize_arguments(args, kwargs)
        now = queue.context.clock()
        return [job_data(job_class, arguments, queue_name=queue_name, now=now, job_id=job_id)]

    async def enqueue(
        self, queue: Queue, job_class: str, *args: Any, queue_name: str = "default", **kwargs: Any
    ) -> str:
        """``JobClass.perform_later(*args, **kwargs)`` on ``queue_name``; the job id."""
        data = self.payload_args(queue, job_class, args, kwargs, queue_name)
        await queue.enqueue(queue_name, WRAPPER, data)
        return str(data[0]["job_id"])

    async def enqueue_at(
        self,
        queue: Queue,
        at: float | datetime,
        job_class: str,
        *args: Any,
        queue_name: str = "default",
        **kwargs: Any,
    ) -> str:
        """``JobClass.set(wait_until: at).perform_later(...)`` (``at`` in ms or a datetime);
        moved to its queue by a resque-scheduler or pyresque scheduler."""
        data = self.payload_args(queue, job_class, args, kwargs, queue_name)
        await queue.enqueue_at(at, queue_name, WRAPPER, data)
        return str(data[0]["job_id"])

    async def enqueue_in(
        self,
        queue: Queue,
        delay: float | timedelta,
        job_class: str,
        *args: Any,
        queue_name: str = "default",
        **kwargs: Any,
    ) -> str:
        """``JobClass.set(wait: delay).perform_later(...)`` (``delay`` in ms)."""
        ms = delay.total_seconds() * 1000 if isinstance(delay, timedelta) else float(delay)
        at = queue.context.now_ms() + ms
        return await self.enqueue_at(queue, at, job_class, *args, queue_name=queue_name, **kwargs)
