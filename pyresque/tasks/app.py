"""An Actionhero-style app node: the tasks, and what the configuration says this node runs.

A node enqueues (every node: ``app.tasks``), processes (``max_task_processors > 0``: a
MultiWorker), schedules (``scheduler = true``: a Scheduler, the boot enqueue of periodic
tasks and the cron ticker), or any mix, as the Actionhero guide suggests for splitting
web, worker and scheduler nodes. All of it shares one Redis connection.

Where Actionhero's ``resque`` initializer differs: ``min_task_processors = 0`` with
``max > 0`` runs a pool of at least one without writing 1 into the config; a ``queues``
function is called again every ``queues_refresh`` ms (the pool restarts on a change);
stopping checks what runs, not the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pyresque.connection import AsyncDriver, open_async_driver
from pyresque.errors import ConfigurationError, StateError
from pyresque.scheduler import Scheduler
from pyresque.tasks.config import TasksConfig, load_config, log_level
from pyresque.tasks.cron import CronTicker, schedules_of
from pyresque.tasks.generate import generate_task, render_task  # re-exported: they lived here
from pyresque.tasks.middleware import TaskMiddleware
from pyresque.tasks.runner import run_app_until_signalled  # re-exported: documented here
from pyresque.tasks.tasks import Tasks
from pyresque.worker.multi import MultiWorker

__all__ = ["App", "generate_task", "render_task", "run_app_until_signalled"]

log = logging.getLogger("pyresque.tasks")


class App:
    """One node of an app. ``tasks``: a registry to use (its connection is then the
    shared one, and stays the caller's to close); by default the app makes one on its own
    connection. ``name`` names the scheduler's lock value and the workers' host part
    (default ``host:pid`` / host). ``now`` is the cron ticker's clock (aware datetimes).
    """

    def __init__(
        self,
        config: TasksConfig | None = None,
        *,
        tasks: Tasks | None = None,
        name: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or TasksConfig()
        cfg = self.config
        if tasks is None:
            self._driver: AsyncDriver = open_async_driver(cfg.redis)
            self.tasks = Tasks(self._driver, namespace=cfg.namespace, dialect=cfg.dialect)
            self._owns_driver = True
        else:
            if tasks.queue.namespace != cfg.namespace or tasks.queue.dialect.name != cfg.dialect:
                raise ConfigurationError(
                    f"the tasks' namespace/dialect ({tasks.queue.namespace!r}, "
                    f"{tasks.queue.dialect.name!r}) differ from the config's "
                    f"({cfg.namespace!r}, {cfg.dialect!r})"
                )
            self.tasks = tasks
            self._driver = tasks.queue._driver  # one connection for everything, as Actionhero
            self._owns_driver = False
        self.name = name
        self._now = now
        self.multi_worker: MultiWorker | None = None
        self._pool_listeners: list[Callable[[MultiWorker], object]] = []
        self.scheduler: Scheduler | None = None
        self.cron: CronTicker | None = None
        self.queues: list[str] = []
        self.running = False
        self._starting = False
        self._closed = False
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_stop = asyncio.Event()

    @classmethod
    def from_path(
        cls,
        app_dir: str | Path = ".",
        *,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> App:
        """The app in ``app_dir``: its config (:func:`load_config`), every task in its
        tasks folder, and the ``MIDDLEWARE`` list of its ``middleware.py`` if it has one.
        The folder goes on ``sys.path``, so task modules can import the app's others."""
        folder = Path(app_dir).resolve()
        config = load_config(folder, environ=environ)
        tasks_dir = folder / config.tasks_path
        if not tasks_dir.is_dir():
            raise ConfigurationError(f"tasks_path: no folder {tasks_dir}")
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        app = cls(config, name=name, now=now)
        app.tasks.load(tasks_dir)
        for middleware in _middleware_of(folder):
            app.tasks.add_middleware(middleware)
        schedules_of(app.tasks)  # a bad cron expression fails the load, not the boot
        return app

    @property
    def roles(self) -> tuple[str, ...]:
        """What this node does: ``enqueue`` always, ``process``, ``schedule``."""
        roles = ["enqueue"]
        if self.config.max_task_processors > 0:
            roles.append("process")
        if self.config.scheduler:
            roles.append("schedule")
        return tuple(roles)

    def __repr__(self) -> str:
        return f"App({self.name or 'node'}, roles={'+'.join(self.roles)})"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start this node's roles: the scheduler, then the workers, then (scheduler nodes)
        the boot enqueue of periodic tasks and the cron ticker. A failure stops whatever
        had started and raises."""
        if self.running or self._starting or self._closed:
            raise StateError(f"{self!r} is {'running' if self.running else 'stopped'}")
        self._starting = True
        try:
            await self.tasks.queue.connect()
            if self.config.scheduler:
                await self._start_scheduler()
            if self.config.max_task_processors > 0:
                self.queues = await self._evaluate_queues()
                self.multi_worker = self._pool(self.queues)
                await self.multi_worker.start()
                if callable(self.config.queues) and self.config.queues_refresh > 0:
                    self._refresh_stop.clear()
                    self._refresher = asyncio.create_task(self._refresh_queues())
            if self.config.scheduler:
                await self._boot_enqueue()
        except BaseException:
            await self.stop()
            raise
        finally:
            self._starting = False
        self.running = True
        log.info("%r started", self)
        if self.roles == ("enqueue",):
            log.warning(
                "%r runs nothing: no workers (max_task_processors = 0) and no scheduler; "
                "it only enqueues",
                self,
            )

    async def _start_scheduler(self) -> None:
        cfg = self.config
        # No jobs, as Actionhero's scheduler: moving a delayed task runs no enqueue hooks.
        # Its middleware ran when it was delayed (Tasks.enqueue_at), and moves then behave
        # the same whichever node leads, an Actionhero one or this.
        self.scheduler = Scheduler(self._driver, options=cfg.scheduler_options(self.name))
        scheduler = self.scheduler
        if schedules_of(self.tasks):
            self.cron = CronTicker(
                self.tasks,
                self._driver,
                is_leader=lambda: scheduler.leader,
                zone=cfg.zone,
                name=scheduler.name,
                now=self._now,
                log_level=log_level(cfg.scheduler_logging, "enqueue"),
            )
            # Becoming leader ticks at once: the current minute is not missed.
            scheduler.on("leader", self.cron.wake)
        await scheduler.start()

    async def _boot_enqueue(self) -> None:
        enqueued = await self.tasks.enqueue_all_recurrent_tasks()
        level = log_level(self.config.scheduler_logging, "enqueue")
        if level is not None:
            log.log(level, "periodic tasks enqueued at boot: %s", ", ".join(enqueued) or "none")
        if self.cron is not None:
            self.cron.start()

    def after_fork(self) -> None:
        """Call in a forked child before :meth:`start` (``pyresque start`` with
        ``processes``): the connection it inherited is its parent's, so it is forgotten
        (not closed) and a new one opened."""
        self._driver.after_fork()

    def on_pool(self, listener: Callable[[MultiWorker], object]) -> None:
        """Call ``listener(pool)`` with each worker pool this node makes, before it starts:
        the first, and each one a change of queues starts (e.g. ``WorkerMetrics().attach``)."""
        self._pool_listeners.append(listener)

    def _pool(self, queues: Sequence[str]) -> MultiWorker:
        pool = self._new_pool(queues)
        for listener in self._pool_listeners:
            listener(pool)
        return pool

    def _new_pool(self, queues: Sequence[str]) -> MultiWorker:
        cfg = self.config
        return MultiWorker(
            self._driver,
            list(queues),
            self.tasks.jobs,
            options=cfg.worker_options(self.name),
            # Actionhero writes 1 into its config for min 0; here the pool gets 1.
            min_task_processors=max(1, cfg.min_task_processors),
            max_task_processors=cfg.max_task_processors,
            check_timeout=cfg.check_timeout,
            max_event_loop_delay=cfg.max_event_loop_delay,
        )

    async def stop(self) -> None:
        """Stop the cron ticker and the scheduler (its lock is released), then the workers
        (running jobs may finish), then close the connection if it is the app's."""
        if self.cron is not None:
            await self.cron.stop()
            self.cron = None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        if self._refresher is not None:
            self._refresh_stop.set()
            await asyncio.wait({self._refresher})
            self._refresher = None
        if self.multi_worker is not None:
            await self.multi_worker.stop()
            self.multi_worker = None
        if self._owns_driver and not self._closed:
            await self.tasks.aclose()
            await self._driver.aclose()
        self._closed = self._owns_driver
        if self.running:
            self.running = False
            log.info("%r stopped", self)

    def cut_off(self) -> None:
        """Cancel the running jobs now (a second stop signal)."""
        if self.multi_worker is not None:
            self.multi_worker.cut_off()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- queues ------------------------------------------------------------------------------
    async def _evaluate_queues(self) -> list[str]:
        given = self.config.queues
        if not callable(given):
            return list(given)
        found: Any = given()
        if inspect.isawaitable(found):
            found = await found
        if (
            not isinstance(found, list | tuple)
            or not found
            or not all(isinstance(q, str) and q.strip() for q in found)
        ):
            raise ConfigurationError(f"queues: the function returned {found!r}, not queue names")
        return [q.strip() for q in found]

    async def _refresh_queues(self) -> None:
        """Call the ``queues`` function every ``queues_refresh`` ms; on a change, stop the
        pool (running jobs finish) and start one on the new queues."""
        while not self._refresh_stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.queues_refresh / 1000):
                    await self._refresh_stop.wait()
            if self._refresh_stop.is_set():
                return
            try:
                found = await self._evaluate_queues()
            except Exception as exc:  # keep working the queues we have
                log.error("%r: the queues function failed: %s", self, exc, exc_info=exc)
                continue
            if found == self.queues or self.multi_worker is None:
                continue
            log.info("%r: queues changed from %s to %s", self, self.queues, found)
            try:
                old, self.multi_worker = self.multi_worker, self._pool(found)
                await old.stop()
                self.queues = found
                await self.multi_worker.start()
            except Exception as exc:  # keep refreshing: the next change may start a pool
                log.error("%r: restarting the workers failed: %s", self, exc, exc_info=exc)


def _middleware_of(folder: Path) -> list[TaskMiddleware]:
    """The ``MIDDLEWARE`` list of ``<app>/middleware.py`` (Actionhero's initializer that
    calls ``task.addMiddleware``), or nothing."""
    path = folder / "middleware.py"
    if not path.is_file():
        return []
    module_name = "pyresque_app_middleware." + re.sub(r"\W", "_", str(folder)).lower()
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ConfigurationError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would (dataclasses look it up)
    spec.loader.exec_module(module)
    found = getattr(module, "MIDDLEWARE", [])
    if not isinstance(found, list | tuple) or not all(isinstance(m, TaskMiddleware) for m in found):
        raise ConfigurationError(f"{path}: MIDDLEWARE must be a list of TaskMiddleware")
    return list(found)
