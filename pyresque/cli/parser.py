"""The ``pyresque`` command's parser, and the one table of what runs each command.

Building it imports no machinery (no Redis client, no worker, no tasks): ``--help`` and a
command line that is refused answer at once. A command's module is imported when it runs,
through :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from pyresque._version import __version__
from pyresque.cli.opsparser import (
    delayed_parsers,
    failed_parsers,
    log_format,
    metrics_options,
    metrics_parser,
    tracing_options,
    web_parser,
    workers_parsers,
)
from pyresque.cli.options import (
    MS,
    MS_ABOVE_0,
    Parser,
    Range,
    add_command,
    connection_options,
    event_levels,
)
from pyresque.cli.when import at_ms, delay_ms

__all__ = [
    "COMMANDS",
    "SCHEDULER_DEFAULTS",
    "WORKER_DEFAULTS",
    "build_parser",
    "command_of",
    "option_table",
]

# What runs each command: (module, function), imported only when that command runs. The
# function takes the parsed options and returns the exit status.
COMMANDS: dict[str, tuple[str, str]] = {
    "enqueue": ("pyresque.cli.enqueue", "run"),
    "status": ("pyresque.cli.status", "run"),
    "failed list": ("pyresque.cli.failed", "list_failed"),
    "failed retry": ("pyresque.cli.failed", "retry"),
    "failed remove": ("pyresque.cli.failed", "remove"),
    "failed clear": ("pyresque.cli.failed", "clear"),
    "delayed list": ("pyresque.cli.delayed", "list_delayed"),
    "delayed run-now": ("pyresque.cli.delayed", "run_now"),
    "delayed remove": ("pyresque.cli.delayed", "remove"),
    "workers": ("pyresque.cli.workers", "list_workers"),
    "workers clean": ("pyresque.cli.workers", "clean"),
    "worker": ("pyresque.cli.worker", "run"),
    "scheduler": ("pyresque.cli.scheduler", "run"),
    "start": ("pyresque.cli.apps", "start"),
    "task enqueue": ("pyresque.cli.apps", "task_enqueue"),
    "details": ("pyresque.cli.apps", "details"),
    "generate task": ("pyresque.cli.generate", "task"),
    "generate app": ("pyresque.cli.generate", "app"),
    "metrics": ("pyresque.cli.serve", "metrics"),
    "web": ("pyresque.cli.serve", "web"),
    "demo": ("pyresque.cli.demo", "run"),
    "conformance": ("pyresque.cli.conformance", "run"),
}

# WorkerOptions()' and SchedulerOptions()' defaults, for the help: importing those classes
# would import the Redis client. tests/unit/test_cli_parser.py checks they are the same.
WORKER_DEFAULTS: dict[str, Any] = {
    "timeout": 5000.0,
    "shutdown_grace": 30.0,
    "unfinished": "fail",
    "heartbeat_interval": 60.0,
}
SCHEDULER_DEFAULTS: dict[str, Any] = {
    "timeout": 5000.0,
    "leader_lock_timeout": 180,
    "stuck_worker_timeout": 3_600_000.0,
}

_SECONDS = Range("s", 0)
_SECONDS_ABOVE_0 = Range("s", 0, above=True)
_WHOLE_SECONDS = Range("s", 1, whole=True)
_LOG_LEVEL_HELP = "stderr logging level (default: info)"
AT_HELP = (
    "run at this time: unix epoch milliseconds (e.g. 1796551200000), or an ISO-8601 date "
    "and time (e.g. 2026-12-06T10:00:00Z; without an offset it is this machine's local "
    "time). A number below 10^11 (epoch seconds, by the look of it) is refused"
)
DELAY_HELP = f"run after this delay ({MS})"


def command_of(name: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs command ``name`` (a key of :data:`COMMANDS`), imported now."""
    module, function = COMMANDS[name]
    found: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), function)
    return found


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help=_LOG_LEVEL_HELP,
    )


def _app(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app",
        default=".",
        metavar="PATH",
        help="the app folder: its pyresque.toml (or pyproject.toml's [tool.pyresque]) and "
        "tasks folder (default: .)",
    )


