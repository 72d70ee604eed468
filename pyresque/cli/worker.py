"""``pyresque worker``: work queues with the jobs of ``--jobs`` until a signal (or, with
``--burst``, until the queues are empty)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyresque._version import __version__
from pyresque.cli.options import check_worker_queues, missing_extra, options_from, usage_error
from pyresque.cli.threads import JOB_THREAD, exit_past_cut_off_jobs
from pyresque.errors import ConfigurationError, JobsSpecError, PyresqueError, UsageError
from pyresque.logs import configure_logging, where_raised
from pyresque.protocol.workers import pool_worker_name
from pyresque.queue import Queue
from pyresque.worker import MultiWorker, Worker
from pyresque.worker.jobs import job_definitions
from pyresque.worker.options import WorkerOptions
from pyresque.worker.runner import STOP_SIGNALS, run_until_signalled

__all__ = ["check_pool_name", "load_jobs", "log_to_stderr", "run"]


def load_jobs(spec: str) -> Mapping[str, Any]:
    """Import ``module:attr`` (attr may be dotted) from the current directory or sys.path."""
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise JobsSpecError(f"--jobs {spec!r}: expected MODULE:ATTR, e.g. myapp.jobs:JOBS")
    # `python -m` puts the current directory on sys.path; the console script does not.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise JobsSpecError(
                f"--jobs {spec!r}: no module named {exc.name!r} (in {os.getcwd()} or on sys.path)"
            ) from None
        raise JobsSpecError(f"--jobs {spec!r}: importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # the module itself raised: say where, exit 2 like a bad spec
        place = where_raised(exc)
        raise JobsSpecError(
            f"--jobs {spec!r}: importing {module_name!r} failed"
            f"{' at ' + place if place else ''}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise JobsSpecError(f"--jobs {spec!r}: {module_name!r} has no {attr!r}") from None
    if not isinstance(found, Mapping):
        raise JobsSpecError(
            f"--jobs {spec!r} is a {type(found).__name__}, not a mapping of job class name "
            "to callable or JobDefinition"
        )
    return found


def check_pool_name(options: WorkerOptions) -> str | None:
    """Why ``--name`` cannot be a MultiWorker's (None when it can): it is the host part of
    its workers' names (``pyresque.protocol.workers.pool_worker_name``)."""
    try:
        pool_worker_name(options.context(), options.name, os.getpid(), 1)
    except ConfigurationError as exc:
        return f"--name {options.name!r}: {exc}"
    return None


def log_to_stderr(level: str, fmt: str = "text") -> None:
    """Log lines of ``level`` and above to stderr: text (time, level, logger, message) or
    one JSON object a line (``--log-format``; see :func:`pyresque.logs.configure_logging`)."""
    configure_logging(level, fmt)


def _make_workers(
    options: argparse.Namespace,
    settings: WorkerOptions,
    jobs: Mapping[str, Any],
    executor: ThreadPoolExecutor,
) -> list[Worker | MultiWorker]:
    if not _multi(options):
        return [Worker(options.redis, options.queues, jobs, options=settings, executor=executor)]
    least, most = _pool_size(options)
    return [
        MultiWorker(
            options.redis,
            options.queues,
            jobs,
            options=settings,
            min_task_processors=least,
            max_task_processors=most,
            executor=executor,
        )
    ]


def _multi(options: argparse.Namespace) -> bool:
    return options.min is not None or options.max is not None


def _pool_size(options: argparse.Namespace) -> tuple[int, int]:
    """--min and --max, defaulting like node-resque's MultiWorker (1 and 10)."""
    least = 1 if options.min is None else options.min
    return least, max(10, least) if options.max is None else options.max


async def _work(
    options: argparse.Namespace,
    settings: WorkerOptions,
    jobs: Mapping[str, Any],
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
) -> int:
    # The workers' own pool, not the loop's default one: asyncio.run would wait for a
    # thread still running a cut-off job before returning (see exit_past_cut_off_jobs).
    size = _pool_size(options)[1] if _multi(options) else 1
    executor = ThreadPoolExecutor(size, thread_name_prefix=JOB_THREAD)
    try:
        try:
            workers = _make_workers(options, settings, jobs, executor)
        except ConfigurationError as exc:  # an option the checks above let through
            raise UsageError(str(exc)) from None
        if options.tracing is not None:
            from pyresque.tracing import Tracing

            for worker in workers:
                Tracing(propagation=options.tracing, span_naming=options.span_naming).attach(worker)
        async with _metrics(options, workers):
            return await run_until_signalled(
                workers,
                burst=options.burst,
                fail_on_job_failure=options.fail_on_job_failure,
                signals=signals,
            )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


