"""The operating commands' parsers: ``failed``, ``delayed``, ``workers`` (repairs on the
fleet), ``metrics`` and ``web`` (servers), and the options the long-running commands share
(``--log-format``, ``--metrics-port``).

Light, as :mod:`pyresque.cli.parser`: building them imports no machinery.
"""

from __future__ import annotations

import argparse
from typing import Any

from pyresque.cli.options import MS, Range, add_command, connection_options
from pyresque.cli.when import at_ms

__all__ = [
    "FLEET_DEFAULTS",
    "delayed_parsers",
    "failed_parsers",
    "log_format",
    "tracing_options",
    "metrics_options",
    "metrics_parser",
    "second",
    "web_parser",
    "workers_parsers",
]

# pyresque.fleet's defaults, for the help: importing it would import the Redis client.
# tests/unit/test_cli_parser.py checks they are the same.
FLEET_DEFAULTS: dict[str, Any] = {"stale_after_ms": 3_600_000}

_INDEX = Range("index", 0, whole=True)
_LIMIT = Range("entries", 0, whole=True)
_PORT = Range("port", 0, whole=True)
_FLEET_DIALECT = (
    "how to write where the bytes' own peer cannot be told: node-resque's (node, the "
    "default) or Ruby resque's (ruby). Entries and jobs of either peer are read, and "
    "retried or enqueued as their own peer writes them"
)


def second(given: str) -> int:
    """An argparse ``type`` for a delayed job's ``--at``: unix epoch seconds (as the
    schedule keeps them) or an ISO-8601 date and time."""
    try:
        return int(given)
    except ValueError:
        pass
    try:
        return int(at_ms(given) // 1000)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{given!r} is neither unix epoch seconds nor an ISO-8601 date and time "
            "(e.g. 2026-12-06T10:00:00Z)"
        ) from None


