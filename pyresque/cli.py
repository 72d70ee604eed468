"""The ``pyresque`` command: enqueue jobs, show queue status, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pyresque._version import __version__
from pyresque.connection.settings import default_url
from pyresque.errors import PyresqueError
from pyresque.protocol.jsjson import loads
from pyresque.queue import Queue

__all__ = ["main"]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
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
    parser = argparse.ArgumentParser(
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
    when.add_argument("--at", type=float, metavar="MS", help="run at this unix time in ms")
    when.add_argument("--in", dest="delay", type=float, metavar="MS", help="run after this many ms")

    status = sub.add_parser("status", parents=[common], help="queues, delayed jobs, workers")
    status.add_argument("--json", action="store_true", help="print JSON")

    demo = sub.add_parser(
        "demo", help="enqueue demo jobs and print the state as node-resque and Ruby resque see it"
    )
    demo.add_argument("--redis", default=None, metavar="URL", help="Redis URL (default: find one)")
    return parser


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


async def collect_status(queue: Queue) -> dict[str, Any]:
    """Everything ``pyresque status`` shows, as plain data."""
    names = await queue.queues()
    return {
        "queues": {name: await queue.length(name) for name in names},
        "delayed": {
            "timestamps": await queue.delayed_queue_schedule_size(),
            "jobs": await queue.count_all_scheduled_jobs(),
        },
        "workers": await queue.workers(),
        "working": {
            name: record
            for name, record in (await queue.all_working_on()).items()
            if record != "started"
        },
        "failed": await queue.failed_count(),
        "leader": await queue.leader(),
        "stats": await queue.stats(),
    }


def format_status(status: dict[str, Any], where: str) -> str:
    lines = [f"Redis {where}"]
    queues = status["queues"]
    lines.append(f"queues ({len(queues)}):")
    lines.extend(f"  {name:<24} {length}" for name, length in queues.items())
    if not queues:
        lines.append("  (none)")
    delayed = status["delayed"]
    lines.append(f"delayed jobs: {delayed['jobs']} at {delayed['timestamps']} timestamps")
    workers = status["workers"]
    lines.append(f"workers ({len(workers)}):")
    for name, queues_csv in workers.items():
        doing = status["working"].get(name)
        job = f" working on {doing['payload'].get('class')}" if isinstance(doing, dict) else ""
        lines.append(f"  {name} [{queues_csv}]{job}")
    lines.append(f"failed: {status['failed']}")
    lines.append(f"leader: {status['leader'] or '(none)'}")
    return "\n".join(lines)


async def _status(options: argparse.Namespace) -> str:
    async with Queue(options.redis, namespace=options.namespace, dialect=options.dialect) as q:
        status = await collect_status(q)
    if options.json:
        return json.dumps(status, indent=2, ensure_ascii=False, sort_keys=True)
    return format_status(status, f"{options.redis or default_url()} namespace {options.namespace}")


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        if options.command == "enqueue":
            print(asyncio.run(_enqueue(options)))
        elif options.command == "status":
            print(asyncio.run(_status(options)))
        elif options.command == "demo":
            from pyresque.demo import run_demo

            return run_demo(options.redis)
    except PyresqueError as exc:
        print(f"pyresque: {exc}", file=sys.stderr)
        return 1
    return 0
