"""The app commands from a newcomer's side: vetoes that name who refused, generated apps
that run, and nodes that would run nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pyresque.cli import main
from pyresque.plugins import Veto, last_veto
from pyresque.tasks.app import App
from pyresque.testing import wait_until
from tests.integration.test_task_app import TICK, connection, write_app
from tests.processes import LoggedProcess


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    for name in list(os.environ):
        if name.startswith("PYRESQUE_") and name != "PYRESQUE_TEST_REDIS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", redis_url)


@pytest.mark.usefixtures("app_env")
def test_task_enqueue_names_the_plugin_that_vetoed_it(
    tmp_path: Path, redis_url: str, resque_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(write_app(tmp_path, connection(redis_url, resque_namespace), tick=TICK))
    assert main(["task", "enqueue", "tick", "--in", "60000", "--app", folder]) == 0
    assert main(["task", "enqueue", "tick", "--app", folder]) == 1
    err = capsys.readouterr().err
    assert err == (
        "pyresque: tick was not enqueued: DelayQueueLock vetoed it "
        "(the same job is already delayed)\n"
    )


@pytest.mark.usefixtures("app_env")
async def test_a_vetoed_enqueue_still_returns_false_and_last_veto_says_who(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    app = App.from_path(write_app(tmp_path, connection(redis_url, resque_namespace), tick=TICK))
    try:
        assert await app.tasks.enqueue("tick") is True
        assert last_veto() is None
        assert await app.tasks.enqueue("tick") is False
        assert last_veto() == Veto("QueueLock", "the same job is queued already: its lock is held")
    finally:
        await app.stop()


@pytest.mark.usefixtures("app_env")
def test_the_blocking_twin_reports_the_veto_in_the_callers_thread(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    from pyresque.tasks.sync import Tasks

    folder = write_app(tmp_path, connection(redis_url, resque_namespace), tick=TICK)
    tasks = Tasks(redis_url, namespace=resque_namespace)
    try:
        tasks.load(folder / "tasks")
        assert tasks.enqueue_in(60_000, "tick") is True
        assert tasks.enqueue("tick") is False
        assert last_veto() == Veto("DelayQueueLock", "the same job is already delayed")
    finally:
        tasks.close()


@pytest.mark.usefixtures("app_env")
def test_start_refuses_a_node_that_would_run_nothing_and_says_what_to_add(
    tmp_path: Path, redis_url: str, resque_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(write_app(tmp_path, connection(redis_url, resque_namespace), tick=TICK))
    assert main(["start", "--app", folder]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pyresque: the app in {folder} gives this node nothing to run")
    assert "add max_task_processors = 1" in err and "add scheduler = true" in err


@pytest.mark.usefixtures("app_env")
async def test_an_enqueue_only_app_started_in_code_warns_that_it_runs_nothing(
    tmp_path: Path, redis_url: str, resque_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App.from_path(write_app(tmp_path, connection(redis_url, resque_namespace)))
    async with app:
        assert app.roles == ("enqueue",)
    assert "runs nothing: no workers (max_task_processors = 0) and no scheduler" in caplog.text


def test_generate_app_writes_an_app_whose_test_passes_and_that_starts_and_runs_hello(
    tmp_path: Path,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "myapp"
    assert main(["generate", "app", str(folder)]) == 0
    assert f"wrote {folder / 'pyresque.toml'}" in capsys.readouterr().out
    assert main(["generate", "app", str(folder)]) == 2  # never overwrites, names the files
    assert f"{folder / 'README.md'}" in capsys.readouterr().err
    assert "pyresque start --app" in (folder / "README.md").read_text()
    env = {**os.environ, "REDIS_URL": redis_url, "PYRESQUE_NAMESPACE": resque_namespace}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    node = LoggedProcess([sys.executable, "-m", "pyresque", "start", "--app", str(folder)], env=env)
    try:
        wait_until(lambda: node.logged("running; SIGTERM or SIGINT stops it"), timeout=20)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert main(["task", "enqueue", "hello", "--app", str(folder)]) == 0
        assert "hello enqueued on queue 'default'" in capsys.readouterr().out
        processed = f"{resque_namespace}:stat:processed"
        wait_until(lambda: int(resque_redis.get(processed) or 0) == 1, timeout=20)
        node.proc.send_signal(signal.SIGTERM)
        assert node.wait() == 0, "".join(node.lines)
    finally:
        node.close()


@pytest.mark.usefixtures("app_env")
def test_generate_task_adds_its_queue_to_the_apps_config_or_writes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    assert main(["generate", "task", "--name", "tick", "--queue", "periodic",
                 "--frequency", "60000", "--app", str(bare)]) == 0  # fmt: skip
    assert f"wrote {bare / 'pyresque.toml'}" in capsys.readouterr().out
    app = App.from_path(bare, environ={})
    assert app.roles == ("enqueue", "process", "schedule")
    assert app.config.queues == ("periodic",)
    folder = write_app(tmp_path, 'namespace = "x"\nqueues = ["default"]  # mine\n')
    assert (
        main(["generate", "task", "--name", "mail", "--queue", "mail", "--app", str(folder)]) == 0
    )
    out = capsys.readouterr().out
    assert f"added queue 'mail' to queues in {folder / 'pyresque.toml'}" in out
    assert "add max_task_processors = 1" in out
    assert (folder / "pyresque.toml").read_text() == (
        'namespace = "x"\nqueues = ["default", "mail"]  # mine\n'
    )
    spread = write_app(tmp_path, 'queues = [\n  "default",\n]\n')
    assert main(["generate", "task", "--name", "m", "--queue", "mail", "--app", str(spread)]) == 0
    assert 'add the queue by hand: queues = ["default", "mail"]' in capsys.readouterr().out
