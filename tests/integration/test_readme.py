"""The README is honest: every shell command and every example in it runs, in order, as a
newcomer would run them, against pyresque installed from this checkout's wheel, in a
folder with no checkout in sight.

How each block is taken:

* ``sh``: each line is a command (``#`` starts a comment). ``pip install pyresque[...]``
  installs the wheel built from this checkout (pyresque is not fetched from PyPI here)
  and checks the extras exist; ``pyresque ...`` and ``pytest ...`` run in the folder and
  must exit 0; ``pyresque worker`` (without ``--burst``), ``scheduler`` and ``start`` run
  until they say they started, then get SIGTERM and must exit 0. The two repository
  commands (demo and test suite) must match ``.ci/run``, which CI runs; the demo itself
  runs here. A command no rule knows fails the test: a new kind needs a rule.
* ``python`` and ``toml`` whose first line is ``# some/path``: written to that path.
* other ``python`` blocks: run as a script, with the README's Redis URL replaced by the
  test's.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.wheel import ROOT, Installed, install_wheel

README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
README_URLS = ("redis://127.0.0.1:6379/0", "redis://localhost:6379/0")
# The db the README's commands share (they use the default namespace, "resque").
DB = 12
LONG_RUNNING = {"scheduler", "start", "web", "metrics"}
# What each long-running command logs once it runs.
STARTED = re.compile(r"worker\(s\) started|Scheduler.* started|running; SIGTERM|listening on")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[([\w,\s-]+)\])?$")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int

    @property
    def path(self) -> str | None:
        """The file a block is, from its first line ``# some/path.ext``."""
        first = self.text.split("\n", 1)[0]
        found = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first)
        return found[1] if found else None


