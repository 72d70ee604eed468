"""Bulk enqueue: many jobs written in chunks, one script call per chunk, each job's bytes
and plugins exactly those of its single ``enqueue`` or ``enqueue_at``.

:meth:`pyresque.Queue.enqueue_many` and :meth:`~pyresque.Queue.enqueue_batch` (and their
blocking twins) run :class:`Bulk`. How a chunk goes:

1. up to ``chunk_size`` items are read from the input and each is checked and encoded;
   one that cannot be raises (naming its index), and nothing of its chunk is written;
2. the chunk is written in input order by as few ``enqueue_many.lua`` calls as the
   plugins allow: a job whose definition has enqueue hooks is written on its own, between
   its ``before_enqueue`` and ``after_enqueue``, after everything before it was written
   (its hooks may read what earlier items wrote, as they would after single calls);
   every other run of jobs is one call. (Such a job is encoded again after its
   ``before_enqueue``, whose plugins were handed its args list: if a hook leaves a value
   there that cannot be encoded, the error comes after the jobs before it were written.)
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, TypeAlias

from pyresque.definitions import JobDefinition, JobDefinitions
from pyresque.errors import ArgumentError, PayloadEncodeError
from pyresque.plugins.base import Plugin, Veto, last_veto, plugin_class, run_plugins
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import job_args
from pyresque.protocol.jsjson import JSONValue
from pyresque.protocol.plan import Plan
from pyresque.protocol.plans import bulk as plans
from pyresque.protocol.plans.bulk import MAX_CHUNK, Encoded
from pyresque.protocol.plans.delayed import to_ms

__all__ = [
    "DEFAULT_CHUNK",
    "MAX_CHUNK",
    "BatchEntry",
    "Bulk",
    "BulkItem",
    "BulkResult",
    "batch_entries",
    "many_entries",
]

DEFAULT_CHUNK = 1000
"""Jobs per chunk (per script call) unless ``chunk_size`` says otherwise."""


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One job of :meth:`pyresque.Queue.enqueue_batch`: enqueued on ``queue`` now, or, with
    ``at`` (unix ms or an aware datetime), delayed until then as ``enqueue_at`` does."""

    queue: str
    job_class: str
    args: object = None
    """The job's arguments, as ``enqueue`` takes them (a list; None: none; any other
    value: that one argument)."""
    at: float | datetime | None = None


BatchEntry: TypeAlias = (
    BulkItem | tuple[str, str, object] | tuple[str, str, object, float | datetime | None]
)
"""An item of ``enqueue_batch``: a :class:`BulkItem`, or a tuple ``(queue, class, args)``
or ``(queue, class, args, at)`` (``at`` None: now)."""


@dataclass(slots=True)
class BulkResult:
    """What a bulk enqueue wrote."""

    enqueued: int = 0
    """How many jobs were written, delayed ones included."""
    delayed: int = 0
    """How many of them went to the delayed schedule."""
    vetoed: dict[int, Veto | None] = field(default_factory=dict)
    """Input index -> who vetoed that job (a plugin's ``before_enqueue``); not written."""
    duplicates: list[int] = field(default_factory=list)
    """Input indexes of delayed jobs refused, not written, because the same job was already
    due at that second (node dialect; ``enqueue_at``'s ``DuplicateJobError``)."""


# (input index, queue, class, args, at): one job, before it is checked.
_Entry = tuple[int, str, str, object, "float | datetime | None"]


def many_entries(queue: str, job_class: str, args_iterable: Iterable[object]) -> Iterator[_Entry]:
    """``enqueue_many``'s input as entries."""
    for index, args in enumerate(args_iterable):
        yield index, queue, job_class, args, None


def batch_entries(items: Iterable[BatchEntry]) -> Iterator[_Entry]:
    """``enqueue_batch``'s input as entries; an item of another shape raises
    :class:`~pyresque.errors.ArgumentError` naming its index."""
    for index, item in enumerate(items):
        if isinstance(item, BulkItem):
            yield index, item.queue, item.job_class, item.args, item.at
        elif isinstance(item, tuple | list) and len(item) in (3, 4):
            yield index, item[0], item[1], item[2], item[3] if len(item) == 4 else None
        else:
            raise ArgumentError(
                f"item {index}: expected a BulkItem or a (queue, class, args[, at]) tuple, "
                f"not {item!r}"
            )


