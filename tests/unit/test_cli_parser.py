"""The command line's parser: light to build, one table of commands, every option helped."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyresque.cli.parser import (
    COMMANDS,
    SCHEDULER_DEFAULTS,
    WORKER_DEFAULTS,
    _commands,
    build_parser,
    command_of,
    option_table,
)
from pyresque.scheduler import SchedulerOptions
from pyresque.worker import WorkerOptions

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    *("redis", "hiredis", "asyncio", "pyresque.worker", "pyresque.scheduler", "pyresque.tasks"),
    *("pyresque.queue", "pyresque.connection", "pyresque.errors"),
)

PROBE = """
import contextlib, io, sys
from pyresque.cli import main
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
print(sorted(m for m in sys.modules if m.startswith({heavy!r})))
"""


@pytest.mark.parametrize(
    "argvs",
    [
        [["--help"]],
        [["enqueue", "--help"]],
        [[*words.split(), "--help"] for words in COMMANDS],
        [["enqueue", "q", "J", "--at", "1765000000"]],  # refused by the parser
    ],
    ids=["pyresque", "enqueue", "every-command", "refused"],
)
def test_help_and_refusals_import_no_machinery(argvs: list[list[str]]) -> None:
    probe = PROBE.format(argvs=argvs, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_every_command_of_the_parser_is_in_the_table_and_imports() -> None:
    found = {path for path, _ in _commands(build_parser())}
    assert found == set(COMMANDS)
    for name in COMMANDS:
        assert callable(command_of(name))


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{path}: {action.option_strings or action.dest}"
        for path, parser in _commands(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("kind", "shown"),
    [(WorkerOptions, WORKER_DEFAULTS), (SchedulerOptions, SCHEDULER_DEFAULTS)],
    ids=["worker", "scheduler"],
)
def test_the_help_shows_the_options_own_defaults(kind: type, shown: dict[str, object]) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(kind)}
    assert {name: defaults[name] for name in shown} == shown


README_TABLE = re.compile(r"<!-- cli-options:[^>]*-->\n(.*)<!-- /cli-options -->", re.S)


def test_the_readmes_option_tables_are_the_parsers() -> None:
    found = README_TABLE.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md lost its cli-options markers"
    assert found[1] == "\n" + option_table() + "\n", (
        "regenerate the README's tables: python -m pyresque.cli.parser"
    )


def test_the_help_shows_the_fleets_own_stale_after_default() -> None:
    from pyresque.cli.opsparser import FLEET_DEFAULTS
    from pyresque.fleet import DEFAULT_STALE_AFTER_MS, Fleet

    assert FLEET_DEFAULTS == {"stale_after_ms": DEFAULT_STALE_AFTER_MS}
    assert build_parser().parse_args(["workers"]).stale_after == DEFAULT_STALE_AFTER_MS
    assert inspect.signature(Fleet).parameters["stale_after_ms"].default == DEFAULT_STALE_AFTER_MS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["workers", "--namespace", "a", "clean", "w:1"], "a"),
        (["workers", "clean", "w:1", "--namespace", "b"], "b"),
        (["workers", "clean", "w:1"], "resque"),
    ],
)
def test_workers_clean_takes_the_connection_options_before_or_after_it(
    argv: list[str], expected: str
) -> None:
    options = build_parser().parse_args(argv)
    assert (options.command, options.worker, options.namespace) == (
        "workers clean",
        "w:1",
        expected,
    )


@pytest.mark.parametrize(
    "command", [["worker", "--queues", "q", "--jobs", "m:J"], ["scheduler"], ["start"]]
)
def test_the_long_running_commands_take_a_log_format(command: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(command).log_format == "text"
    assert parser.parse_args([*command, "--log-format", "json"]).log_format == "json"
