"""The task registry and Actionhero's ``task.*`` API, over a pyresque :class:`Queue`.

``Tasks`` loads task classes, turns each into a resque job definition (its plugins, the
periodic locks, the middleware as plugins, and a ``perform`` that calls ``run`` and keeps a
periodic task's chain going) for workers, and offers every ``task.*`` call in snake_case
(the enqueues and periodic calls here, the admin ones in :mod:`pyresque.tasks.admin`).

:func:`current_tasks` is the registry of the running task, so ``run`` can enqueue other
tasks as Actionhero code calls the global ``task.enqueueIn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import redis.asyncio

from pyresque.connection import AsyncDriver
from pyresque.definitions import JobDefinition
from pyresque.plugins.base import Plugin, Veto, plugin_class, record_veto, run_plugins
from pyresque.plugins.joblock import custom_key, option, whole_seconds
from pyresque.protocol.dialect import Dialect
from pyresque.protocol.jsjson import js_dumps
from pyresque.protocol.plans import jobs as job_plans
from pyresque.protocol.plans import locks as lock_plans
from pyresque.queue import Queue
from pyresque.tasks.admin import TaskAdmin
from pyresque.tasks.middleware import TaskMiddleware, middleware_plugin, ordered
from pyresque.tasks.task import Task, TaskDefinitionError, TaskError, validate_inputs
from pyresque.worker.jobs import current_job

__all__ = ["PERIODIC_LOCKS", "Tasks", "current_tasks"]

PERIODIC_LOCKS: tuple[str, ...] = ("JobLock", "QueueLock", "DelayQueueLock")
"""What Actionhero adds to a periodic task's plugins (JobLock without re-enqueue)."""

# The periodic locks whose enqueue checks the boot enqueue's script makes itself.
_SCRIPTED = frozenset(("QueueLock", "DelayQueueLock"))

_current: contextvars.ContextVar[Tasks | None] = contextvars.ContextVar(
    "pyresque_current_tasks", default=None
)


def current_tasks() -> Tasks:
    """The registry of the task running here, to enqueue other tasks from its ``run``:
    ``await current_tasks().enqueue_in(60_000, "send_reminder", {...})``, as Actionhero
    code calls the global ``task.enqueueIn``. Set while a worker (or a spec helper) runs
    a task, also in the thread of a blocking ``run``; :meth:`Tasks.as_current` sets it
    elsewhere. Raises :class:`TaskError` outside.
    """
    found = _current.get()
    if found is None:
        raise TaskError("no task is running here: current_tasks() has no registry to give")
    return found