@dataclass(slots=True)
class _Job:
    """A job that needs more than its bytes: enqueue hooks to run, wrappers to enter, or
    its index reported (a delayed job may be refused as a duplicate)."""

    index: int
    queue: str
    job_class: str
    args: list[JSONValue]
    at_ms: float | None
    ts: int | None
    encoded: Encoded
    definition: JobDefinition | None


Enter = Callable[[str, str, list[Any], "float | None"], tuple[ExitStack, dict[str, str]]]
"""Enters a queue's ``around_enqueue`` wrappers for one job: the stack to leave them by
and the extra payload fields they asked for."""
Leave = Callable[[ExitStack, "BaseException | None"], None]


class Bulk:
    """One bulk enqueue on behalf of a queue.

    ``runner`` runs a plan on the queue's connection; ``hooks`` gives the keyword
    arguments of :func:`~pyresque.plugins.base.run_plugins` for one job; ``enter`` and
    ``leave`` run the queue's ``around_enqueue`` wrappers (None: it has none).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        runner: Callable[[Plan[Any]], Awaitable[Any]],
        jobs: JobDefinitions,
        hooks: Callable[[JobDefinition, str, str, list[Any]], dict[str, Any]],
        enter: Enter | None = None,
        leave: Leave | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if (
            not isinstance(chunk_size, int)
            or isinstance(chunk_size, bool)
            or not 1 <= chunk_size <= MAX_CHUNK
        ):
            raise ArgumentError(
                f"chunk_size must be an int from 1 to {MAX_CHUNK}, not {chunk_size!r}"
            )
        self.ctx = ctx
        self.encoder = plans.Encoder(ctx)
        self.runner = runner
        self.jobs = jobs
        self.hooks = hooks
        self.enter = enter
        self.leave = leave
        self.chunk_size = chunk_size
        self.result = BulkResult()
        self._hooked: dict[str, JobDefinition | None] = {}

    async def run_many(
        self, queue: str, job_class: str, args_iterable: Iterable[object]
    ) -> BulkResult:
        """``enqueue_many``: the jobs of one class on one queue. Without enqueue hooks or
        wrappers to run, each chunk is only its payloads (the fast path)."""
        if self.enter is not None or self._definition(job_class) is not None:
            return await self.run(many_entries(queue, job_class, args_iterable))
        source = iter(args_iterable)
        done = 0
        while chunk := list(islice(source, self.chunk_size)):
            try:
                payloads = self.encoder.payloads(queue, job_class, chunk)
            except PayloadEncodeError as exc:
                index = done + (exc.index or 0)
                raise PayloadEncodeError(f"item {index}: {exc}", index=index) from None
            await self.runner(plans.push(self.ctx, queue, payloads))
            self.result.enqueued += len(payloads)
            done += len(chunk)
        return self.result

    async def run(self, entries: Iterable[_Entry]) -> BulkResult:
        """Enqueue every entry, chunk by chunk; what was written."""
        source = iter(entries)
        while chunk := list(islice(source, self.chunk_size)):
            await self._write_chunk([self._prepare(entry) for entry in chunk])
        return self.result

    def _definition(self, job_class: str) -> JobDefinition | None:
        """The job's definition when it has plugins with enqueue hooks, else None."""
        if job_class in self._hooked:
            return self._hooked[job_class]
        definition = self.jobs.get(job_class)
        if definition is not None and not any(
            _has_enqueue_hooks(plugin_class(p)) for p in definition.plugins
        ):
            definition = None
        if len(self._hooked) < 4096:
            self._hooked[job_class] = definition
        return definition

    def _prepare(self, entry: _Entry) -> Encoded | _Job:
        """One entry checked and encoded; errors name its index."""
        index, queue, job_class, args, at = entry
        try:
            arguments = job_args(args)
            ts = self.encoder.due(at)
            encoded = self.encoder.encode(queue, job_class, arguments, ts)
            # As enqueue_at, a delayed job (even one ruby enqueues at once) runs no plugins.
            definition = self._definition(job_class) if at is None else None
        except PayloadEncodeError as exc:
            raise PayloadEncodeError(f"item {index}: {exc}", index=index) from None
        except ArgumentError as exc:
            raise ArgumentError(f"item {index}: {exc}") from None
        if definition is None and self.enter is None and ts is None:
            return encoded  # the fast path: only its bytes are needed
        at_ms = None if at is None else to_ms(at)
        return _Job(index, queue, job_class, arguments, at_ms, ts, encoded, definition)

    async def _write_chunk(self, chunk: list[Encoded | _Job]) -> None:
        start = 0
        for n, job in enumerate(chunk):
            if isinstance(job, _Job) and job.definition is not None:
                await self._write(chunk[start:n])
                await self._hooked_job(job)
                start = n + 1
        await self._write(chunk[start:])

    async def _hooked_job(self, job: _Job) -> None:
        """A job with enqueue hooks, as ``Queue.enqueue`` writes it."""
        assert job.definition is not None
        hooks = self.hooks(job.definition, job.queue, job.job_class, job.args)
        if not await run_plugins("before_enqueue", **hooks):
            self.result.vetoed[job.index] = last_veto()
            return
        try:  # the hooks had the args list: encode what they leave
            job.encoded = self.encoder.encode(job.queue, job.job_class, job.args, None)
        except PayloadEncodeError as exc:
            raise PayloadEncodeError(f"item {job.index}: {exc}", index=job.index) from None
        await self._write([job])
        await run_plugins("after_enqueue", **hooks)

    async def _write(self, jobs: list[Encoded | _Job]) -> None:
        if not jobs:
            return
        if self.enter is not None:
            await self._write_wrapped([j for j in jobs if isinstance(j, _Job)])
            return
        encoded = [j.encoded if isinstance(j, _Job) else j for j in jobs]
        refused = await self.runner(plans.write(self.ctx, encoded))
        self._count(encoded, refused, jobs)

    async def _write_wrapped(self, jobs: list[_Job]) -> None:
        """Each job inside the queue's wrappers, each entered in a context of its own (so
        that, say, every job's span is a sibling of the others, not a child)."""
        assert self.enter is not None and self.leave is not None
        entered: list[tuple[contextvars.Context, ExitStack]] = []
        try:
            for job in jobs:
                scope = contextvars.copy_context()
                stack, extra = scope.run(self.enter, job.queue, job.job_class, job.args, job.at_ms)
                entered.append((scope, stack))
                if extra:
                    job.encoded = self._encode_extra(job, extra)
            encoded = [job.encoded for job in jobs]
            refused = await self.runner(plans.write(self.ctx, encoded))
        except BaseException as exc:
            for scope, stack in reversed(entered):
                scope.run(self.leave, stack, exc)
            raise
        for scope, stack in reversed(entered):
            scope.run(self.leave, stack, None)
        self._count(encoded, refused, jobs)

    def _encode_extra(self, job: _Job, extra: Mapping[str, str]) -> Encoded:
        try:
            return self.encoder.encode(job.queue, job.job_class, job.args, job.ts, extra)
        except PayloadEncodeError as exc:
            raise PayloadEncodeError(f"item {job.index}: {exc}", index=job.index) from None

    def _count(
        self, encoded: list[Encoded], refused: list[int], jobs: Sequence[Encoded | _Job]
    ) -> None:
        result = self.result
        result.enqueued += len(encoded) - len(refused)
        result.delayed += sum(1 for e in encoded if e.ts is not None) - len(refused)
        for position in refused:
            job = jobs[position]  # a delayed job: always a _Job
            assert isinstance(job, _Job)
            result.duplicates.append(job.index)


def _has_enqueue_hooks(cls: type[Plugin]) -> bool:
    return any(
        getattr(cls, hook) is not getattr(Plugin, hook)
        for hook in ("before_enqueue", "after_enqueue", "enqueue_vetoed")
    )
