"""The command line's parsing helpers: every refusal is one line and exit status 2, and
numeric options are checked against their unit and range before anything runs.

Light on purpose: the parser is built from this module for every command, ``--help``
included, so it imports none of the machinery (no Redis client, no worker).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

OptionsT = TypeVar("OptionsT", bound="DataclassInstance")

__all__ = [
    "MS",
    "MS_ABOVE_0",
    "Parser",
    "Range",
    "add_command",
    "check_worker_queues",
    "connection_options",
    "event_levels",
    "missing_extra",
    "one_line",
    "options_from",
    "usage_error",
]


def usage_error(message: str) -> int:
    """Say ``message`` on one line; the exit status of a usage error."""
    print(f"pyresque: {one_line(message)}", file=sys.stderr)
    return 2


def one_line(message: str) -> str:
    """``message`` with its whitespace runs (newlines too) as single spaces."""
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


def check_worker_queues(given: str) -> list[str] | str:
    """``--queues`` as the worker will read it, or why it cannot be."""
    names = [q.strip() for q in given.split(",")]
    if not any(names):
        return (
            f"--queues {given!r}: name at least one queue, or spell * for every queue "
            "(quoted, --queues '*', so the shell leaves it alone)"
        )
    return [q for q in names if q]


def options_from(kind: type[OptionsT], args: argparse.Namespace) -> OptionsT:
    """The ``kind`` of options (``WorkerOptions``, ``SchedulerOptions``) that ``args`` give:
    each field from the flag whose ``dest`` is its name, if given (flags default to
    ``argparse.SUPPRESS``), else the field's default. Refusals are ConfigurationError."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(kind) if f.name in args}
    return kind(**given)


def event_levels(events_module: str) -> Callable[[str], Mapping[str, int | None]]:
    """An argparse ``type`` for ``--log-levels EVENT=LEVEL[,...]`` over the ``EVENTS`` of
    ``events_module`` (imported when the option is given, not when the parser is built)."""

    def parse(given: str) -> Mapping[str, int | None]:
        from pyresque.errors import ConfigurationError
        from pyresque.worker.events import check_event_levels, parse_event_levels

        events = importlib.import_module(events_module).EVENTS
        try:
            return check_event_levels("log levels", parse_event_levels(given), events)
        except (ValueError, ConfigurationError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def add_command(sub: Any, name: str, path: str | None = None, **kwargs: Any) -> Parser:
    """A command's parser under ``sub`` (a subparsers action), setting ``command`` to
    ``path`` (its key in ``pyresque.cli.parser.COMMANDS``; default ``name``)."""
    parser: Parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(command=path or name)
    return parser


def connection_options(
    parser: argparse.ArgumentParser, dialect: str, *, inherited: bool = False
) -> None:
    """``--redis``, ``--namespace`` and ``--dialect`` (``dialect``: what it decides for
    this command). ``inherited``: on a subcommand of a command that has them too; left
    out, they leave the command's value alone (no default of their own)."""
    defaults: dict[str, Any] = {"redis": None, "namespace": "resque", "dialect": "node"}
    if inherited:
        defaults = dict.fromkeys(defaults, argparse.SUPPRESS)
    parser.add_argument(
        "--redis",
        default=defaults["redis"],
        metavar="URL",
        help="Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)",
    )
    parser.add_argument(
        "--namespace", default=defaults["namespace"], help="key namespace (default: resque)"
    )
    parser.add_argument(
        "--dialect", choices=("node", "ruby"), default=defaults["dialect"], help=dialect
    )


# What each extra brings, as imported.
_EXTRAS: dict[str, tuple[str, ...]] = {
    "metrics": ("prometheus_client",),
    "web": ("starlette", "jinja2", "uvicorn"),
    "tracing": ("opentelemetry",),
}


def missing_extra(name: str) -> str | None:
    """Why a command needs extra ``name`` that is not installed (naming the ``pip
    install`` that brings it), None when it is installed; nothing is imported."""
    missing = [module for module in _EXTRAS[name] if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"this needs {', '.join(missing)}, of the {name} extra: pip install 'pyresque[{name}]'"
