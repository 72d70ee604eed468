"""``pyresque enqueue``: put a job on a queue, now or later."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from pyresque.cli.when import when
from pyresque.errors import PyresqueError, UsageError
from pyresque.plugins import last_veto
from pyresque.protocol.jsjson import JSONValue, loads
from pyresque.queue import Queue

__all__ = ["parse_json", "run"]


def parse_json(what: str, given: str) -> JSONValue:
    """``given`` parsed as JSON, or a usage error naming ``what`` (exit status 2)."""
    try:
        return loads(given)
    except PyresqueError as exc:  # its text starts "not valid JSON: ..." / "not valid UTF-8"
        raise UsageError(f"{what} {given!r} is {exc}") from None


def run(options: argparse.Namespace) -> int:
    """Enqueue the job (or, with ``--from``, the jobs of each line); print what was done."""
    if options.source is not None:
        from pyresque.cli import enqueue_from

        return enqueue_from.run(options)
    if options.queue is None or options.job_class is None:
        raise UsageError("give QUEUE and CLASS (or --from FILE)")
    options.args = "[]" if options.args is None else options.args
    args = parse_json("ARGS_JSON", options.args)
    if not isinstance(args, list):
        # The peers' arrayify: null is no arguments, any other value the one argument.
        shown = "no arguments" if args is None else f"[{options.args.strip()}]"
        print(
            f"pyresque: note: ARGS_JSON is not a JSON array; the job gets {shown}",
            file=sys.stderr,
        )
    print(asyncio.run(_enqueue(options, args)))
    return 0


async def _enqueue(options: argparse.Namespace, args: JSONValue) -> str:
    async with Queue(options.redis, namespace=options.namespace, dialect=options.dialect) as q:
        if options.at is not None:
            result = await q.enqueue_at(options.at, options.queue, options.job_class, args)
            what = f"delayed {when(options.at)}"
        elif options.delay is not None:
            now = time.time() * 1000
            result = await q.enqueue_in(options.delay, options.queue, options.job_class, args)
            what = f"delayed {when(now + options.delay, now)}"
        else:
            result = await q.enqueue(options.queue, options.job_class, args)
            what = "enqueued"
    if not result:
        raise PyresqueError(f"the job was not enqueued: {last_veto() or 'it was vetoed'}")
    return f"{options.job_class} {what} on queue {options.queue!r}"