def _page(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit",
        type=_LIMIT,
        default=20,
        metavar="N",
        help=f"show at most N {what} (default: 20)",
    )
    parser.add_argument(
        "--offset", type=_LIMIT, default=0, metavar="N", help=f"skip the first N {what}"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", help="only entries of this queue")
    parser.add_argument("--class", dest="job_class", metavar="CLASS", help="only this job class")
    parser.add_argument(
        "--exception",
        metavar="NAME",
        help="only this exception class, as stored (e.g. Resque::DirtyExit, RuntimeError)",
    )
    parser.add_argument(
        "--text",
        help="only entries whose stored bytes hold this text (error, backtrace, args, "
        "worker; case-sensitive)",
    )


def _selected(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "indexes",
        nargs="*",
        type=_INDEX,
        metavar="INDEX",
        help=f"{verb} the entries at these indexes (as 'failed list' shows them); if one is "
        "no longer the entry read there, nothing of its batch is done and the exit status "
        "is 1",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"{verb} every entry (every one the filters match, with filters)",
    )
    _filters(parser)


def failed_parsers(sub: Any) -> None:
    """``failed list``, ``failed retry``, ``failed remove``, ``failed clear``."""
    failed = sub.add_parser(
        "failed", help="failed jobs: list, search, retry, remove, clear"
    ).add_subparsers(dest="failed_command", required=True, metavar="COMMAND")
    listed = add_command(
        failed,
        "list",
        "failed list",
        help="failed entries, one a line (index, queue, class, exception: error, failed "
        "at, worker)",
    )
    _filters(listed)
    _page(listed, "entries (of those the filters match)")
    connection_options(listed, _FLEET_DIALECT)
    retry = add_command(
        failed,
        "retry",
        "failed retry",
        help="enqueue failed jobs again (INDEX..., --all, or the filters' matches)",
        description="Enqueue each selected entry's job again, as its own peer writes it, "
        "and remove the entry (node-resque's retryAndRemoveFailed); with --keep, stamp the "
        "entry with retried_at instead (resque's requeue). Entries that cannot be read are "
        "left alone by --all and filters.",
    )
    _selected(retry, "retry")
    retry.add_argument(
        "--keep",
        action="store_true",
        help="keep each entry, stamped with retried_at (resque-web's Retry)",
    )
    connection_options(retry, _FLEET_DIALECT)
    remove = add_command(
        failed,
        "remove",
        "failed remove",
        help="remove failed entries (INDEX..., --all --yes, or the filters' matches)",
    )
    _selected(remove, "remove")
    remove.add_argument("--yes", action="store_true", help="needed by --all without a filter")
    connection_options(remove, _FLEET_DIALECT)
    clear = add_command(
        failed, "clear", "failed clear", help="remove every failed entry at once (needs --yes)"
    )
    clear.add_argument(
        "--yes", action="store_true", help="yes, remove them all (asked for, not prompted)"
    )
    connection_options(clear, _FLEET_DIALECT)


def _delayed_selectors(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--at",
        type=second,
        metavar="SECOND|ISO",
        help=f"{verb} the jobs due at this second (unix epoch seconds, or ISO 8601 as "
        "'delayed list' shows it) of --class (and --queue, --args when given)",
    )
    parser.add_argument("--class", dest="job_class", metavar="CLASS", help="with --at: the class")
    parser.add_argument("--queue", help="with --at: only jobs going to this queue")
    parser.add_argument(
        "--args", metavar="JSON", help="with --at: only jobs with these args (a JSON array)"
    )


def delayed_parsers(sub: Any) -> None:
    """``delayed list``, ``delayed run-now``, ``delayed remove``."""
    delayed = sub.add_parser("delayed", help="delayed jobs: list, run now, remove").add_subparsers(
        dest="delayed_command", required=True, metavar="COMMAND"
    )
    listed = add_command(
        delayed,
        "list",
        "delayed list",
        help="delayed jobs, earliest first: due time (UTC, and from now), queue, class, args",
    )
    _page(listed, "jobs")
    connection_options(listed, _FLEET_DIALECT)
    run_now = add_command(
        delayed,
        "run-now",
        "delayed run-now",
        help="enqueue delayed jobs now (--due, --all, or --at SECOND --class C)",
        description="Enqueue delayed jobs now, whichever scheduler leads: each job as its "
        "own peer's scheduler would enqueue it. --due and --all move whole seconds as a "
        "scheduler does (in --dialect); --at takes the jobs of one second one by one.",
    )
    run_now.add_argument("--due", action="store_true", help="every job due by now")
    run_now.add_argument("--all", action="store_true", help="every delayed job, due or not")
    _delayed_selectors(run_now, "run")
    connection_options(run_now, _FLEET_DIALECT)
    remove = add_command(
        delayed,
        "remove",
        "delayed remove",
        help="remove delayed jobs (--at SECOND --class C, or --all --yes)",
    )
    remove.add_argument("--all", action="store_true", help="every delayed job (needs --yes)")
    remove.add_argument("--yes", action="store_true", help="needed by --all")
    _delayed_selectors(remove, "remove")
    connection_options(remove, _FLEET_DIALECT)


def _stale_after(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    default = FLEET_DEFAULTS["stale_after_ms"]
    parser.add_argument(
        "--stale-after",
        type=MS,
        default=argparse.SUPPRESS if inherited else default,
        metavar="MS",
        help=f"a worker unseen (no ping or heartbeat) longer than this is stale ({MS}; "
        f"default: {default}, the scheduler's stuck-worker timeout)",
    )


def workers_parsers(sub: Any) -> None:
    """``workers`` (the listing) and ``workers clean``."""
    workers = add_command(
        sub,
        "workers",
        help="every peer's workers: kind, host, pid, queues, job, last seen, stale",
        description="List the namespace's workers, node-resque's, Ruby resque's and "
        "pyresque's, one a line; 'pyresque workers clean ID' unregisters a stale one.",
    )
    workers.add_argument("--json", action="store_true", help="print JSON")
    _stale_after(workers)
    connection_options(workers, _FLEET_DIALECT)
    sub_workers = workers.add_subparsers(
        dest="workers_command",
        metavar="COMMAND",
        help="none: list the workers; clean: unregister one (see workers clean --help)",
    )
    clean = add_command(
        sub_workers,
        "clean",
        "workers clean",
        help="unregister a stale worker; the job it held goes to failed",
        description="Unregister worker ID (its id or host:pid, as 'pyresque workers' shows "
        "them) and send the job it held to failed as its own peer does (node-resque's "
        "'Worker Timeout (killed manually)', Ruby's Resque::DirtyExit). A worker that is not "
        "stale is refused (exit 1) unless --force.",
    )
    clean.add_argument("worker", metavar="ID", help="the worker's id or host:pid")
    clean.add_argument("--force", action="store_true", help="clean it even though it is not stale")
    _stale_after(clean, inherited=True)
    connection_options(clean, _FLEET_DIALECT, inherited=True)


def _listen(parser: argparse.ArgumentParser, port: int | None, what: str) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"the address to listen on (default: 127.0.0.1; 0.0.0.0 for every {what})",
    )
    if port is None:
        parser.add_argument(
            "--port",
            type=_PORT,
            required=True,
            metavar="PORT",
            help="the port to listen on (0: any free one, named on stderr)",
        )
    else:
        parser.add_argument(
            "--port",
            type=_PORT,
            default=port,
            metavar="PORT",
            help=f"the port to listen on (default: {port}; 0: any free one, named on stderr)",
        )


def metrics_parser(sub: Any) -> None:
    """``metrics``: the standalone fleet exporter."""
    metrics = add_command(
        sub,
        "metrics",
        help="serve the namespace's fleet metrics for Prometheus until SIGTERM/SIGINT",
        description="Serve /metrics (the fleet's state, read from Redis on every scrape: "
        "queues, latency, delayed, failed, workers of every peer), /healthz and /readyz. "
        "Needs the metrics extra: pip install 'pyresque[metrics]'.",
    )
    _listen(metrics, None, "interface")
    connection_options(metrics, "how to read the namespace's keys; both peers' are counted")


def web_parser(sub: Any) -> None:
    """``web``: the dashboard."""
    web = add_command(
        sub,
        "web",
        help="serve the dashboard (queues, workers, failed, delayed) until SIGTERM/SIGINT",
        description="Serve the web dashboard with uvicorn (pip install 'pyresque[web]'). "
        "Authentication comes from the environment only, never the command line (where "
        "ps shows it): PYRESQUE_WEB_TOKEN (Bearer token, or sign in with it at /login; 16 "
        "characters or more), or PYRESQUE_WEB_USERNAME and PYRESQUE_WEB_PASSWORD (HTTP "
        "Basic). Without either, anyone who reaches the port may retry, remove and clean: "
        "so a host other than loopback is refused without authentication unless "
        "--insecure.",
    )
    _listen(web, 8282, "interface (needs authentication, or --insecure)")
    web.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)",
    )
    web.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NS[=DIALECT]",
        help="a namespace to show, with the dialect its writes use (node, the default, or "
        "ruby); repeat for more, the first is the home page (default: "
        "$PYRESQUE_WEB_NAMESPACES, else resque)",
    )
    web.add_argument(
        "--read-only",
        action="store_true",
        help="offer no change and refuse every POST (also PYRESQUE_WEB_READ_ONLY=1)",
    )
    web.add_argument(
        "--refresh",
        type=_LIMIT,
        default=None,
        metavar="MS",
        help="how often an open page reloads its data, ms (0: never; default: 2000)",
    )
    web.add_argument(
        "--app",
        default=None,
        metavar="PATH",
        help="a task app folder whose periodic and cron tasks get a page",
    )
    web.add_argument(
        "--insecure",
        action="store_true",
        help="serve a host other than loopback without authentication: anyone who reaches "
        "it may act on the fleet",
    )


