"""Tasks from blocking code: WSGI views, Django or Flask handlers, management commands.

:class:`Tasks` is the blocking twin of :class:`pyresque.tasks.Tasks`, with the same calls
and signatures: inputs are defaulted and validated, middleware and plugins run, payloads
are Actionhero's. The async registry it wraps runs on a private event loop in a daemon
thread, and each call waits for its result there, so every thread of the process shares
one pipelined connection. A forked child (a pre-forking server such as gunicorn) starts
its own loop and connection on its first call and never touches its parent's socket.

Inside a task's ``run`` or a middleware, use the async registry (``current_tasks()``):
calling this blocking client from its own loop thread would wait on itself, and raises.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import Any, Concatenate, ParamSpec, TypeVar

from pyresque.plugins.base import Veto, last_veto, record_veto
from pyresque.protocol.dialect import Dialect
from pyresque.tasks.app import App
from pyresque.tasks.middleware import TaskMiddleware
from pyresque.tasks.task import Task, TaskError
from pyresque.tasks.tasks import Tasks as AsyncTasks

__all__ = ["Tasks"]

P = ParamSpec("P")
R = TypeVar("R")


class _LoopThread:
    """An event loop running in a daemon thread, started on first use (again in a child)."""

    def __init__(self, on_fork: Callable[[], None]) -> None:
        self._on_fork = on_fork
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        loop = self._loop
        if loop is None or self._pid != os.getpid():
            loop = self._start()
        if threading.current_thread() is self._thread:
            coro.close()
            raise TaskError(
                "the blocking Tasks client was called from its own event loop (a task's "
                "run or a middleware?): use the async registry there, current_tasks()"
            )
        future: Future[tuple[R, Veto | None]] = asyncio.run_coroutine_threadsafe(
            _with_veto(coro), loop
        )
        result, veto = future.result()
        record_veto(veto)  # last_veto() here says what the loop thread's enqueue saw
        return result

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._pid != os.getpid():
            # A forked child: the parent's loop thread does not exist here, its sockets are
            # the parent's, and the lock may have been held by a thread that was not copied.
            self._lock = threading.Lock()
            self._pid = os.getpid()
            self._loop = self._thread = None
            self._on_fork()
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="pyresque-tasks-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def stop(self, last: Callable[[], Awaitable[None]]) -> None:
        """Run ``last()`` on the loop, then stop it and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._pid != os.getpid():
            return
        try:
            asyncio.run_coroutine_threadsafe(_awaited(last), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None


async def _with_veto(coro: Coroutine[Any, Any, R]) -> tuple[R, Veto | None]:
    return await coro, last_veto()


async def _awaited(make: Callable[[], Awaitable[None]]) -> None:
    await make()


def _blocking(
    method: Callable[Concatenate[AsyncTasks, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Tasks, P], R]:
    """The blocking form of an async ``Tasks`` method (same name, signature and docs)."""

    @functools.wraps(method)
    def call(self: Tasks, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._loop.run(method(self.registry, *args, **kwargs))

    return call


class Tasks:
    """Blocking twin of :class:`pyresque.tasks.Tasks`. ``redis``: a URL (default
    ``$REDIS_URL``). :meth:`from_path` loads an app's config, tasks and middleware.
    Safe to share between threads; :meth:`close` when done (or use ``with``)."""

    def __init__(
        self,
        redis: str | None = None,
        *,
        namespace: str | Sequence[str] = "resque",
        dialect: str | Dialect = "node",
        clock: Callable[[], float] | None = None,
    ) -> None:
        registry = AsyncTasks(redis, namespace=namespace, dialect=dialect, clock=clock)
        self._adopt(registry, registry.aclose)

    def _adopt(self, registry: AsyncTasks, close: Callable[[], Awaitable[None]]) -> None:
        self.registry = registry
        """The async registry, for code running on an event loop."""
        self._close = close
        self._loop = _LoopThread(registry.queue.after_fork)

    @classmethod
    def from_path(
        cls, app_dir: str | Path = ".", *, environ: Mapping[str, str] | None = None
    ) -> Tasks:
        """The app in ``app_dir`` as :meth:`pyresque.tasks.App.from_path` loads it (config,
        tasks folder, middleware), for enqueueing only: no workers or scheduler start."""
        app = App.from_path(app_dir, environ=environ)
        blocking = cls.__new__(cls)
        blocking._adopt(app.tasks, app.stop)
        return blocking

    def __repr__(self) -> str:
        queue = self.registry.queue
        return f"sync.Tasks({len(self.registry.tasks)} tasks, namespace={queue.namespace!r})"

    # -- registry (no Redis) -----------------------------------------------------------------
    def add(self, task: type[Task] | Task) -> Task:
        return self.registry.add(task)

    def load(self, source: str | Path | ModuleType) -> list[Task]:
        return self.registry.load(source)

    def add_middleware(self, middleware: TaskMiddleware) -> None:
        self.registry.add_middleware(middleware)

    def task(self, name: str) -> Task:
        return self.registry.task(name)

    # The registry's own texts: these do exactly what the async registry's do.
    add.__doc__ = AsyncTasks.add.__doc__
    load.__doc__ = AsyncTasks.load.__doc__
    add_middleware.__doc__ = AsyncTasks.add_middleware.__doc__
    task.__doc__ = AsyncTasks.task.__doc__

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection and stop the loop thread (a later call starts them again)."""
        self._loop.stop(self._close)

    def __enter__(self) -> Tasks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the task.* calls, as the async registry has them ------------------------------------
    enqueue = _blocking(AsyncTasks.enqueue)
    enqueue_at = _blocking(AsyncTasks.enqueue_at)
    enqueue_in = _blocking(AsyncTasks.enqueue_in)
    enqueue_recurrent_task = _blocking(AsyncTasks.enqueue_recurrent_task)
    enqueue_all_recurrent_tasks = _blocking(AsyncTasks.enqueue_all_recurrent_tasks)
    stop_recurrent_task = _blocking(AsyncTasks.stop_recurrent_task)
    details = _blocking(AsyncTasks.details)
    delete = _blocking(AsyncTasks.delete)
    delete_by_function = _blocking(AsyncTasks.delete_by_function)
    delete_queue = _blocking(AsyncTasks.delete_queue)
    delete_delayed = _blocking(AsyncTasks.delete_delayed)
    scheduled_at = _blocking(AsyncTasks.scheduled_at)
    retry_and_remove_failed = _blocking(AsyncTasks.retry_and_remove_failed)
    failed_count = _blocking(AsyncTasks.failed_count)
    failed = _blocking(AsyncTasks.failed)
    remove_failed = _blocking(AsyncTasks.remove_failed)
    working_on = _blocking(AsyncTasks.working_on)
    all_working_on = _blocking(AsyncTasks.all_working_on)
    workers = _blocking(AsyncTasks.workers)
    clean_old_workers = _blocking(AsyncTasks.clean_old_workers)
    stats = _blocking(AsyncTasks.stats)
    queued = _blocking(AsyncTasks.queued)
    locks = _blocking(AsyncTasks.locks)
    delete_lock = _blocking(AsyncTasks.delete_lock)
    timestamps = _blocking(AsyncTasks.timestamps)
    delayed_at = _blocking(AsyncTasks.delayed_at)
    all_delayed = _blocking(AsyncTasks.all_delayed)
