"""The command line's parser: every refusal is one line and exit status 2, and numeric
options are checked against their unit and range before anything runs."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn

from pyresque.errors import ConfigurationError, PyresqueError
from pyresque.protocol.context import Context
from pyresque.protocol.workers import worker_name

__all__ = [
    "AT_HELP",
    "DELAY_HELP",
    "MS",
    "MS_ABOVE_0",
    "Parser",
    "Range",
    "UsageError",
    "check_worker_name",
    "check_worker_queues",
    "usage_error",
]


class UsageError(PyresqueError):
    """The options (or the app's configuration) cannot work: exit status 2."""


def usage_error(message: str) -> int:
    """Say ``message`` on one line; the exit status of a usage error."""
    print(f"pyresque: {one_line(message)}", file=sys.stderr)
    return 2


def one_line(message: str) -> str:
    return " ".join(message.split())


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), pointing to
    ``--help``; exit status 2 as argparse has it."""

    def error(self, message: str) -> NoReturn:
        usage_error(f"{message} (see {self.prog} --help)")
        raise SystemExit(2)


class Range:
    """An argparse ``type``: a finite number in ``unit`` of at least (or, with ``above``,
    more than) ``low``; ``whole`` for integers. ``str()`` is the range for help texts."""

    def __init__(self, unit: str, low: float, *, above: bool = False, whole: bool = False) -> None:
        self.unit, self.low, self.above, self.whole = unit, low, above, whole

    def __str__(self) -> str:
        bound = f"more than {self.low:g}" if self.above else f"{self.low:g} or more"
        return f"{'a whole number of ' if self.whole else ''}{self.unit}, {bound}"

    def __call__(self, given: str) -> float:
        try:
            value = int(given) if self.whole else float(given)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < self.low or (self.above and value == self.low):
            kind = "a whole number" if self.whole else "a number"
            bound = f"more than {self.low:g}" if self.above else f"{self.low:g} or more"
            separator = " " if self.above else ", "
            raise argparse.ArgumentTypeError(
                f"must be {kind} of {self.unit}{separator}{bound}, not {given!r}"
            )
        return value


MS = Range("ms", 0)
MS_ABOVE_0 = Range("ms", 0, above=True)
AT_HELP = f"run at this unix time ({MS})"
DELAY_HELP = f"run after this delay ({MS})"


def check_worker_queues(given: str) -> list[str] | str:
    """``--queues`` as the worker will read it, or why it cannot be."""
    names = [q.strip() for q in given.split(",")]
    if not any(names):
        return (
            f"--queues {given!r}: name at least one queue, or spell * for every queue "
            "(quoted, --queues '*', so the shell leaves it alone)"
        )
    return [q for q in names if q]


def check_worker_name(name: str | None, namespace: str, dialect: str, *, pool: bool) -> str | None:
    """Why ``--name`` cannot be a worker's name in this dialect (None when it can): checked
    as the worker will check it (``pyresque.protocol.workers.worker_name``). A
    MultiWorker's name is the host part of its workers' names (``NAME:pid+N``)."""
    if name is None:
        return None
    try:
        context = Context.create(namespace, dialect)
        worker_name(context, name, os.getpid())
    except ConfigurationError as exc:
        return str(exc)
    if pool and ":" in name:
        return (
            f"--name {name!r}: a MultiWorker's name is the host part of its workers' names "
            "(NAME:pid+N), so it cannot hold a colon"
        )
    return None