class Tasks(TaskAdmin):
    """A registry of tasks and the ``task.*`` API.

    ``redis`` as for :class:`pyresque.Queue` (a URL, a client, or a shared driver).
    """

    def __init__(
        self,
        redis: str | redis.asyncio.Redis | AsyncDriver | None = None,
        *,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.queue = Queue(redis, namespace=namespace, dialect=dialect, clock=clock)
        self.tasks: dict[str, Task] = {}
        self.middleware: dict[str, TaskMiddleware] = {}
        self.jobs: dict[str, JobDefinition] = {}

    async def aclose(self) -> None:
        """Close the queue's connection (if this registry opened it)."""
        await self.queue.aclose()

    @contextlib.contextmanager
    def as_current(self) -> Iterator[Tasks]:
        """Make this the registry :func:`current_tasks` gives, for the ``with`` block."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # -- registry ----------------------------------------------------------------------------
    def add(self, task: type[Task] | Task) -> Task:
        """Register a task; a second task of the same name is an error (not an overwrite)."""
        instance = task() if isinstance(task, type) else task
        if not isinstance(instance, Task):
            raise TaskDefinitionError(f"{task!r} is not a Task")
        type(instance).validate()
        name = instance.name
        if name in self.tasks:
            raise TaskDefinitionError(
                f"task `{name}` is defined twice: {type(self.tasks[name]).__qualname__} "
                f"and {type(instance).__qualname__}"
            )
        self.tasks[name] = instance
        self.jobs[name] = self._job(instance)
        return instance

    def load(self, source: str | Path | ModuleType) -> list[Task]:
        """Register every Task subclass defined in a folder of modules (as Actionhero loads
        ``./tasks``), a module, or a package (and its submodules)."""
        modules: list[ModuleType] = []
        if isinstance(source, ModuleType):
            modules = _with_submodules(source)
        elif isinstance(source, Path) or (isinstance(source, str) and Path(source).is_dir()):
            modules = [_import_file(path) for path in sorted(Path(source).rglob("*.py"))]
        else:
            modules = _with_submodules(importlib.import_module(str(source)))
        found = []
        for module in modules:
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, Task)
                    and value is not Task
                    and value.__module__ == module.__name__
                    and not inspect.isabstract(value)
                    and value.name
                ):
                    found.append(self.add(value))
        return found

    def add_middleware(self, middleware: TaskMiddleware) -> None:
        """Register middleware; every loaded task is rewrapped so it takes effect."""
        if middleware.name in self.middleware:
            raise TaskDefinitionError(f"middleware {middleware.name!r} is already registered")
        self.middleware[middleware.name] = middleware
        for name, task in self.tasks.items():
            self.jobs[name] = self._job(task)

    def task(self, name: str) -> Task:
        """The registered task ``name``; :class:`~pyresque.errors.TaskError` if none."""
        try:
            return self.tasks[name]
        except KeyError:
            raise TaskError(f"task {name} not found") from None

    # -- job definitions ---------------------------------------------------------------------
    def _plugins(self, task: Task) -> tuple[list[Any], dict[str, dict[str, Any]]]:
        plugins: list[Any] = list(task.plugins)
        options = {k: dict(v) for k, v in task.plugin_options.items()}
        if task.periodic:
            names = {plugin_class(p).name_for_options() for p in plugins}
            for lock in PERIODIC_LOCKS:
                if lock not in names:
                    plugins.append(lock)
            options.setdefault("JobLock", {}).setdefault("reEnqueue", False)
        for middleware in ordered(self.middleware, task.middleware, task.name):
            plugins.append(middleware_plugin(middleware))
        return plugins, options

    def _job(self, task: Task) -> JobDefinition:
        plugins, options = self._plugins(task)

        async def perform(*args: Any) -> Any:
            params = args[0] if args else {}
            frozen = MappingProxyType(params) if isinstance(params, dict) else params
            try:
                with self.as_current():
                    result = await self._run(task, frozen)
            except Exception:
                if task.periodic and task.re_enqueue_periodic_task_if_exception:
                    await self._continue_chain(task)
                raise
            if task.periodic:
                await self._continue_chain(task)
            return result

        perform.__qualname__ = f"perform[{task.name}]"
        return JobDefinition(perform, tuple(plugins), options)

    @staticmethod
    async def _run(task: Task, params: Any) -> Any:
        worker = current_job()
        if task.is_async:
            return await task.run(params, worker)
        context = contextvars.copy_context()
        result = await asyncio.to_thread(context.run, task.run, params, worker)
        return await result if inspect.isawaitable(result) else result

    # -- enqueueing --------------------------------------------------------------------------
    async def enqueue(
        self, name: str, inputs: Mapping[str, Any] | None = None, queue: str | None = None
    ) -> bool:
        """Validate the inputs and enqueue now; False when a plugin or middleware vetoed."""
        task = self.task(name)
        params = await validate_inputs(task, inputs)
        target = queue or task.queue
        args: list[Any] = [params]
        plugins = self.jobs[name].plugins
        # A veto after QueueLock took its lock gives the lock back (Actionhero leaves it,
        # refusing the task for an hour): see Plugin.enqueue_vetoed.
        if not await run_plugins("before_enqueue", **self._hooks(name, target, args, plugins)):
            return False
        await self.queue._run(job_plans.enqueue(self.queue.context, target, name, args))
        await run_plugins("after_enqueue", **self._hooks(name, target, args, plugins))
        return True

    async def enqueue_at(
        self,
        at: float | datetime,
        name: str,
        inputs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        suppress_duplicate_task_error: bool = False,
    ) -> bool | None:
        """Validate and delay until ``at`` (ms). The task's middleware ``pre_enqueue`` and
        ``post_enqueue`` run here too (Actionhero skips them for delayed enqueues)."""
        task = self.task(name)
        params = await validate_inputs(task, inputs)
        target = queue or task.queue
        args: list[Any] = [params]
        middleware = [p for p in self.jobs[name].plugins if _is_middleware(p)]
        if not await run_plugins("before_enqueue", **self._hooks(name, target, args, middleware)):
            return False
        result = await self.queue.enqueue_at(
            at, target, name, args, suppress_duplicate=suppress_duplicate_task_error
        )
        if result:
            await run_plugins("after_enqueue", **self._hooks(name, target, args, middleware))
        return result

    async def enqueue_in(
        self,
        delay: float | timedelta,
        name: str,
        inputs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        suppress_duplicate_task_error: bool = False,
    ) -> bool | None:
        """Validate and delay by ``delay`` (ms, or a timedelta): :meth:`enqueue_at`
        of now plus the delay."""
        ms = delay.total_seconds() * 1000 if isinstance(delay, timedelta) else int(delay)
        return await self.enqueue_at(
            self.queue.context.now_ms() + ms, name, inputs, queue, suppress_duplicate_task_error
        )

    # -- periodic tasks ----------------------------------------------------------------------
    async def enqueue_recurrent_task(self, name: str) -> bool | None:
        """Re-enqueue a periodic task ``frequency`` ms from now, keeping one chain: other
        copies of it (args ``[{}]``, the way periodic tasks are always enqueued) are removed
        from its queue and from the delayed schedule first (Actionhero's deletes look for
        ``[null]`` and never match)."""
        task = self.task(name)
        if not task.periodic:
            return None
        await self._remove_copies(task)
        return await self.enqueue_in(task.frequency, name, {}, task.queue, True)

    async def _remove_copies(self, task: Task) -> int:
        args: list[Any] = [{}]
        removed = await self.queue.delete(task.queue, task.name, args)
        removed += await self.queue.remove_delayed(task.queue, task.name, args)
        if removed:
            keys = self.queue.context.keys
            key = keys.queue_lock(task.name, task.queue, js_dumps(args).decode())
            await self.queue.delete_lock(keys.unprefixed(key))
        return removed

    async def enqueue_all_recurrent_tasks(self) -> list[str]:
        """Enqueue every periodic task now (what a scheduler node does at boot), unless a
        copy of it is queued, delayed or running on any peer; the names enqueued."""
        enqueued = []
        for name, task in self.tasks.items():
            if task.periodic and await self._start_chain(task):
                enqueued.append(name)
        return enqueued

    async def _start_chain(self, task: Task) -> bool:
        """The boot enqueue of one periodic task (see ``spec/tasks.md``, "Periodic tasks").

        QueueLock's and DelayQueueLock's checks, a check for a run in progress and the
        enqueue are one script (``start_periodic``): Actionhero's plugin-by-plugin checks let
        a node booting mid-run start a second chain. The other plugins and the middleware
        run their ``before_enqueue`` first, so a veto leaves nothing behind; when the script
        then finds a copy, they get ``enqueue_vetoed``, as after any veto.
        """
        name, queue = task.name, task.queue
        args: list[Any] = [await validate_inputs(task, {})]
        definition = self.jobs[name]
        locks = {plugin_class(p).name_for_options(): p for p in definition.plugins}
        hooks = [
            p for p in definition.plugins if plugin_class(p).name_for_options() not in _SCRIPTED
        ]
        if not await run_plugins("before_enqueue", **self._hooks(name, queue, args, hooks)):
            return False
        queue_lock = self._plugin(locks["QueueLock"], name, queue, args)
        state = await self.queue._run(
            lock_plans.start_periodic(
                self.queue.context,
                queue,
                name,
                args,
                lock_timeout=whole_seconds(
                    option(queue_lock.options, "lockTimeout", "lock_timeout"), 3600, "lockTimeout"
                ),
                queue_lock=_lock_key(queue_lock),
                job_lock=_lock_key(self._plugin(locks["JobLock"], name, queue, args)),
            )
        )
        if state != "enqueued":
            record_veto(Veto("QueueLock", f"the task is {state} already"))
            given_back = tuple(reversed(hooks))
            await run_plugins("enqueue_vetoed", **self._hooks(name, queue, args, given_back))
            return False
        await run_plugins("after_enqueue", **self._hooks(name, queue, args, definition.plugins))
        return True

    def _plugin(self, reference: Any, name: str, queue: str, args: list[Any]) -> Plugin:
        """The plugin ``reference`` as the enqueue hooks of task ``name`` get it."""
        hooks = self._hooks(name, queue, args, ())
        cls = plugin_class(reference)
        del hooks["plugins"]
        options = hooks.pop("plugin_options").get(cls.name_for_options(), {})
        plugin: Plugin = cls(**hooks, options=options)
        return plugin

    async def stop_recurrent_task(self, name: str) -> int:
        """Stop a periodic task's chain: remove its queued and delayed copies and their queue
        locks; how many copies were removed. A run in progress on a pyresque worker then
        finishes without re-enqueueing (one on an Actionhero worker still re-enqueues)."""
        task = self.task(name)
        ctx = self.queue.context
        if task.periodic:
            # First, so a run that ends while the copies are removed sees the mark.
            options = self.jobs[name].plugin_options.get("JobLock", {})
            ttl = whole_seconds(option(options, "lockTimeout", "lock_timeout"), 3600, "lockTimeout")
            await self.queue._run(lock_plans.mark_periodic_stop(ctx, name, task.queue, ttl))
        removed = await self.queue.delete_by_function(task.queue, name)
        for job in await self._delayed_of(name):
            removed += await self.queue.remove_delayed(
                job.get("queue", task.queue), name, job.get("args")
            )
        # Queue locks only: a JobLock belongs to a run in progress, which still excludes
        # others until it ends.
        prefix = ctx.keys.unprefixed(ctx.keys.queue_lock_prefix(name, task.queue))
        for lock in await self.queue.locks():
            if lock.startswith(prefix):
                await self.queue.delete_lock(lock)
        return removed

    async def _continue_chain(self, task: Task) -> None:
        ctx = self.queue.context
        if not await self.queue._run(lock_plans.take_periodic_stop(ctx, task.name)):
            await self.enqueue_recurrent_task(task.name)

    async def _delayed_of(self, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for jobs in (await self.queue.all_delayed()).values():
            found.extend(dict(j) for j in jobs if j.get("class") == name and j not in found)
        return found


def _lock_key(plugin: Plugin) -> str | None:
    """The key a lock plugin uses (its ``key()``: JobLock's and QueueLock's, subclasses'
    overrides included), else its ``key`` option; None for the default key."""
    key = getattr(plugin, "key", None)
    return str(key()) if callable(key) else custom_key(plugin)


def _is_middleware(reference: Any) -> bool:
    return (
        isinstance(reference, type)
        and issubclass(reference, Plugin)
        and (reference.plugin_name.startswith("middleware:"))
    )


def _import_file(path: Path) -> ModuleType:
    """Import a task file by path (the app's own code, as Actionhero requires its tasks)."""
    name = f"pyresque_app_tasks.{'.'.join(path.with_suffix('').parts[-3:])}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskDefinitionError(f"cannot load task file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _with_submodules(module: ModuleType) -> list[ModuleType]:
    found = [module]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, module.__name__ + "."):
            found.append(importlib.import_module(info.name))
    return found