def blocks(text: str) -> list[Block]:
    return [Block(m[1], m[2], text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]


def commands(block: Block) -> Iterator[tuple[int, str]]:
    """Each command of a shell block with its README line (``\\`` joins lines)."""
    pending = ""
    for offset, line in enumerate(block.text.splitlines()):
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            yield block.line + 1 + offset, pending.strip()
        pending = ""


def ci_command() -> str:
    """The README's test command as .ci/run runs it."""
    (line,) = [line for line in CI_RUN.read_text().splitlines() if "-m pytest" in line]
    return line.strip()


@dataclass
class Newcomer:
    """Where the README's commands run: the installed venv, a fresh folder, a Redis."""

    installed: Installed
    folder: Path
    url: str
    wheel_in: bool = False

    def env(self) -> dict[str, str]:
        drop = ("PYTHONPATH", "REDIS_URL", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["REDIS_URL"] = self.url
        env["PATH"] = f"{self.installed.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, where: str, argv: list[str], timeout: float = 120) -> str:
        done = subprocess.run(
            argv, cwd=self.folder, env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        said = f"{done.stdout}\n{done.stderr}"
        assert done.returncode == 0, f"{where}: {shlex.join(argv)} exited {done.returncode}\n{said}"
        return done.stdout

    def run_until_started(self, where: str, argv: list[str]) -> None:
        log = self.folder / "long-running.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                argv, cwd=self.folder, env=self.env(), stdout=out, stderr=subprocess.STDOUT
            )
        try:
            poll_log(proc, log, where)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert code == 0, f"{where}: {shlex.join(argv)} exited {code} on SIGTERM\n{log.read_text()}"


def poll_log(proc: subprocess.Popen[bytes], log: Path, where: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if STARTED.search(log.read_text(errors="replace")):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{where}: did not start\n{log.read_text(errors='replace')}")


def run_command(me: Newcomer, where: str, command: str) -> None:
    if command.startswith("python3 -m venv "):
        return repository_command(me, where, command)
    argv = shlex.split(command, comments=True)
    if argv[:2] == ["pip", "install"]:
        return pip_install(me, where, argv[2:])
    assert me.wheel_in, f"{where}: {command!r} runs before the README installs pyresque"
    if argv[0] == "pyresque":
        program = [str(me.installed.bin("pyresque")), *argv[1:]]
        long_running = argv[1] in LONG_RUNNING or (argv[1] == "worker" and "--burst" not in argv)
        if long_running:
            return me.run_until_started(where, program)
        me.run(where, program)
        return None
    if argv[0] == "pytest":
        # -P: the console script does not put the current folder on sys.path either.
        pytest_argv = ["-P", "-m", "pytest", "-p", "no:cacheprovider", *argv[1:]]
        out = me.run(where, [str(me.installed.python), *pytest_argv])
        summary = out.strip().splitlines()[-1]
        assert re.search(r"\d+ passed", summary), f"{where}: {summary}"
        assert not re.search(r"skipped|failed|error", summary), f"{where}: {summary}"
        return None
    raise AssertionError(f"{where}: no rule runs {command!r}; add one to {__name__}")


def pip_install(me: Newcomer, where: str, requirements: list[str]) -> None:
    for requirement in requirements:
        found = _REQUIREMENT.match(requirement)
        assert found and found[1] == "pyresque", f"{where}: installs {requirement!r}"
        extras = {e.strip() for e in (found[2] or "").split(",") if e.strip()}
        assert extras <= me.installed.extras(), f"{where}: no such extra in {requirement!r}"
    me.wheel_in = True


BENCH_SETUP = "python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]'"
# The benchmark, scaled down to seconds (its full run takes minutes): the smoke sizes of
# tests/integration/test_benchmarks.py.
BENCH_SMALL = ("--jobs", "40", "--samples", "3", "--slow-samples", "1", "--rounds", "1")


def repository_command(me: Newcomer, where: str, command: str) -> None:
    """The checkout's commands: the test command is .ci/run's, verbatim; the demo's setup
    is the same, and its last step (the demo) runs here; the benchmark's setup is the
    bench extra's and the benchmark runs here, scaled down, on this checkout."""
    ci = ci_command()
    if command == ci:
        return
    if command.startswith(BENCH_SETUP + " && "):
        last = command[len(BENCH_SETUP) + 4 :]
        assert last == ".venv-bench/bin/python benchmarks/anchors.py", f"{where}: {last!r}"
        assert "bench" in me.installed.extras(), f"{where}: no bench extra"
        done = subprocess.run(
            [sys.executable, "benchmarks/anchors.py", *BENCH_SMALL],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "verified pyresque" in done.stdout, done.stderr
        return
    *setup, last = (part.strip() for part in command.split("&&"))
    assert ci.startswith(" && ".join(setup) + " && "), f"{where}: {command!r} is not .ci/run's"
    assert last == ".venv/bin/pyresque demo", f"{where}: no rule runs {last!r}"
    out = me.run(where, [str(me.installed.bin("pyresque")), "demo"])
    assert "Part 2: an Actionhero-style app" in out, out
    assert "Working the jobs due now" in out, out


def run_python(me: Newcomer, block: Block) -> None:
    source = block.text
    for url in README_URLS:
        source = source.replace(url, me.url)
    script = me.folder / f"readme_line_{block.line}.py"
    script.write_text(source)
    me.run(f"README.md:{block.line}", [str(me.installed.python), "-P", script.name])


def db_url(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def newcomer(tmp_path: Path, redis_url: str) -> Iterator[Newcomer]:
    url = db_url(redis_url, DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    folder = tmp_path / "project"
    folder.mkdir()
    try:
        yield Newcomer(install_wheel(tmp_path / "wheel"), folder, url)
    finally:
        client.flushdb()
        client.close()


def test_every_command_and_example_in_the_readme_runs(newcomer: Newcomer) -> None:
    ran = 0
    for block in blocks(README.read_text()):
        where = f"README.md:{block.line}"
        if block.path is not None:
            target = newcomer.folder / block.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
        elif block.lang == "sh":
            for line, command in commands(block):
                run_command(newcomer, f"README.md:{line}", command)
                ran += 1
        elif block.lang == "python":
            run_python(newcomer, block)
            ran += 1
        else:
            raise AssertionError(f"{where}: a {block.lang or 'plain'} block no rule takes")
    assert ran >= 20


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    assert ci_command() in README.read_text()