@contextlib.asynccontextmanager
async def _metrics(
    options: argparse.Namespace, workers: list[Worker | MultiWorker]
) -> AsyncIterator[None]:
    """With ``--metrics-port``: /metrics for ``workers`` and the namespace's fleet, served
    from before they start until they have stopped."""
    if options.metrics_port is None:
        yield
        return
    from pyresque.cli.serve import open_metrics

    queue = Queue(options.redis, namespace=options.namespace, dialect=options.dialect)
    async with queue:
        server = await open_metrics(
            options.metrics_host, options.metrics_port, queue, workers=workers
        )
        try:
            yield
        finally:
            await server.aclose()


def _run_loop(main: Coroutine[Any, Any, int], loop: str) -> int:
    """Run the workers on uvloop when it is installed (``pip install 'pyresque[fast]'``:
    measured about 20% more jobs per second per worker), else on asyncio's loop."""
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise PyresqueError("--loop uvloop: uvloop is not installed") from None
        else:
            result: int = uvloop.run(main)
            return result
    return asyncio.run(main)


def _worker_options(options: argparse.Namespace) -> WorkerOptions | str:
    """The workers' options, or why the command line cannot make workers: found before
    the jobs are imported."""
    least, most = _pool_size(options)
    if _multi(options) and least > most:
        return f"--min {least} exceeds --max {most}"
    if _multi(options) and options.burst:
        return "--burst runs one Worker; it cannot be combined with --min/--max"
    if options.fail_on_job_failure and not options.burst:
        return "--fail-on-job-failure goes with --burst (a run that ends when the queues are empty)"
    if options.metrics_port is not None and (missing := missing_extra("metrics")):
        return missing
    if options.tracing is not None and (missing := missing_extra("tracing")):
        return missing
    if options.processes > 1 and options.metrics_port is not None:
        return (
            "--metrics-port serves one process's jobs: it cannot be combined with "
            "--processes (run one worker command per process to measure each)"
        )
    queues = check_worker_queues(options.queues)
    if isinstance(queues, str):
        return queues
    try:
        settings = options_from(WorkerOptions, options)
    except ConfigurationError as exc:
        return str(exc)
    if _multi(options):
        return check_pool_name(settings) or settings
    return _check_processes_name(options, settings) or settings


def _check_processes_name(options: argparse.Namespace, settings: WorkerOptions) -> str | None:
    """Why ``--name`` would give every process of ``--processes`` the same name (None
    when it does not: the pid is part of each name)."""
    if options.processes == 1 or settings.name is None:
        return None
    if settings.context().dialect.is_node or ":" in settings.name:
        return (
            f"--name {settings.name!r} would name every one of the {options.processes} "
            "processes alike: with --processes leave it out (host:pid), or, in the ruby "
            "dialect, give a host (its pid is added)"
        )
    return None


def run(options: argparse.Namespace) -> int:
    """Check the options and the jobs (a refusal is exit status 2), then work."""
    settings = _worker_options(options)
    problem = settings if isinstance(settings, str) else None
    if problem is None:
        try:
            jobs = load_jobs(options.jobs)
            job_definitions(jobs)  # a value that is no job: say so now, not at its first run
        except JobsSpecError as exc:
            problem = str(exc)
        except TypeError as exc:
            problem = f"--jobs {options.jobs!r}: {exc}"
    if problem is not None:
        return usage_error(problem)
    assert isinstance(settings, WorkerOptions)
    log_to_stderr(options.log_level, options.log_format)
    if options.processes > 1:
        return _supervise(options, settings, jobs)
    return exit_past_cut_off_jobs(_run_loop(_work(options, settings, jobs), options.loop))


def _supervise(
    options: argparse.Namespace, settings: WorkerOptions, jobs: Mapping[str, Any]
) -> int:
    """``--processes N``: N worker processes under a supervisor (see
    :mod:`pyresque.worker.processes`), each running what one process would run. A child
    answers SIGTERM only: its supervisor turns SIGINT into SIGTERM for it."""
    from pyresque.cli import guarded
    from pyresque.worker.processes import Supervisor, registration_cleaner

    def child(index: int) -> int:
        work = _work(options, settings, jobs, signals=(signal.SIGTERM,))
        return guarded(lambda: exit_past_cut_off_jobs(_run_loop(work, options.loop)))

    pool = (
        f" of {_pool_size(options)[0]}-{_pool_size(options)[1]} workers" if _multi(options) else ""
    )
    supervisor = Supervisor(
        options.processes,
        child,
        burst=options.burst,
        grace=settings.shutdown_grace,
        clean=registration_cleaner(
            options.redis,
            namespace=settings.namespace,
            dialect=settings.dialect,
            host=settings.name,
        ),
        title=f"pyresque-{__version__}: Supervising {options.processes} processes{pool} "
        f"on {options.queues}",
    )
    return supervisor.run()
