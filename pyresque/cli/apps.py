"""The app commands: ``start``, ``task enqueue``, ``details``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from pyresque._version import __version__
from pyresque.cli.enqueue import parse_json
from pyresque.cli.options import missing_extra, usage_error
from pyresque.cli.status import format_status, to_json, where
from pyresque.cli.threads import JOB_THREAD, exit_past_cut_off_jobs
from pyresque.cli.when import when
from pyresque.cli.worker import log_to_stderr
from pyresque.errors import ConfigurationError, PyresqueError, UsageError
from pyresque.plugins import last_veto
from pyresque.protocol.status import is_unreadable
from pyresque.queue import Queue
from pyresque.signals import STOP_SIGNALS
from pyresque.tasks import Tasks
from pyresque.tasks.app import App
from pyresque.tasks.config import load_config
from pyresque.tasks.runner import run_app_until_signalled

__all__ = ["details", "start", "task_enqueue"]


@contextmanager
def _app_configuration() -> Iterator[None]:
    """An app whose configuration cannot work is a usage error (exit status 2)."""
    try:
        yield
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def start(options: argparse.Namespace) -> int:
    """``pyresque start``: run the app node until SIGTERM/SIGINT."""
    if options.metrics_port is not None and (missing := missing_extra("metrics")):
        return usage_error(missing)
    if options.tracing is not None and (missing := missing_extra("tracing")):
        return usage_error(missing)
    log_to_stderr(options.log_level, options.log_format)
    with _app_configuration():
        app = App.from_path(options.app)
    if options.tracing is not None:
        from pyresque.tracing import Tracing

        mode, naming = options.tracing, options.span_naming
        app.on_pool(lambda pool: Tracing(propagation=mode, span_naming=naming).attach(pool))
    if app.roles == ("enqueue",):
        return usage_error(
            f"the app in {options.app} gives this node nothing to run: its config has "
            "max_task_processors = 0 and no scheduler. To work its tasks add "
            "max_task_processors = 1 (and queues = [...], default every queue); to enqueue "
            "periodic tasks and move delayed ones add scheduler = true"
        )

    if app.config.processes > 1 and options.metrics_port is not None:
        return usage_error(
            "--metrics-port serves one process's jobs: it cannot be combined with the "
            f"app's processes = {app.config.processes}"
        )

    async def serve(signals: Sequence[signal.Signals] = STOP_SIGNALS) -> int:
        # Blocking tasks run on the loop's default pool: name its threads, so the exit
        # can tell a cut-off job still running (see exit_past_cut_off_jobs).
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(thread_name_prefix=JOB_THREAD)
        loop.set_default_executor(pool)
        try:
            async with _metrics(options, app):
                return await run_app_until_signalled(app, signals=signals)
        finally:
            loop.set_default_executor(ThreadPoolExecutor(1))  # asyncio.run waits for this one
            pool.shutdown(wait=False, cancel_futures=True)

    if app.config.processes > 1:
        return _supervise(app, lambda: serve(signals=(signal.SIGTERM,)))
    return exit_past_cut_off_jobs(asyncio.run(serve()))


def _supervise(app: App, serve: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """The app's ``processes``: that many processes of its worker pool under a supervisor
    (:mod:`pyresque.worker.processes`). The scheduler role, if the config has it, runs in
    the first process only: one per node is enough (it elects a leader cluster-wide
    anyway), and there it is restarted with its process."""
    from pyresque.cli import guarded
    from pyresque.worker.processes import Supervisor, registration_cleaner

    cfg = app.config

    def child(index: int) -> int:
        app.after_fork()
        if index > 0:  # the config is read by start(): these run no scheduler
            app.config = dataclasses.replace(cfg, scheduler=False)
        return guarded(lambda: exit_past_cut_off_jobs(asyncio.run(serve())))

    supervisor = Supervisor(
        cfg.processes,
        child,
        grace=cfg.shutdown_grace,
        clean=registration_cleaner(
            cfg.redis, namespace=cfg.namespace, dialect=cfg.dialect, host=app.name
        ),
        title=f"pyresque-{__version__}: Supervising {cfg.processes} processes of "
        f"{'+'.join(app.roles)}",
    )
    return supervisor.run()


@contextlib.asynccontextmanager
async def _metrics(options: argparse.Namespace, app: App) -> AsyncIterator[None]:
    """With ``--metrics-port``: /metrics for the node's worker pools (each attached as it
    is made, before it starts) and the app's namespace, until the node has stopped."""
    if options.metrics_port is None:
        yield
        return
    from pyresque.cli.serve import open_metrics
    from pyresque.metrics import WorkerMetrics

    measured = WorkerMetrics()
    app.on_pool(measured.attach)
    cfg = app.config
    async with Queue(cfg.redis, namespace=cfg.namespace, dialect=cfg.dialect) as queue:
        server = await open_metrics(
            options.metrics_host, options.metrics_port, queue, worker_metrics=measured
        )
        try:
            yield
        finally:
            await server.aclose()


def task_enqueue(options: argparse.Namespace) -> int:
    """``pyresque task enqueue``: validate the inputs, enqueue; print what was done."""
    inputs = parse_json("--inputs", options.inputs)
    if not isinstance(inputs, dict):
        raise UsageError(f"--inputs must be a JSON object, not {options.inputs}")
    print(asyncio.run(_task_enqueue(options, inputs)))
    return 0


async def _task_enqueue(options: argparse.Namespace, inputs: Mapping[str, object]) -> str:
    with _app_configuration():
        app = App.from_path(options.app)
    try:
        if options.at is not None:
            result = await app.tasks.enqueue_at(options.at, options.name, inputs)
            what = f"delayed {when(options.at)}"
        elif options.delay is not None:
            now = app.tasks.queue.context.now_ms()
            result = await app.tasks.enqueue_in(options.delay, options.name, inputs)
            what = f"delayed {when(now + options.delay, now)}"
        else:
            result = await app.tasks.enqueue(options.name, inputs)
            what = "enqueued"
        queue = app.tasks.task(options.name).queue
    finally:
        await app.stop()
    if not result:
        veto = last_veto()
        raise PyresqueError(f"{options.name} was not enqueued: {veto or 'it was vetoed'}")
    return f"{options.name} {what} on queue {queue!r}"


def details(options: argparse.Namespace) -> int:
    """``pyresque details``: the app's Redis, and exit 1 when a queue is too long."""
    return asyncio.run(_details(options))


async def _details(options: argparse.Namespace) -> int:
    with _app_configuration():
        config = load_config(options.app)
    tasks = Tasks(config.redis, namespace=config.namespace, dialect=config.dialect)
    try:
        found = await tasks.details()
    finally:
        await tasks.aclose()
    at = where(config.redis, config.namespace)
    print(to_json(found) if options.json else format_status(found, at))
    limit = options.max_queue_length
    queues = {} if is_unreadable(found.queues) else found.queues
    lengths = {name: q.length for name, q in queues.items()}
    over = {q: n for q, n in lengths.items() if isinstance(n, int) and n > limit}
    for queue, length in over.items():
        print(f"pyresque: queue {queue!r} holds {length} jobs, over {limit}", file=sys.stderr)
    return 1 if over else 0
