"""The app commands from a newcomer's side: vetoes that name who refused, generated apps
that run, and nodes that would run nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyresque.cli import main
from pyresque.plugins import Veto, last_veto
from pyresque.tasks.app import App
from tests.integration.test_task_app import TICK, connection, write_app


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
