"""How a command ends when it is interrupted or Redis fails it: one line on stderr, no
traceback, and an exit status that says which (130 for Ctrl-C, 1 for Redis)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.exceptions

from pyresque import Queue
from pyresque import sync as blocking
from pyresque.cli import main
from pyresque.errors import (
    ConnectionFailedError,
    RedisOutOfMemoryError,
    RedisReplyError,
    ReplyTimeoutError,
)
from pyresque.testing import wait_until
from tests.servers import FakeServer
from tests.servers import silent as never_answers

# Imported by the worker and app cases: leaves a mark, then takes its time.
SLOW_IMPORT = """
import time
from pathlib import Path

Path(__file__).with_name("importing").touch()
for _ in range(600):  # short sleeps: Python acts on a signal between two of them
    time.sleep(0.1)
JOBS = {}
"""

TASK = """
from pyresque.tasks import Task


class Echo(Task):
    name = "echo"
    queue = "default"

    async def run(self, params, worker):
        return params
"""

# A middleware whose hook uses a redis-py client of the app's own, on a Redis that is not there.
MIDDLEWARE = """
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyresque.tasks import TaskMiddleware


def check(plugin):
    redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0)).ping()


MIDDLEWARE = [TaskMiddleware(name="audit", global_=True, pre_enqueue=check)]
"""


def app(folder: Path, url: str, **files: str) -> Path:
    """An app folder on ``url`` holding ``files`` (``"tasks.echo"`` is tasks/echo.py)."""
    (folder / "tasks").mkdir(parents=True)
    (folder / "pyresque.toml").write_text(f'redis = "{url}"\n')
    for name, source in files.items():
        path = folder / f"{name.replace('.', '/')}.py"
        path.write_text(source)
    return folder


def _reached(server: FakeServer) -> Callable[[], bool]:
    return lambda: server.connections > 0


@pytest.fixture
def silent() -> Iterator[list[FakeServer]]:
    servers = [FakeServer(never_answers) for _ in range(5)]
    yield servers
    for server in servers:
        server.close()


def test_ctrl_c_ends_every_command_with_one_line_and_exit_status_130(
    tmp_path: Path, silent: list[FakeServer]
) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "slow_jobs.py").write_text(SLOW_IMPORT)
    details = app(tmp_path / "details", silent[2].url, **{"tasks.echo": TASK})
    enqueues = app(tmp_path / "enqueues", silent[3].url, **{"tasks.echo": TASK})
    booting = app(tmp_path / "booting", "redis://127.0.0.1:1/0", **{"tasks.slow": SLOW_IMPORT})
    cases = [
        # (argv, working folder, how to tell it is under way)
        (["status", "--redis", silent[0].url], tmp_path, _reached(silent[0])),
        (
            ["enqueue", "q", "J", "--redis", silent[1].url],
            tmp_path,
            _reached(silent[1]),
        ),
        (["details", "--app", str(details)], tmp_path, _reached(silent[2])),
        (
            ["task", "enqueue", "echo", "--app", str(enqueues)],
            tmp_path,
            _reached(silent[3]),
        ),
        (["demo", "--redis", silent[4].url], tmp_path, _reached(silent[4])),
        (
            ["worker", "--queues", "q", "--jobs", "slow_jobs:JOBS", "--redis", silent[0].url],
            tmp_path / "jobs",
            (tmp_path / "jobs" / "importing").exists,
        ),
        (["start", "--app", str(booting)], tmp_path, (booting / "tasks" / "importing").exists),
    ]

    # A test run with SIGINT ignored would hand that on: the children get Python's handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        running = [
            subprocess.Popen(
                [sys.executable, "-m", "pyresque", *argv],
                cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for argv, cwd, _ in cases
        ]  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        for (argv, _, under_way), process in zip(cases, running, strict=True):
            wait_until(_either(under_way, process), timeout=30)
            assert process.poll() is None, (argv, process.communicate())
            process.send_signal(signal.SIGINT)
        ended = [_ended(process) for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.communicate()
    wrong = [
        (argv, process.returncode, err)
        for (argv, *_), (_, err), process in zip(cases, ended, running, strict=True)
        if (process.returncode, err) != (130, "pyresque: interrupted\n")
    ]
    assert wrong == []


def _ended(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The process's output once it ended, killed if it did not within 30 s."""
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return out, err + "(killed: still running 30 s after Ctrl-C)"


def _either(under_way: Callable[[], bool], process: subprocess.Popen[str]) -> Callable[[], bool]:
    """Whether the command is under way, or already over."""
    return lambda: under_way() or process.poll() is not None


def test_an_out_of_memory_redis_fails_enqueue_in_one_line_and_as_redis_pys_error(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace

    async def enqueue() -> None:
        async with Queue(redis_url, namespace=ns, patience=0) as queue:
            await queue.enqueue("q", "J", [1])

    limit = resque_redis.config_get("maxmemory")["maxmemory"]
    policy = resque_redis.config_get("maxmemory-policy")["maxmemory-policy"]
    resque_redis.config_set("maxmemory-policy", "noeviction")
    resque_redis.config_set("maxmemory", 1)
    try:
        code = main(["enqueue", "q", "J", "[1]", "--redis", redis_url, "--namespace", ns])
        out, err = capsys.readouterr()
        with pytest.raises(redis.exceptions.OutOfMemoryError) as refused:
            asyncio.run(enqueue())
        with (
            pytest.raises(redis.exceptions.OutOfMemoryError) as refused_sync,
            blocking.Queue(redis_url, namespace=ns, patience=0) as twin,
        ):
            twin.enqueue("q", "J", [1])
    finally:
        resque_redis.config_set("maxmemory", limit)
        resque_redis.config_set("maxmemory-policy", policy)
    assert (code, out) == (1, "")
    assert err.startswith("pyresque: OOM command not allowed") and err.count("\n") == 1
    assert f"{ns}:queue:q" in err  # the key it was refused for
    for error in (refused.value, refused_sync.value):
        assert isinstance(error, RedisOutOfMemoryError) and f"{ns}:queue:q" in str(error)
    assert list(resque_redis.scan_iter(match=f"{ns}:*")) == []


def test_a_redis_py_error_from_the_apps_own_client_ends_task_enqueue_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    folder = app(tmp_path / "app", redis_url, middleware=MIDDLEWARE, **{"tasks.echo": TASK})
    code = main(["task", "enqueue", "echo", "--app", str(folder)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith("pyresque: Redis error (ConnectionError): ")
    assert "127.0.0.1:1" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "error",
    [
        ConnectionFailedError("cannot connect to Redis at 10.0.0.9:6379/0: timed out"),
        ReplyTimeoutError("Redis did not answer within 5 s (GET resque:stat:processed)"),
        RedisReplyError("NOPERM this user has no permissions\nto run the 'evalsha' command"),
        redis.exceptions.RedisError("a client's own error,\nover two lines"),
    ],
    ids=type,
)
def test_every_kind_of_redis_error_ends_a_command_in_one_line_with_exit_status_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    error: Exception,
) -> None:
    async def refuse(*args: object, **kwargs: object) -> bool:
        raise error

    monkeypatch.setattr(Queue, "enqueue", refuse)
    code = main(["enqueue", "q", "J", "--redis", redis_url, "--namespace", resque_namespace])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith("pyresque: ") and err.count("\n") == 1, err
    assert " ".join(str(error).split()) in err
