"""One job: decode it, run its plugins and callable, and say how to settle it.

:class:`Performer` is the part of a :class:`~pyresque.worker.worker.Worker` that runs a job
it has taken. Whatever bytes sit in the queue, this returns a settle (success, failure
with the job's bytes kept, or unfinished): nothing about a payload can end the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import Any, TypeVar

from pyresque.connection import AsyncDriver, run_plan
from pyresque.definitions import JobDefinition, JobDefinitions
from pyresque.errors import (
    ConnectionFailedError,
    PayloadDecodeError,
    PayloadEncodeError,
    RedisReplyError,
    StateError,
)
from pyresque.logs import where_raised
from pyresque.plugins.base import Hook, Outcome, run_plugins
from pyresque.protocol.context import Context
from pyresque.protocol.failures import encode_failure
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_job
from pyresque.protocol.plan import Call, Plan
from pyresque.protocol.plans.work import Settle, Taken
from pyresque.protocol.recovery import stopped_entry
from pyresque.protocol.workers import Identity, exception_entry, ruby_record
from pyresque.queue import Queue, exit_wrappers
from pyresque.worker.events import Events
from pyresque.worker.jobs import CurrentJob, PerformWrapper, UnknownJobError, invoke
from pyresque.worker.options import Unfinished, WorkerOptions

__all__ = ["SUCCESS", "Performer", "Unfinished"]

T = TypeVar("T")
SUCCESS = Settle("done", processed=True)  # shared: never mutated
_VETOED = Settle("done")


class Performer:
    """Runs a taken job; a Worker is one. The attributes below are the Worker's."""

    context: Context
    identity: Identity
    name: str
    jobs: JobDefinitions
    events: Events
    options: WorkerOptions
    executor: Executor | None
    running: bool
    working: bool
    job: dict[str, Any] | None
    queue: str | None
    processed: int
    failed: int
    _driver: AsyncDriver
    _in_job: bool
    _cutting: bool
    _plugin_queue: Queue | None
    around_perform: list[PerformWrapper]

    def _run(self, plan: Plan[T]) -> Awaitable[T]:
        return run_plan(plan, self._driver)

    async def _perform(self, taken: Taken, started: str) -> Settle:
        ctx = self.context
        self.queue = taken.queue
        began = time.monotonic()
        try:
            payload: dict[str, Any] = decode_job(taken.raw)  # type: ignore[assignment]
        except PayloadDecodeError as exc:
            return self._failed(taken, text(taken.raw), exc, began, exception="PayloadDecodeError")
        if not ctx.dialect.is_node and taken.decoded:
            await self._canonical_ruby_record(taken, started, payload)
        found = payload.get("class")
        job_class = found if isinstance(found, str) else ""
        args = payload.get("args", [])
        args = args if isinstance(args, list) else [args]
        current = CurrentJob(self, taken.queue, job_class, args, payload)
        definition = self.jobs.get(job_class)
        if definition is None:
            error = UnknownJobError(f"No job defined for class {job_class!r}")
            if self.around_perform:
                self._tell_wrappers(current, error)
            if ctx.dialect.is_node:
                return self._failed(
                    taken, payload, error, began, exception="Error",
                    message=f'No job defined for class "{job_class}"',
                )  # fmt: skip
            return self._failed(
                taken, payload, error, began, exception="NameError",
                message=f"uninitialized constant {job_class}",
            )  # fmt: skip
        self.job, self.working = payload, True
        if self.events.wanted("job"):
            self.events.emit("job", taken.queue, payload, queue=taken.queue, **{"class": job_class})
        outcome = Outcome()
        if self.around_perform:
            settled = await self._run_wrapped(taken, payload, definition, current, outcome, began)
        else:
            settled = await self._run_job(taken, payload, definition, current, outcome, began)
        if settled is not None:
            return settled
        if outcome.error is not None:
            return self._failed(taken, payload, outcome.error, began)
        if self.events.wanted("success"):
            duration = (time.monotonic() - began) * 1000
            self.events.emit(
                "success",
                taken.queue,
                payload,
                outcome.result,
                duration,
                **_job_fields(taken.queue, job_class, duration, "success"),
            )
        if outcome.counts_as_failure:
            # A retried failure (Retry plugin): counted in this step's one script, where
            # node-resque DECRs/INCRs the stats after counting a success.
            self.failed += 1
            node = ctx.dialect.is_node
            return Settle("done", processed=not node, failed=True, touch_processed=node)
        self.processed += 1
        return SUCCESS

    async def _run_job(
        self,
        taken: Taken,
        payload: dict[str, Any],
        definition: JobDefinition,
        current: CurrentJob,
        outcome: Outcome,
        began: float,
    ) -> Settle | None:
        """Plugins' before_perform, the job, after_perform: its result or error goes to
        ``outcome``; a settle here for a vetoed job or one cut off by a stop."""
        job_class, queue, args = current.job_class, current.queue, current.args
        self._in_job = True
        try:
            if definition.plugins and not await self._hooks(
                "before_perform", definition, job_class, queue, args, outcome
            ):
                return _VETOED  # node-resque counts nothing for a vetoed perform
            outcome.result = await invoke(
                definition,
                args,
                current,
                executor=self.executor,
                timeout_ms=self.options.job_timeout,
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._cutting and task is not None and task.cancelling():
                task.uncancel()  # the stop cut this job off: settle it, then stop
                self.job, self.working = None, False
                return self._unfinished(taken, payload, began)
            raise
        except Exception as exc:
            outcome.error = exc
        finally:
            self._in_job = False
        try:
            if definition.plugins:
                try:
                    await self._hooks("after_perform", definition, job_class, queue, args, outcome)
                except Exception as exc:  # after_perform runs after failures too
                    if outcome.error is None:
                        outcome.error = exc
        finally:
            self.job, self.working = None, False
        return None

    async def _run_wrapped(
        self,
        taken: Taken,
        payload: dict[str, Any],
        definition: JobDefinition,
        current: CurrentJob,
        outcome: Outcome,
        began: float,
    ) -> Settle | None:
        """:meth:`_run_job` inside the ``around_perform`` wrappers (the first outermost).
        A wrapper that fails to enter fails the job unrun; each is told the job's error
        (a cut-off job's is the CancelledError) and cannot swallow it."""
        stack = contextlib.ExitStack()
        settled: Settle | None = None
        try:
            for wrap in self.around_perform:
                stack.enter_context(wrap(current))
        except Exception as exc:
            outcome.error = exc
            self.job, self.working = None, False
        else:
            try:
                settled = await self._run_job(taken, payload, definition, current, outcome, began)
            except BaseException as exc:  # a cancellation that is no stop's cut
                exit_wrappers(stack, exc)
                raise
        error: BaseException | None = outcome.error
        if settled is not None:
            error = None if settled is _VETOED else asyncio.CancelledError("cut off by stop")
        try:
            exit_wrappers(stack, error)
        except Exception as exc:
            if settled is None and outcome.error is None:
                outcome.error = exc
        return settled

    def _tell_wrappers(self, current: CurrentJob, error: BaseException) -> None:
        """A job that cannot run (no definition for its class) passes through the
        ``around_perform`` wrappers all the same, failing with ``error``."""
        stack = contextlib.ExitStack()
        try:
            for wrap in self.around_perform:
                stack.enter_context(wrap(current))
        except Exception as exc:
            self.events.emit("error", exc, current.queue, current.payload, error=str(exc))
        try:
            exit_wrappers(stack, error)
        except Exception as exc:
            self.events.emit("error", exc, current.queue, current.payload, error=str(exc))

    async def _hooks(
        self,
        hook: Hook,
        definition: JobDefinition,
        job_class: str,
        queue: str,
        args: list[Any],
        outcome: Outcome,
    ) -> bool:
        if self._plugin_queue is None:
            self._plugin_queue = Queue(
                self._driver,
                namespace=self.context.keys.namespace,
                dialect=self.context.dialect,
                jobs=self.jobs,
                clock=self.context.clock,
            )
        return await run_plugins(
            hook,
            plugins=definition.plugins,
            plugin_options=definition.plugin_options,
            owner=self,
            context=self.context,
            runner=self._run,
            queue_object=self._plugin_queue,
            job_class=job_class,
            queue=queue,
            job=definition,
            args=args,
            outcome=outcome,
        )

    def _failed(
        self,
        taken: Taken,
        payload: Any,
        exc: BaseException,
        began: float,
        *,
        exception: str | None = None,
        message: str | None = None,
    ) -> Settle:
        ctx = self.context
        entry = exception_entry(
            ctx,
            worker=self.identity.name if ctx.dialect.is_node else self.identity.member,
            queue=taken.queue,
            payload=payload,
            exc=exc,
            exception=exception,
            error=message,
        )
        duration = (time.monotonic() - began) * 1000
        self.failed += 1
        self.events.emit(
            "failure",
            taken.queue,
            payload,
            exc,
            duration,
            **_job_fields(taken.queue, _class_of(payload), duration, "failure"),
            exception=type(exc).__name__,
            where=where_raised(exc),
            error=str(exc),
        )
        # Ruby counts every job it ran as processed, failures included; node only successes.
        return Settle(
            "done",
            processed=not ctx.dialect.is_node,
            failed=True,
            entry=encode_failure(ctx, entry, taken.raw),
        )

    def _unfinished(self, taken: Taken, payload: Any, began: float) -> Settle:
        if self.options.unfinished == "requeue":
            self.events.emit("reEnqueue", taken.queue, payload, "stop", error="cut off by stop")
            return Settle("requeue", queue=taken.queue, payload=taken.raw)
        duration = (time.monotonic() - began) * 1000
        self.events.emit(
            "failure",
            taken.queue,
            payload,
            None,
            duration,
            **_job_fields(taken.queue, _class_of(payload), duration, "failure"),
            error="cut off by stop",
        )
        return self._stopped(taken, payload)

    def _stopped(self, taken: Taken, payload: Any) -> Settle:
        """The settle of a job cut off by a stop: failed, marked as a dead worker's job."""
        ctx = self.context
        entry = stopped_entry(ctx, self.identity, taken.queue, payload)
        node = ctx.dialect.is_node
        return Settle(
            "done", processed=not node, failed=node, entry=encode_failure(ctx, entry, taken.raw)
        )

    async def _canonical_ruby_record(self, taken: Taken, started: str, payload: Any) -> None:
        """The script spliced the payload's bytes into Ruby's record; Ruby would re-encode
        them. Rewrite the record in the rare case the two differ (another encoder's bytes);
        a payload Ruby could not write (``1e400``) keeps the spliced bytes."""
        try:
            if self.context.dialect.dumps(payload) == taken.raw:
                return
            record = ruby_record(self.context, taken.queue, started, payload)
        except PayloadEncodeError:
            return
        try:
            await self._run(_set(self.context.keys.worker(self.identity.member), record))
        except (ConnectionFailedError, RedisReplyError) as exc:  # the spliced record stays
            self.events.emit("error", exc, taken.queue, payload, error=str(exc))

    # -- tests -------------------------------------------------------------------------------
    async def perform_inline(self, job_class: str, args: Any = None) -> Any:
        """Run a job here and now, with no Redis I/O at all (node-resque's performInline).

        Raises what the job raises; refused on a started worker.
        """
        if self.running:
            raise StateError("perform_inline cannot be used on a started worker")
        definition = self.jobs.get(job_class)
        if definition is None:
            raise UnknownJobError(f"No job defined for class {job_class!r}")
        arguments = [] if args is None else list(args) if isinstance(args, list | tuple) else [args]
        queue = f"_direct-queue-{self.name}"
        payload = {"class": job_class, "queue": queue, "args": arguments}
        current = CurrentJob(self, queue, job_class, arguments, payload)
        return await invoke(
            definition,
            arguments,
            current,
            executor=self.executor,
            timeout_ms=self.options.job_timeout,
        )


def _class_of(payload: Any) -> str:
    found = payload.get("class") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else ""


def _job_fields(queue: str, job_class: str, duration_ms: float, outcome: str) -> dict[str, Any]:
    """The fields of a job's success or failure line (``spec/logs.md``)."""
    return {
        "queue": queue,
        "class": job_class,
        "duration_ms": round(duration_ms, 3),
        "outcome": outcome,
    }


def _set(key: str, value: bytes) -> Plan[None]:
    yield Call("SET", key, value)
