"""Options that would hurt are refused before anything runs: one line, exit status 2.

Each case is a real ``python -m pyresque`` process; they run side by side to keep this fast.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyresque.cli import main

# The worker cases' jobs module: importing it leaves a mark, so a refusal made before the
# import (before anything runs) shows.
JOBS_MODULE = """
from pathlib import Path

Path(__file__).with_name("imported").touch()
JOBS = {"add": lambda a, b: a + b}
"""
NOWHERE = "redis://127.0.0.1:1/0"  # never reached: a command that got that far says so

REFUSED: list[tuple[list[str], str]] = [
    (
        ["worker", "--timeout", "0"],
        "argument --timeout: must be a number of ms more than 0, not '0'",
    ),
    (["worker", "--timeout", "nan"], "argument --timeout: must be a number of ms more than 0"),
    (
        ["worker", "--job-timeout", "0"],
        "argument --job-timeout: must be a number of ms more than 0",
    ),
    (["worker", "--grace", "-1"], "argument --grace: must be a number of s, 0 or more, not '-1'"),
    (["worker", "--min", "-1"], "argument --min: must be a whole number of workers, 0 or more"),
    (["worker", "--max", "0"], "argument --max: must be a whole number of workers, 1 or more"),
    (["worker", "--min", "3", "--max", "2"], "--min 3 exceeds --max 2"),
    (["worker", "--queues", ""], "--queues '': name at least one queue, or spell * for every"),
    (["worker", "--queues", " , "], "--queues ' , ': name at least one queue, or spell * for"),
    (["worker", "--name", "a:b:c"], "worker name 'a:b:c': node-resque splits worker ids at"),
    (["worker", "--name", "box:12x", "--dialect", "ruby"], "a ruby-dialect name is a host"),
    (["worker", "--name", " box"], "a worker name must be a non-blank string, not ' box'"),
    (["worker", "--name", "box:1", "--max", "2"], "--name 'box:1': a MultiWorker's name is the"),
    (["scheduler", "--timeout", "0"], "argument --timeout: must be a number of ms more than 0"),
    (["scheduler", "--leader-lock-timeout", "0"], "must be a whole number of s, 1 or more"),
    (["scheduler", "--stuck-worker-timeout", "-1"], "must be a number of ms, 0 or more, not '-1'"),
    (["enqueue", "q", "J", "--in", "nan"], "argument --in: must be a number of ms, 0 or more"),
    (["enqueue", "q", "J", "--at", "-1"], "argument --at: '-1' is no time"),
    (["details", "--max-queue-length", "-1"], "must be a whole number of jobs, 0 or more"),
    (["task", "enqueue", "t", "--in", "inf"], "argument --in: must be a number of ms, 0 or more"),
    (["start", "--app", "{timeout_0}"], "timeout: expected a number of ms > 0, got 0"),
    (["start", "--app", "{no_queues}"], "queues: expected a list of queue names"),
    (["worker", "--fail-on-job-failure"], "--fail-on-job-failure goes with --burst"),
    (["worker", "--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["worker", "--metrics-port", "-1"], "argument --metrics-port: must be a whole number of"),
    (["failed", "clear", "--redis", NOWHERE], "failed clear removes every failed entry: add --yes"),
    (["failed", "retry", "0", "--all", "--redis", NOWHERE], "not both"),
    (["failed", "remove", "--redis", NOWHERE], "say which entries: INDEX..., --all, or filters"),
    (["delayed", "run-now", "--redis", NOWHERE], "say which jobs, one way: --due, --all"),
    (["delayed", "remove", "--all", "--redis", NOWHERE], "--all removes every delayed job"),
    (["delayed", "remove", "--at", "x"], "argument --at: 'x' is neither unix epoch seconds"),
    (["metrics"], "the following arguments are required: --port"),
    (["web", "--host", "0.0.0.0", "--port", "0"], "serves the dashboard beyond this machine"),
]


def _argv(args: list[str], apps: dict[str, Path]) -> list[str]:
    """The full command line of a case: ``{name}`` is an app folder, and what the case
    leaves out is given, pointing nowhere (a command that got as far as Redis says so)."""
    args = [apps[a[1:-1]].as_posix() if a[1:-1] in apps else a for a in args]
    command = [sys.executable, "-m", "pyresque", *args]
    if args[0] == "worker":
        command += ["--jobs", "cli_jobs:JOBS"] + ([] if "--queues" in args else ["--queues", "q"])
    if args[0] in ("worker", "scheduler", "enqueue"):
        command += ["--redis", NOWHERE]
    if args[0] in ("details", "task"):
        command += ["--app", apps["nowhere"].as_posix()]
    return command


@pytest.fixture
def apps(tmp_path: Path) -> dict[str, Path]:
    folders = {}
    for name, config in (
        ("timeout_0", f'redis = "{NOWHERE}"\ntimeout = 0\n'),
        ("no_queues", f'redis = "{NOWHERE}"\nqueues = " , "\n'),
        ("nowhere", f'redis = "{NOWHERE}"\n'),
    ):
        folder = tmp_path / name
        (folder / "tasks").mkdir(parents=True)
        (folder / "pyresque.toml").write_text(config)
        folders[name] = folder
    return folders


def test_each_option_that_would_hurt_is_refused_in_one_line_before_anything_runs(
    tmp_path: Path, apps: dict[str, Path]
) -> None:
    (tmp_path / "cli_jobs.py").write_text(JOBS_MODULE)
    running = [
        (args, message, subprocess.Popen(
            _argv(args, apps), cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ))
        for args, message in REFUSED
    ]  # fmt: skip
    wrong = []
    deadline = time.monotonic() + 60  # for all of them: they run side by side
    for args, message, process in running:
        try:
            out, err = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # it took the option and ran
            process.kill()
            out, err = process.communicate()
        one_line = err.startswith("pyresque: ") and err.count("\n") == 1
        if process.returncode != 2 or out or not one_line or message not in err:
            wrong.append((args, process.returncode, err))
    assert wrong == []
    assert not (tmp_path / "imported").exists()  # no refusal waited for the jobs' import


def test_the_names_each_dialect_accepts_still_run(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    (tmp_path / "cli_jobs.py").write_text(JOBS_MODULE)
    common = ["--jobs", "cli_jobs:JOBS", "--queues", "q", "--burst"]
    common += ["--redis", redis_url, "--namespace", resque_namespace, "--timeout", "50"]
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "pyresque", "worker", *common, *name],
            cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name in (["--name", "box"], ["--name", "box:7", "--dialect", "ruby"],
                     ["--name", "box", "--dialect", "ruby"], ["--grace", "0"])
    ]  # fmt: skip
    for process in running:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "burst over: the queues are empty" in err


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The root logger's handlers and level, put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_scheduler_log_format_json_writes_json_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    import pyresque.scheduler

    async def run(scheduler: object, **_: object) -> int:
        logging.getLogger("pyresque.scheduler").info("leading", extra={"pyresque_event": "x"})
        return 0

    monkeypatch.setattr(pyresque.scheduler, "run_scheduler_until_signalled", run)
    assert main(["scheduler", "--redis", redis_url, "--log-format", "json"]) == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (line["logger"], line["message"], line["event"]) == (
        "pyresque.scheduler",
        "leading",
        "x",
    )
