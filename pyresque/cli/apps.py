"""The app commands: ``start``, ``task enqueue``, ``generate task``, ``details``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from pyresque.cli.options import AT_HELP, DELAY_HELP, MS, Range, UsageError
from pyresque.cli.status import format_status, to_json, where
from pyresque.cli.threads import JOB_THREAD, exit_past_cut_off_jobs
from pyresque.errors import ConfigurationError, PyresqueError
from pyresque.protocol.jsjson import loads
from pyresque.protocol.status import is_unreadable

__all__ = ["APP_COMMANDS", "app_parsers"]


@contextmanager
def _app_configuration() -> Iterator[None]:
    """An app whose configuration cannot work is a usage error (exit status 2)."""
    try:
        yield
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def app_parsers(sub: Any) -> None:
    def app_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--app", default=".", metavar="PATH", help="the app folder (default: .)"
        )

    start = sub.add_parser(
        "start",
        help="run an app node (workers, scheduler: as its config says) until SIGTERM/SIGINT",
        description="Boot the app in --app (pyresque.toml or [tool.pyresque], its tasks "
        "folder). The first SIGTERM/SIGINT stops it gracefully, a second cuts jobs off. "
        "The configuration is checked first (times in ms: timeout, check_timeout and "
        "job_timeout more than 0; stuck_worker_timeout, queues_refresh, "
        "max_event_loop_delay 0 or more; in s: shutdown_grace 0 or more, "
        "heartbeat_interval more than 0, leader_lock_timeout a whole number more than 0; "
        "min/max_task_processors whole numbers, 0 or more, min at most max; queues: at "
        "least one name, '*' for every queue); one that cannot work exits with status 2.",
    )
    app_option(start)
    start.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    task = sub.add_parser("task", help="an app's tasks").add_subparsers(
        dest="task_command", required=True
    )
    enqueue = task.add_parser("enqueue", help="validate a task's inputs and enqueue it")
    enqueue.add_argument("name", metavar="NAME")
    enqueue.add_argument("--inputs", default="{}", metavar="JSON", help="a JSON object")
    when = enqueue.add_mutually_exclusive_group()
    when.add_argument("--at", type=MS, metavar="MS", help=AT_HELP)
    when.add_argument("--in", dest="delay", type=MS, metavar="MS", help=DELAY_HELP)
    app_option(enqueue)
    generate = sub.add_parser("generate", help="write new app files").add_subparsers(
        dest="generate_command", required=True
    )
    new = generate.add_parser("task", help="write tasks/<name>.py and tests/test_<name>.py")
    new.add_argument("--name", required=True)
    new.add_argument("--queue", required=True)
    new.add_argument("--frequency", type=float, default=0, metavar="MS")
    new.add_argument("--description", default=None)
    app_option(new)
    details = sub.add_parser(
        "details", help="queues, workers, stats, leader; exit 1 when a queue is too long"
    )
    app_option(details)
    details.add_argument("--json", action="store_true", help="print JSON")
    jobs = Range("jobs", 0, whole=True)
    details.add_argument(
        "--max-queue-length",
        type=jobs,
        default=1000,
        metavar="N",
        help=f"exit 1 when a queue holds more jobs than this ({jobs}; default: 1000)",
    )


def _start_command(options: argparse.Namespace) -> int:
    from pyresque.tasks.app import App, run_app_until_signalled

    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    with _app_configuration():
        app = App.from_path(options.app)

    async def serve() -> int:
        # Blocking tasks run on the loop's default pool: name its threads, so the exit
        # can tell a cut-off job still running (see exit_past_cut_off_jobs).
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(thread_name_prefix=JOB_THREAD)
        loop.set_default_executor(pool)
        try:
            return await run_app_until_signalled(app)
        finally:
            loop.set_default_executor(ThreadPoolExecutor(1))  # asyncio.run waits for this one
            pool.shutdown(wait=False, cancel_futures=True)

    return exit_past_cut_off_jobs(asyncio.run(serve()))


async def _task_enqueue(options: argparse.Namespace) -> str:
    from pyresque.tasks.app import App

    try:
        inputs = loads(options.inputs)
    except PyresqueError as exc:
        raise PyresqueError(f"--inputs is not valid JSON: {exc}") from None
    if not isinstance(inputs, dict):
        raise PyresqueError(f"--inputs must be a JSON object, not {options.inputs}")
    with _app_configuration():
        app = App.from_path(options.app)
    try:
        if options.at is not None:
            result = await app.tasks.enqueue_at(options.at, options.name, inputs)
            what = f"delayed until {options.at:.0f} ms"
        elif options.delay is not None:
            result = await app.tasks.enqueue_in(options.delay, options.name, inputs)
            what = f"delayed by {options.delay:.0f} ms"
        else:
            result = await app.tasks.enqueue(options.name, inputs)
            what = "enqueued"
        queue = app.tasks.task(options.name).queue
    finally:
        await app.stop()
    if not result:
        raise PyresqueError(f"{options.name} was not enqueued: a plugin or middleware vetoed it")
    return f"{options.name} {what} on queue {queue!r}"


def _generate_task(options: argparse.Namespace) -> str:
    from pyresque.tasks.app import generate_task

    files = generate_task(
        options.app, options.name, options.queue, options.frequency, options.description
    )
    return "wrote " + " and ".join(str(path) for path in files)


async def _details(options: argparse.Namespace) -> int:
    from pyresque.tasks import Tasks
    from pyresque.tasks.config import load_config

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


APP_COMMANDS: dict[str, Any] = {
    "start": _start_command,
    "task": lambda options: print(asyncio.run(_task_enqueue(options))) or 0,
    "generate": lambda options: print(_generate_task(options)) or 0,
    "details": lambda options: asyncio.run(_details(options)),
}
