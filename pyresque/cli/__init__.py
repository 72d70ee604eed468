"""The ``pyresque`` command: enqueue jobs, show queue status, run workers and schedulers, run
app nodes (:mod:`pyresque.cli.apps`), run the demo."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.exceptions

from pyresque._version import __version__
from pyresque.cli.apps import APP_COMMANDS, app_parsers
from pyresque.cli.options import (
    AT_HELP,
    DELAY_HELP,
    MS,
    MS_ABOVE_0,
    Parser,
    Range,
    UsageError,
    check_pool_name,
    check_worker_queues,
    event_levels,
    one_line,
    options_from,
    usage_error,
)
from pyresque.cli.status import collect_status, format_status, to_json, where
from pyresque.cli.threads import JOB_THREAD, exit_past_cut_off_jobs
from pyresque.errors import ConfigurationError, JobsSpecError, PyresqueError
from pyresque.protocol.jsjson import loads
from pyresque.queue import Queue
from pyresque.scheduler.events import EVENTS as SCHEDULER_EVENTS
from pyresque.scheduler.options import SchedulerOptions
from pyresque.worker import MultiWorker, Worker
from pyresque.worker.events import EVENTS as WORKER_EVENTS
from pyresque.worker.jobs import job_definitions
from pyresque.worker.options import WorkerOptions
from pyresque.worker.runner import run_until_signalled

__all__ = ["main"]


_SECONDS = Range("s", 0)
_SECONDS_ABOVE_0 = Range("s", 0, above=True)
_WHOLE_SECONDS = Range("s", 1, whole=True)
_WORKER, _SCHEDULER = WorkerOptions(), SchedulerOptions()  # the defaults, for the help


def _common() -> Parser:
    common = Parser(add_help=False)
    common.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)",
    )
    common.add_argument("--namespace", default="resque", help="key namespace (default: resque)")
    common.add_argument(
        "--dialect",
        choices=("node", "ruby"),
        default="node",
        help="whose bytes to write: node-resque's (default) or Ruby resque's",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pyresque",
        description="Work with resque queues shared with node-resque and Ruby resque.",
    )
    parser.add_argument("--version", action="version", version=f"pyresque {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()

    enqueue = sub.add_parser("enqueue", parents=[common], help="put a job on a queue, now or later")
    enqueue.add_argument("queue")
    enqueue.add_argument("job_class", metavar="CLASS")
    enqueue.add_argument(
        "args", nargs="?", default="[]", metavar="ARGS_JSON", help="JSON array of arguments"
    )
    when = enqueue.add_mutually_exclusive_group()
    when.add_argument("--at", type=MS, metavar="MS", help=AT_HELP)
    when.add_argument("--in", dest="delay", type=MS, metavar="MS", help=DELAY_HELP)

    status = sub.add_parser("status", parents=[common], help="queues, delayed jobs, workers")
    status.add_argument("--json", action="store_true", help="print JSON")

    _worker_parser(sub, common)
    _scheduler_parser(sub, common)
    app_parsers(sub)

    demo = sub.add_parser(
        "demo",
        help="enqueue demo jobs and print the state as node-resque and Ruby resque see it, "
        "then run the example app of tasks for a few seconds",
    )
    demo.add_argument("--redis", default=None, metavar="URL", help="Redis URL (default: find one)")
    return parser


def _option(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> None:
    """A flag for a field of the worker's or scheduler's options: its ``dest`` is the
    field's name, and left out it leaves the field's default (see ``options_from``)."""
    parser.add_argument(flag, default=argparse.SUPPRESS, **kwargs)


def _worker_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    worker = sub.add_parser(
        "worker",
        parents=[common],
        help="work queues until SIGTERM/SIGINT (or, with --burst, until they are empty)",
        description="Work queues with the jobs named by --jobs. The first SIGTERM or SIGINT "
        "stops taking jobs and lets running ones finish within --grace; a second cuts them "
        "off at once. Either way unfinished jobs are settled per --unfinished.",
    )
    worker.add_argument(
        "--queues",
        required=True,
        metavar="Q[,Q...]",
        help="queues in priority order, comma-separated; '*' for every queue",
    )
    worker.add_argument(
        "--jobs",
        required=True,
        metavar="MODULE:ATTR",
        help="an importable mapping of job class name -> callable or JobDefinition "
        "(the current directory is importable)",
    )
    least, most = Range("workers", 0, whole=True), Range("workers", 1, whole=True)
    worker.add_argument(
        "--min",
        type=least,
        metavar="N",
        help=f"run a MultiWorker of at least N workers ({least}; default 1)",
    )
    worker.add_argument(
        "--max",
        type=most,
        metavar="N",
        help=f"run a MultiWorker of at most N workers ({most}; default 10 or --min)",
    )
    worker.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    # The help shows the options' own defaults.
    _option(
        worker,
        "--timeout",
        type=MS_ABOVE_0,
        metavar="MS",
        help=f"idle poll and ping interval ({MS_ABOVE_0}; default: {_WORKER.timeout:g})",
    )
    _option(
        worker,
        "--job-timeout",
        type=MS_ABOVE_0,
        metavar="MS",
        help=f"fail a job running longer than this ({MS_ABOVE_0}; default: no limit)",
    )
    _option(
        worker,
        "--grace",
        dest="shutdown_grace",
        type=_SECONDS,
        metavar="S",
        help="on stop, how long a running job may take to finish "
        f"({_SECONDS}; default: {_WORKER.shutdown_grace:g})",
    )
    _option(
        worker,
        "--unfinished",
        choices=("fail", "requeue"),
        help="a job still running after the grace: record it as failed (fail), or put it "
        f"back at the head of its queue (requeue); default: {_WORKER.unfinished}",
    )
    _option(
        worker,
        "--heartbeat-interval",
        type=_SECONDS_ABOVE_0,
        metavar="S",
        help="how often a ruby-dialect worker beats Ruby resque's heartbeat "
        f"({_SECONDS_ABOVE_0}; default: {_WORKER.heartbeat_interval:g})",
    )
    _option(
        worker,
        "--name",
        help="worker name (default: host:pid). node: at most one colon; ruby: a host (its "
        "pid is added) or host:pid. A MultiWorker's workers are NAME:pid+N, so there NAME "
        "is a host (default: this one)",
    )
    _option(
        worker,
        "--log-levels",
        type=event_levels(WORKER_EVENTS),
        metavar="EVENT=LEVEL[,...]",
        help="log level per worker event, e.g. poll=info,success=off (default: "
        "Actionhero's workerLogging)",
    )
    worker.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="stderr logging level (default: info)",
    )
    worker.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop: uvloop when installed (auto, the default), or insist on one",
    )


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
    except Exception as exc:  # the module itself raised: say so, exit 2 like a bad spec
        raise JobsSpecError(
            f"--jobs {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
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
    options: argparse.Namespace, settings: WorkerOptions, jobs: Mapping[str, Any]
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
        return await run_until_signalled(workers, burst=options.burst)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


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
    queues = check_worker_queues(options.queues)
    if isinstance(queues, str):
        return queues
    try:
        settings = options_from(WorkerOptions, options)
    except ConfigurationError as exc:
        return str(exc)
    return (check_pool_name(settings) if _multi(options) else None) or settings


def _worker_command(options: argparse.Namespace) -> int:
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
    _log_to_stderr(options.log_level)
    return exit_past_cut_off_jobs(_run_loop(_work(options, settings, jobs), options.loop))


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- pyresque scheduler -------------------------------------------------------------------


def _scheduler_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    scheduler = sub.add_parser(
        "scheduler",
        parents=[common],
        help="move due delayed jobs and clean up dead workers while leader, until SIGTERM/SIGINT",
        description="Run a scheduler: while it holds the leader lock (node-resque's, or with "
        "--dialect ruby resque-scheduler's; both with --both-locks) it moves due delayed "
        "jobs to their queues and cleans up workers whose ping or heartbeat is stale. "
        "SIGTERM or SIGINT stops it and releases the lock.",
    )
    # The help shows the options' own defaults.
    _option(
        scheduler,
        "--timeout",
        type=MS_ABOVE_0,
        metavar="MS",
        help=f"poll interval ({MS_ABOVE_0}; default: {_SCHEDULER.timeout:g})",
    )
    _option(
        scheduler,
        "--leader-lock-timeout",
        type=_WHOLE_SECONDS,
        metavar="S",
        help="how long the leader lock lives unless refreshed "
        f"({_WHOLE_SECONDS}; default: {_SCHEDULER.leader_lock_timeout})",
    )
    _option(
        scheduler,
        "--stuck-worker-timeout",
        type=MS,
        metavar="MS",
        help=f"clean up workers silent for longer than this ({MS}, 0 for never; "
        f"default: {_SCHEDULER.stuck_worker_timeout:.0f})",
    )
    _option(
        scheduler,
        "--retry-stuck-jobs",
        action="store_true",
        help="re-enqueue the jobs of dead workers after each clean-up",
    )
    _option(
        scheduler,
        "--both-locks",
        action="store_true",
        help="lead only while holding node-resque's and resque-scheduler's locks both",
    )
    _option(scheduler, "--name", help="lock value (default: host:pid, as the dialect's peer)")
    _option(
        scheduler,
        "--log-levels",
        type=event_levels(SCHEDULER_EVENTS),
        metavar="EVENT=LEVEL[,...]",
        help="log level per scheduler event, e.g. poll=info,leader=off (default: "
        "Actionhero's schedulerLogging)",
    )
    scheduler.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="stderr logging level (default: info)",
    )


def _scheduler_command(options: argparse.Namespace) -> int:
    from pyresque.scheduler import Scheduler, run_scheduler_until_signalled

    try:
        scheduler = Scheduler(options.redis, options=options_from(SchedulerOptions, options))
    except ConfigurationError as exc:
        return usage_error(str(exc))
    _log_to_stderr(options.log_level)
    return asyncio.run(run_scheduler_until_signalled(scheduler))


async def _enqueue(options: argparse.Namespace) -> str:
    try:
        args = loads(options.args)
    except PyresqueError as exc:
        raise PyresqueError(f"ARGS_JSON is not valid JSON: {exc}") from None
    async with Queue(options.redis, namespace=options.namespace, dialect=options.dialect) as q:
        if options.at is not None:
            result = await q.enqueue_at(options.at, options.queue, options.job_class, args)
            what = f"delayed until {options.at:.0f} ms"
        elif options.delay is not None:
            result = await q.enqueue_in(options.delay, options.queue, options.job_class, args)
            what = f"delayed by {options.delay:.0f} ms"
        else:
            result = await q.enqueue(options.queue, options.job_class, args)
            what = "enqueued"
    if not result:
        raise PyresqueError("the job was not enqueued")
    return f"{options.job_class} {what} on queue {options.queue!r}"


async def _status(options: argparse.Namespace) -> str:
    # Reports what is, now: no waiting for a Redis that is away (enqueue waits a little).
    queue = Queue(options.redis, namespace=options.namespace, dialect=options.dialect, patience=0)
    async with queue as q:
        status = await collect_status(q)
    if options.json:
        return to_json(status)
    return format_status(status, where(options.redis, options.namespace))


def _run(options: argparse.Namespace) -> int:
    if options.command == "enqueue":
        print(asyncio.run(_enqueue(options)))
    elif options.command == "status":
        print(asyncio.run(_status(options)))
    elif options.command == "worker":
        return _worker_command(options)
    elif options.command == "scheduler":
        return _scheduler_command(options)
    elif options.command in APP_COMMANDS:
        return int(APP_COMMANDS[options.command](options))
    elif options.command == "demo":
        from pyresque.demo import run_demo

        return run_demo(options.redis)
    return 0


def _failed(message: str) -> int:
    print(f"pyresque: {one_line(message)}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status. Whatever goes wrong ends in one line on
    stderr: 2 for options that cannot work, 1 for a refusal or a Redis error of any kind,
    130 for Ctrl-C."""
    for stream in (sys.stdout, sys.stderr):  # names and values that are no UTF-8, escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return _run(_parser().parse_args(argv))
    except KeyboardInterrupt:
        print("pyresque: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        return usage_error(str(exc))
    except PyresqueError as exc:  # RedisReplyError and ConnectionFailedError among them
        return _failed(str(exc))
    except redis.exceptions.RedisError as exc:  # from a client of the app's own
        return _failed(f"Redis error ({type(exc).__name__}): {exc}")
