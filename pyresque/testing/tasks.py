"""Spec helpers for Actionhero-style tasks: Actionhero's ``specHelper`` task functions.

``find_enqueued_tasks`` and ``delete_enqueued_tasks`` look at what is queued or delayed;
``run_task`` calls a task's bare ``run``; ``run_full_task`` runs a task the way a worker
does, minus the worker's Redis bookkeeping. Where Actionhero's helpers fall short (see
``spec/tasks.md``, "Spec helpers") these do what a real worker or a real Redis would.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from pyresque.plugins.base import Outcome, run_plugins
from pyresque.queue import Queue
from pyresque.tasks.task import validate_inputs
from pyresque.tasks.tasks import Tasks
from pyresque.worker.jobs import CurrentJob, invoke
from pyresque.worker.worker import Worker

__all__ = ["delete_enqueued_tasks", "find_enqueued_tasks", "run_full_task", "run_task"]


async def find_enqueued_tasks(tasks: Tasks, name: str) -> list[dict[str, Any]]:
    """Every copy of task ``name`` waiting in Redis, as Actionhero's ``findEnqueuedTasks``
    returns them: ``{"class", "queue", "args", "timestamp"}``, ``timestamp`` None for a
    queued copy and the due time in ms for a delayed one; queued copies first (queue by
    queue, in queue order), then delayed ones in time order.

    Reads the known queues (plus the task's own) and the delayed schedule; no key scan.
    """
    queue = tasks.queue
    delayed = await _delayed_copies(queue, name)
    found: list[dict[str, Any]] = []
    for queue_name in await _queues(tasks, name, delayed):
        for job in await queue.queued(queue_name):
            if job.get("class") == name:
                found.append(_entry(name, queue_name, job.get("args"), None))
    found.extend(delayed)
    return found


async def delete_enqueued_tasks(
    tasks: Tasks, name: str, params: Mapping[str, Any] | None = None
) -> int:
    """Delete every queued and delayed copy of task ``name`` whose params equal
    ``params`` (as enqueued, defaults included); how many copies were removed.

    Unlike Actionhero's ``deleteEnqueuedTasks`` this also finds delayed copies on queues
    that never had an immediate enqueue (a delayed enqueue does not register its queue),
    and params match as values: key order does not matter (``{"a": 1, "b": 2}`` finds a
    job enqueued with ``{"b": 2, "a": 1}``), ``true`` is not ``1``.
    """
    wanted = [dict(params) if params is not None else None]
    targets: list[tuple[str, list[Any], bool]] = []  # (queue, args as stored, delayed?)
    for job in await find_enqueued_tasks(tasks, name):
        target = (job["queue"], job["args"], job["timestamp"] is not None)
        if _same(job["args"], wanted) and target not in targets:
            targets.append(target)
    removed = 0
    for queue_name, args, delayed in targets:
        # Deleting by the stored args (not the caller's) keeps their key order, which is
        # what the bytes in Redis are compared by.
        if delayed:
            removed += await tasks.queue.remove_delayed(queue_name, name, args)
        else:
            removed += await tasks.queue.delete(queue_name, name, args)
    return removed


async def run_task(tasks: Tasks, name: str, params: Any = None) -> Any:
    """Call task ``name``'s ``run(params, None)`` and return what it returns, as
    Actionhero's ``runTask``: no input defaults or validation, no plugins or middleware,
    no periodic re-enqueue, params as given (not frozen). A blocking ``run`` runs in a
    thread, as a worker runs it. :func:`~pyresque.tasks.current_tasks` is ``tasks``."""
    task = tasks.task(name)
    with tasks.as_current():
        if task.is_async:
            return await task.run(params, None)
        context = contextvars.copy_context()
        result = await asyncio.to_thread(context.run, task.run, params, None)
        return await result if inspect.isawaitable(result) else result


async def run_full_task(tasks: Tasks, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Run task ``name`` here and now as a worker would, and return its result.

    The params get the task's defaults and are validated (``InputValidationError`` as
    at enqueue); the task's plugins and middleware run around ``run`` (``before_perform``,
    then ``after_perform``, also after a failure); ``run`` gets the params frozen and a
    ``worker`` whose ``job`` is the payload ``{"class", "queue", "args": [params]}`` on
    the task's queue; a periodic task re-enqueues itself. Plugins reach Redis (locks, a
    re-enqueue) as they would in a worker, but nothing of the worker's own bookkeeping is
    written: no registration, working-on record, stats or failed-list entry.

    None when a plugin or middleware vetoed the run; raises what the run raised (after
    ``after_perform`` had its chance to clear it).

    Actionhero's ``runFullTask`` skips the validation and the freeze, gives ``worker.job``
    as null, and runs on a made-up queue; see ``spec/tasks.md``.
    """
    task = tasks.task(name)
    inputs = await validate_inputs(task, params)
    definition = tasks.jobs[name]
    source = tasks.queue
    queue = task.queue
    args: list[Any] = [inputs]
    payload: dict[str, Any] = {"class": name, "queue": queue, "args": args}
    # A worker that is never started: it only lends itself to the hooks (``owner``) and to
    # the job (``worker.worker``), on the registry's own connection.
    worker = Worker(
        source._driver,
        queue,
        tasks.jobs,
        namespace=source.namespace,
        dialect=source.dialect,
        clock=source.context.clock,
    )
    # As in a worker: plugins enqueue through a queue that knows the jobs, so their
    # enqueue hooks run too.
    plugin_queue = Queue(
        source._driver,
        namespace=source.namespace,
        dialect=source.dialect,
        jobs=tasks.jobs,
        clock=source.context.clock,
    )
    outcome = Outcome()
    hooks: dict[str, Any] = {
        "plugins": definition.plugins,
        "plugin_options": definition.plugin_options,
        "owner": worker,
        "context": worker.context,
        "runner": source._run,
        "queue_object": plugin_queue,
        "job_class": name,
        "queue": queue,
        "job": definition,
        "args": args,
        "outcome": outcome,
    }
    worker.job, worker.queue, worker.working = payload, queue, True
    try:
        try:
            if definition.plugins and not await run_plugins("before_perform", **hooks):
                return None
            current = CurrentJob(worker, queue, name, args, payload)
            outcome.result = await invoke(definition, args, current, executor=None, timeout_ms=None)
        except Exception as exc:
            outcome.error = exc
        if definition.plugins:
            try:
                await run_plugins("after_perform", **hooks)
            except Exception as exc:  # as in a worker: a failing after hook fails the run
                if outcome.error is None:
                    outcome.error = exc
    finally:
        worker.job, worker.queue, worker.working = None, None, False
    if outcome.error is not None:
        raise outcome.error
    return outcome.result


# -- internals ---------------------------------------------------------------------------------


def _entry(name: str, queue: str, args: Any, timestamp: int | None) -> dict[str, Any]:
    return {"class": name, "queue": queue, "args": args, "timestamp": timestamp}


async def _delayed_copies(queue: Queue, name: str) -> list[dict[str, Any]]:
    # all_delayed walks the schedule (a sorted set), not the key space.
    found = []
    for ms, jobs in (await queue.all_delayed()).items():
        for job in jobs:
            if job.get("class") == name:
                found.append(_entry(name, job.get("queue", ""), job.get("args"), int(ms)))
    return found


async def _queues(tasks: Tasks, name: str, delayed: Iterable[Mapping[str, Any]]) -> list[str]:
    """The registered queues, the task's own, and any its delayed copies are bound for (a
    delayed enqueue does not register its queue, but the scheduler may move it there)."""
    names = set(await tasks.queue.queues())
    task = tasks.tasks.get(name)
    if task is not None:
        names.add(task.queue)
    names.update(job["queue"] for job in delayed if job["queue"])
    return sorted(names)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: mappings regardless of key order, and booleans never equal numbers
    (Python's ``True == 1`` is not JavaScript's)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | tuple) or isinstance(b, Mapping | list | tuple):
        return False
    return bool(a == b)
