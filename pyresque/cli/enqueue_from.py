"""``pyresque enqueue --from FILE|-``: one job per JSON line, enqueued in bulk.

The whole input is read and checked before anything is written (it is held in memory:
about the size of the file, a few times over): a bad line is a usage error naming its
number (exit status 2) and Redis is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Iterable
from typing import Any, BinaryIO

from pyresque.cli.when import at_ms, delay_ms
from pyresque.errors import PayloadEncodeError, PyresqueError, UsageError
from pyresque.protocol.jsjson import JSONValue, loads
from pyresque.queue import Queue

__all__ = ["Line", "read_lines", "run"]

_FIELDS = ("queue", "class", "args", "at", "in")
# (queue, class, args, at ms or None), the enqueue_batch item of one line.
Line = tuple[str, str, list[JSONValue], float | None]


def _when(value: JSONValue, field: str, now_ms: float) -> float:
    """An "at" or "in" value as a due time in ms, checked as --at and --in check theirs."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'"{field}" must be a number{" or a string" * (field == "at")}')
    try:
        if field == "at":
            return at_ms(str(value))
        return now_ms + math.trunc(delay_ms(str(value)))
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f'"{field}": {exc}') from None


def _name(job: dict[str, JSONValue], field: str) -> str:
    value = job.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{field}" must be a non-empty string, not {value!r}')
    return value


def _object_line(value: JSONValue, default_at: float | None, now_ms: float) -> Line:
    if not isinstance(value, dict):
        raise ValueError(
            'expected an object {"queue": ..., "class": ..., "args": [...]} '
            "(or give QUEUE and CLASS for lines of args)"
        )
    unknown = [k for k in value if k not in _FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (fields: {', '.join(_FIELDS)})")
    args = value.get("args", [])
    if not isinstance(args, list):
        raise ValueError(f'"args" must be a JSON array, not {args!r}')
    if "at" in value and "in" in value:
        raise ValueError('"at" and "in" exclude each other')
    at = default_at
    for field in ("at", "in"):
        if field in value:
            at = _when(value[field], field, now_ms)
    return (_name(value, "queue"), _name(value, "class"), args, at)


def read_lines(
    lines: Iterable[bytes],
    *,
    queue: str | None,
    job_class: str | None,
    default_at: float | None,
    now_ms: float,
) -> tuple[list[Line], list[int]]:
    """Every job of the input and the line number of each; a bad line raises
    :class:`~pyresque.errors.UsageError` naming its number."""
    jobs: list[Line] = []
    numbers: list[int] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            try:
                value = loads(raw)
            except PyresqueError as exc:  # "not valid JSON: ..." / "not valid UTF-8 ..."
                raise ValueError(str(exc)) from None
            if queue is None or job_class is None:
                jobs.append(_object_line(value, default_at, now_ms))
            elif isinstance(value, list):
                jobs.append((queue, job_class, value, default_at))
            else:
                raise ValueError("expected a JSON array of the job's arguments")
        except ValueError as exc:
            raise UsageError(f"--from: line {number}: {exc}; nothing was enqueued") from None
        numbers.append(number)
    return jobs, numbers


def _open(source: str) -> BinaryIO:
    if source == "-":
        return sys.stdin.buffer
    try:
        return open(source, "rb")  # closed by run()
    except OSError as exc:
        raise UsageError(f"--from: cannot read {source}: {exc.strerror}") from None


def run(options: argparse.Namespace) -> int:
    """Read and check every line, then enqueue them all; print the counts."""
    if options.args is not None:
        raise UsageError("ARGS_JSON cannot be given with --from: each line holds a job's args")
    if (options.queue is None) != (options.job_class is None):
        raise UsageError("give both QUEUE and CLASS (lines of args) or neither (lines of jobs)")
    now = time.time() * 1000
    default_at = options.at
    if options.delay is not None:
        default_at = now + math.trunc(options.delay)
    stream = _open(options.source)
    try:
        jobs, numbers = read_lines(
            stream,
            queue=options.queue,
            job_class=options.job_class,
            default_at=default_at,
            now_ms=now,
        )
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print(asyncio.run(_enqueue(options, jobs, numbers)))
    return 0


async def _enqueue(options: argparse.Namespace, jobs: list[Line], numbers: list[int]) -> str:
    async with Queue(options.redis, namespace=options.namespace, dialect=options.dialect) as q:
        try:
            result = await q.enqueue_batch(jobs)
        except PayloadEncodeError as exc:
            if exc.index is None:
                raise
            message = str(exc).split(": ", 1)[-1]
            raise PayloadEncodeError(
                f"--from: line {numbers[exc.index]}: {message} (the chunks of lines before it "
                "were enqueued)",
                index=exc.index,
            ) from None
    if result.duplicates:
        shown: list[Any] = [numbers[i] for i in result.duplicates[:10]]
        more = ", ..." if len(result.duplicates) > 10 else ""
        print(
            f"pyresque: note: {len(result.duplicates)} delayed jobs were already due at their "
            f"second and were not written again (lines {', '.join(map(str, shown))}{more})",
            file=sys.stderr,
        )
    return (
        f"enqueued {result.enqueued} jobs ({result.delayed} delayed, {len(result.vetoed)} vetoed)"
    )