def metrics_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--metrics-port`` and ``--metrics-host`` of ``worker`` and ``start``."""
    parser.add_argument(
        "--metrics-port",
        type=_PORT,
        default=None,
        metavar="PORT",
        help=f"serve /metrics, /healthz and /readyz on this port: {what} and the "
        "namespace's fleet (needs pip install 'pyresque[metrics]'; 0: any free port, named "
        "on stderr)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address --metrics-port listens on (default: 127.0.0.1)",
    )


def tracing_options(parser: argparse.ArgumentParser) -> None:
    """``--tracing [link|child|none]`` and ``--span-naming``."""
    parser.add_argument(
        "--tracing",
        nargs="?",
        const="link",
        choices=("link", "child", "none"),
        default=None,
        help="an OpenTelemetry consumer span per job, as opentelemetry-ruby's resque "
        "instrumentation makes them: linked to the trace a payload carries (link, the "
        "default), its child (child), or neither (none). Configure the SDK as usual (e.g. "
        "run under opentelemetry-instrument); needs pip install 'pyresque[tracing]'",
    )
    parser.add_argument(
        "--span-naming",
        choices=("queue", "job_class"),
        default="queue",
        help="name spans '<queue> process' (queue, the default) or '<class> process'",
    )


def log_format(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json``."""
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr log lines as text (the default) or one JSON object a line, with the "
        "structured fields (see spec/logs.md)",
    )