def _when(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--at", type=at_ms, metavar="MS|ISO", help=AT_HELP)
    when.add_argument("--in", dest="delay", type=delay_ms, metavar="MS", help=DELAY_HELP)


def _option(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> None:
    """A flag for a field of the worker's or scheduler's options: its ``dest`` is the
    field's name, and left out it leaves the field's default (see ``options_from``)."""
    parser.add_argument(flag, default=argparse.SUPPRESS, **kwargs)


def build_parser() -> Parser:
    """The whole command line; each command's parser sets ``command`` (a COMMANDS key)."""
    parser = Parser(
        prog="pyresque",
        description="Work with resque queues shared with node-resque and Ruby resque.",
    )
    parser.add_argument("--version", action="version", version=f"pyresque {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    _enqueue_parser(sub)
    status = add_command(sub, "status", help="queues, delayed jobs, workers")
    connection_options(
        status,
        "whose scheduler lock to name as the leader when both are held: node-resque's "
        "leader lock (node, the default) or resque-scheduler's master lock (ruby); "
        "queues, jobs and both peers' workers read the same either way",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    failed_parsers(sub)
    delayed_parsers(sub)
    workers_parsers(sub)
    _worker_parser(sub)
    _scheduler_parser(sub)
    _app_parsers(sub)
    metrics_parser(sub)
    web_parser(sub)
    demo = add_command(
        sub,
        "demo",
        help="enqueue demo jobs and print the state as node-resque and Ruby resque see it, "
        "then run the example app of tasks for a few seconds",
    )
    demo.add_argument("--redis", default=None, metavar="URL", help="Redis URL (default: find one)")
    _conformance_parser(sub)
    return parser


def _conformance_parser(sub: Any) -> None:
    check = add_command(
        sub,
        "conformance",
        help="check pyresque's bytes and behaviour against your node-resque and Ruby resque",
        description="Run byte-level and behavioural checks of pyresque against the peers "
        "named (node-resque from a folder's node_modules, Ruby resque + resque-scheduler from "
        "a load path or installed gems), on the Redis named, in fresh random namespaces whose "
        "keys (and only those) are deleted afterwards. Prints one row per check: ok, DIFF "
        "with a one-line diff, or skipped with why. Exit status 1 on any DIFF, 2 on options "
        "that cannot work, else 0.",
    )
    check.add_argument(
        "--node",
        metavar="PATH",
        help="a folder whose node_modules holds node-resque (and maybe Actionhero)",
    )
    check.add_argument(
        "--ruby-lib",
        metavar="PATH[:PATH]",
        help="a Ruby load path (RUBYLIB) holding resque and resque-scheduler",
    )
    check.add_argument(
        "--ruby", action="store_true", help="check Ruby resque from the installed gems"
    )
    check.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="Redis URL (default: $REDIS_URL); only keys of the run's own namespaces are "
        "written and deleted",
    )
    check.add_argument("--only", metavar="TEXT", help="run only the checks whose name has TEXT")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument(
        "--record",
        metavar="DIR",
        help="write what the peers wrote and answered as golden vectors (JSON files) in DIR; "
        "when DIR holds vectors already, compare with them instead",
    )
    check.add_argument(
        "--against",
        metavar="DIR",
        help="compare what the peers write and answer with the vectors recorded in DIR",
    )


def _enqueue_parser(sub: Any) -> None:
    enqueue = add_command(
        sub,
        "enqueue",
        help="put a job on a queue, now or later (or many jobs, from JSON lines)",
        description="Put a job on QUEUE. ARGS_JSON is the job's argument list, a JSON array "
        "(node-resque and Ruby resque call perform with its items); any other JSON value is "
        "one argument, as if in an array of one. With --from, enqueue one job per line of "
        "FILE instead, in bulk (a chunk of jobs per Redis call): the whole input is read and "
        "checked first, and a bad line is refused with its number before anything is "
        "written.",
    )
    enqueue.add_argument(
        "queue", nargs="?", metavar="QUEUE", help="the queue's name (with --from: optional)"
    )
    enqueue.add_argument(
        "job_class", nargs="?", metavar="CLASS", help="the job's class name (with --from: optional)"
    )
    enqueue.add_argument(
        "args",
        nargs="?",
        default=None,
        metavar="ARGS_JSON",
        help="JSON array of arguments (default: []; not with --from)",
    )
    enqueue.add_argument(
        "--from",
        dest="source",
        metavar="FILE|-",
        help="enqueue one job per line of FILE (- for stdin), JSON lines: with QUEUE and "
        'CLASS, each line is a job\'s arguments (a JSON array); without, an object {"queue": '
        '..., "class": ..., "args": [...]} with an optional "at" (unix ms or ISO-8601) or '
        '"in" (ms) of its own. Blank lines are skipped; --at/--in apply to lines without '
        "their own",
    )
    connection_options(
        enqueue,
        "whose bytes to write: node-resque's payload (node, the default) or Ruby "
        "resque's (ruby); either peer reads both",
    )
    _when(enqueue)


def _worker_parser(sub: Any) -> None:
    worker = add_command(
        sub,
        "worker",
        help="work queues until SIGTERM/SIGINT (or, with --burst, until they are empty)",
        description="Work queues with the jobs named by --jobs. The first SIGTERM or SIGINT "
        "stops taking jobs and lets running ones finish within --grace; a second cuts them "
        "off at once. Either way unfinished jobs are settled per --unfinished.",
    )
    connection_options(
        worker,
        "whose worker records to write: node-resque's (node, the default: its name "
        "format, pings, failure entries) or Ruby resque's (ruby: heartbeats, its failure "
        "entries); jobs of either peer are run",
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
    processes = Range("processes", 1, whole=True)
    worker.add_argument(
        "--processes",
        type=processes,
        default=1,
        metavar="N",
        help=f"run N worker processes under a supervisor that restarts any that dies "
        f"({processes}; default 1: this process works, no supervisor)",
    )
    worker.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    worker.add_argument(
        "--fail-on-job-failure",
        action="store_true",
        help="with --burst: exit with status 1 when any job failed",
    )
    defaults = WORKER_DEFAULTS
    _option(
        worker,
        "--timeout",
        type=MS_ABOVE_0,
        metavar="MS",
        help=f"idle poll and ping interval ({MS_ABOVE_0}; default: {defaults['timeout']:g})",
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
        f"({_SECONDS}; default: {defaults['shutdown_grace']:g})",
    )
    _option(
        worker,
        "--unfinished",
        choices=("fail", "requeue"),
        help="a job still running after the grace: record it as failed (fail), or put it "
        f"back at the head of its queue (requeue); default: {defaults['unfinished']}",
    )
    _option(
        worker,
        "--heartbeat-interval",
        type=_SECONDS_ABOVE_0,
        metavar="S",
        help="how often a ruby-dialect worker beats Ruby resque's heartbeat "
        f"({_SECONDS_ABOVE_0}; default: {defaults['heartbeat_interval']:g})",
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
        type=event_levels("pyresque.worker.events"),
        metavar="EVENT=LEVEL[,...]",
        help="log level per worker event, e.g. poll=info,success=off (default: "
        "Actionhero's workerLogging)",
    )
    _log_level(worker)
    log_format(worker)
    metrics_options(worker, "the jobs this process runs (resque_jobs_total ...)")
    tracing_options(worker)
    worker.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop: uvloop when installed (auto, the default), or insist on one",
    )


def _scheduler_parser(sub: Any) -> None:
    scheduler = add_command(
        sub,
        "scheduler",
        help="move due delayed jobs and clean up dead workers while leader, until SIGTERM/SIGINT",
        description="Run a scheduler: while it holds the leader lock (node-resque's, or with "
        "--dialect ruby resque-scheduler's; both with --both-locks) it moves due delayed "
        "jobs to their queues and cleans up workers whose ping or heartbeat is stale. "
        "SIGTERM or SIGINT stops it and releases the lock.",
    )
    connection_options(
        scheduler,
        "whose leader lock to take: node-resque's (node, the default) or "
        "resque-scheduler's (ruby), and the lock value's format",
    )
    defaults = SCHEDULER_DEFAULTS
    _option(
        scheduler,
        "--timeout",
        type=MS_ABOVE_0,
        metavar="MS",
        help=f"poll interval ({MS_ABOVE_0}; default: {defaults['timeout']:g})",
    )
    _option(
        scheduler,
        "--leader-lock-timeout",
        type=_WHOLE_SECONDS,
        metavar="S",
        help="how long the leader lock lives unless refreshed "
        f"({_WHOLE_SECONDS}; default: {defaults['leader_lock_timeout']})",
    )
    _option(
        scheduler,
        "--stuck-worker-timeout",
        type=MS,
        metavar="MS",
        help=f"clean up workers silent for longer than this ({MS}, 0 for never; "
        f"default: {defaults['stuck_worker_timeout']:.0f})",
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
        type=event_levels("pyresque.scheduler.events"),
        metavar="EVENT=LEVEL[,...]",
        help="log level per scheduler event, e.g. poll=info,leader=off (default: "
        "Actionhero's schedulerLogging)",
    )
    _log_level(scheduler)
    log_format(scheduler)


def _app_parsers(sub: Any) -> None:
    start = add_command(
        sub,
        "start",
        help="run an app node (workers, scheduler: as its config says) until SIGTERM/SIGINT",
        description="Boot the app in --app (pyresque.toml or [tool.pyresque], its tasks "
        "folder). The first SIGTERM/SIGINT stops it gracefully, a second cuts jobs off. "
        "The configuration is checked first (times in ms: timeout, check_timeout and "
        "job_timeout more than 0; stuck_worker_timeout, queues_refresh, "
        "max_event_loop_delay 0 or more; in s: shutdown_grace 0 or more, "
        "heartbeat_interval more than 0, leader_lock_timeout a whole number more than 0; "
        "min/max_task_processors whole numbers, 0 or more, min at most max; queues: at "
        "least one name, '*' for every queue); one that cannot work exits with status 2, "
        "and so does one that gives the node nothing to run.",
    )
    _app(start)
    _log_level(start)
    log_format(start)
    metrics_options(start, "the jobs this node's workers run (resque_jobs_total ...)")
    tracing_options(start)
    task = sub.add_parser("task", help="an app's tasks").add_subparsers(
        dest="task_command", required=True, metavar="COMMAND"
    )
    enqueue = add_command(
        task,
        "enqueue",
        "task enqueue",
        help="validate a task's inputs and enqueue it",
        description="Validate NAME's inputs, run its enqueue middleware and plugins, and "
        "put it on its queue (the app's connection, namespace and dialect).",
    )
    enqueue.add_argument("name", metavar="NAME", help="the task's name")
    enqueue.add_argument(
        "--inputs", default="{}", metavar="JSON", help="the task's inputs, a JSON object"
    )
    _when(enqueue)
    _app(enqueue)
    generate = sub.add_parser("generate", help="write new app files").add_subparsers(
        dest="generate_command", required=True, metavar="WHAT"
    )
    new = add_command(
        generate,
        "task",
        "generate task",
        help="write tasks/<name>.py and tests/test_<name>.py, and its queue into the config",
        description="Write a task and its test into the app, and make the app run it: a "
        "new pyresque.toml when there is none, else the task's queue added to its queues.",
    )
    new.add_argument("--name", required=True, help="the task's name (letters, digits, _ and -)")
    new.add_argument("--queue", required=True, help="the queue it is enqueued on")
    new.add_argument(
        "--frequency",
        type=MS,
        default=0,
        metavar="MS",
        help="run it every MS ms, enqueued by the app's scheduler (0, the default: not periodic)",
    )
    new.add_argument(
        "--description", default=None, help="what it does, for its page (default: its name)"
    )
    _app(new)
    app = add_command(
        generate,
        "app",
        "generate app",
        help="write a new app: pyresque.toml, tasks/hello.py, its test and a README",
    )
    app.add_argument("dir", metavar="DIR", help="the app folder (made if missing)")
    details = add_command(
        sub, "details", help="queues, workers, stats, leader; exit 1 when a queue is too long"
    )
    _app(details)
    details.add_argument("--json", action="store_true", help="print JSON")
    jobs = Range("jobs", 0, whole=True)
    details.add_argument(
        "--max-queue-length",
        type=jobs,
        default=1000,
        metavar="N",
        help=f"exit 1 when a queue holds more jobs than this ({jobs}; default: 1000)",
    )


def _commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command's parser, with its words (``task enqueue``), depth first."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or not all(a.required for a in subs):  # ``workers``: a command too
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _commands(child, f"{path} {name}".strip())


def option_table(parser: argparse.ArgumentParser | None = None) -> str:
    """Every command's options as Markdown tables, from the parser itself: the README's
    command-line reference (a test keeps it equal)."""
    parser = parser or build_parser()
    lines: list[str] = []
    for path, command in _commands(parser):
        lines += ["", f"#### pyresque {path}", "", "| option | help |", "| --- | --- |"]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            lines.append(f"| `{_spelling(action)}` | {_cell(action.help or '')} |")
    return "\n".join(lines[1:]) + "\n"


def _spelling(action: argparse.Action) -> str:
    metavar = action.metavar or (
        "{" + ",".join(action.choices) + "}" if action.choices else action.dest.upper()
    )
    if not action.option_strings:
        return str(metavar)
    flags = ", ".join(action.option_strings)
    takes_value = action.nargs != 0
    return f"{flags} {metavar}" if takes_value else flags


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":  # python -m pyresque.cli.parser: the README's option tables
    print(option_table(), end="")
