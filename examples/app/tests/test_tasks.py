"""The example app's tasks, tested with pyresque's spec helpers.

The Redis comes from the pyresque pytest plugin (``redis_url``), each test in a namespace
of its own (``resque_namespace``, deleted afterwards). The app is loaded the way it boots
(``App.from_path``: its config, tasks and middleware) but never started: the helpers run
tasks here and now, find or delete what was enqueued, or drain the queues through a
real worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyresque.tasks import InputValidationError, Tasks
from pyresque.tasks.app import App
from pyresque.tasks.cron import Cron
from pyresque.testing import drain_tasks
from pyresque.testing.tasks import (
    delete_enqueued_tasks,
    find_enqueued_tasks,
    run_full_task,
    run_task,
)

APP = Path(__file__).resolve().parents[1]


@pytest.fixture
async def tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    environ = {"PYRESQUE_REDIS_URL": redis_url, "PYRESQUE_NAMESPACE": resque_namespace}
    app = App.from_path(APP, environ=environ)
    yield app.tasks
    await app.stop()  # never started: this only closes its connection


def test_the_app_loads_its_tasks_and_middleware(tasks: Tasks) -> None:
    assert sorted(tasks.tasks) == [
        "heartbeat", "import_feed", "minute_report", "send_reminder", "signup",
    ]  # fmt: skip
    assert list(tasks.middleware) == ["timing"]


async def test_signup_fills_in_defaults_and_validates_its_inputs(tasks: Tasks) -> None:
    assert (
        await run_full_task(tasks, "signup", {"email": "grace@example.com"})
        == "welcomed friend <grace@example.com> (free plan)"
    )
    with pytest.raises(InputValidationError, match="email is a required input"):
        await run_full_task(tasks, "signup", {})
    with pytest.raises(InputValidationError, match="ada is not an email address"):
        await run_full_task(tasks, "signup", {"email": "ada"})
    with pytest.raises(InputValidationError, match="gold is not a valid value for plan"):
        await run_full_task(tasks, "signup", {"email": "ada@example.com", "plan": "gold"})


async def test_signup_enqueues_its_reminder_for_later(tasks: Tasks) -> None:
    await run_full_task(tasks, "signup", {"email": "ada@example.com"})
    (reminder,) = await find_enqueued_tasks(tasks, "send_reminder")
    assert (reminder["queue"], reminder["args"]) == (
        "mail",
        [{"email": "ada@example.com", "days": 3}],
    )
    assert reminder["timestamp"] is not None  # delayed, not queued


async def test_run_task_calls_run_with_the_params_as_given(tasks: Tasks) -> None:
    params = {"email": "ada@example.com", "name": "Ada", "plan": "pro"}
    assert await run_task(tasks, "signup", params) == "welcomed Ada <ada@example.com> (pro plan)"


async def test_an_enqueued_signup_is_found_and_deleted(tasks: Tasks) -> None:
    assert await tasks.enqueue("signup", {"email": "ada@example.com"}) is True
    params = {"email": "ada@example.com", "name": "friend", "plan": "free"}
    assert await find_enqueued_tasks(tasks, "signup") == [
        {"class": "signup", "queue": "default", "args": [params], "timestamp": None}
    ]
    assert await delete_enqueued_tasks(tasks, "signup", params) == 1
    assert await find_enqueued_tasks(tasks, "signup") == []


async def test_a_reminder_waits_in_the_delayed_schedule_until_it_is_due(tasks: Tasks) -> None:
    before = time.time() * 1000
    assert await tasks.enqueue_in(2000, "send_reminder", {"email": "ada@example.com"}) is True
    (found,) = await find_enqueued_tasks(tasks, "send_reminder")
    assert found["queue"] == "mail"
    assert found["args"] == [{"email": "ada@example.com", "days": 3}]
    # Due times are whole seconds (resque's delayed schedule), rounded.
    assert before + 1000 <= found["timestamp"] <= before + 3000
    # "mail" only ever had a delayed task; it is deleted all the same.
    assert await delete_enqueued_tasks(tasks, "send_reminder", found["args"][0]) == 1
    assert await find_enqueued_tasks(tasks, "send_reminder") == []


async def test_send_reminder_runs_in_a_thread_with_its_payload(tasks: Tasks) -> None:
    assert (
        await run_full_task(tasks, "send_reminder", {"email": "ada@example.com", "days": 1})
        == "reminded ada@example.com (1 days left)"
    )


async def test_import_feed_fails(tasks: Tasks) -> None:
    with pytest.raises(ConnectionError, match="partners.xml did not answer"):
        await run_full_task(tasks, "import_feed", {})


async def test_a_signup_flow_runs_through_to_its_reminder_with_a_real_worker(
    tasks: Tasks,
) -> None:
    # drain_tasks works the queues with a real worker (stats, failed list, middleware);
    # due_by also moves the delayed tasks due by then, as the scheduler would.
    assert await tasks.enqueue("signup", {"email": "ada@example.com"})
    assert await tasks.enqueue("import_feed", {})
    now = await drain_tasks(tasks, queues=["default", "mail"])
    assert now.results("signup") == ["welcomed friend <ada@example.com> (free plan)"]
    (failure,) = now.failed
    assert failure.job_class == "import_feed" and "did not answer" in str(failure.error)
    assert await tasks.failed_count() == 1
    assert now.of("send_reminder") == []  # delayed: not due yet

    soon = datetime.now(UTC) + timedelta(seconds=10)
    later = await drain_tasks(tasks, queues=["default", "mail"], due_by=soon)
    assert later.results("send_reminder") == ["reminded ada@example.com (3 days left)"]


async def test_heartbeat_runs_and_schedules_its_next_run(tasks: Tasks) -> None:
    first = await run_full_task(tasks, "heartbeat", {})
    assert set(first) == {"beat"}
    (next_run,) = await find_enqueued_tasks(tasks, "heartbeat")
    assert (next_run["queue"], next_run["args"]) == ("periodic", [{}])
    assert next_run["timestamp"] is not None
    # Running it again keeps one chain: still one delayed copy.
    assert (await run_full_task(tasks, "heartbeat", {}))["beat"] == first["beat"] + 1
    assert len(await find_enqueued_tasks(tasks, "heartbeat")) == 1


async def test_minute_report_is_scheduled_every_minute(tasks: Tasks) -> None:
    task = tasks.task("minute_report")
    (cron,) = (Cron.parse(expression) for expression in task.schedule)
    start = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    assert all(cron.matches(start + timedelta(minutes=m)) for m in (0, 1, 59, 61))
    report = await run_full_task(tasks, "minute_report", {})
    assert report["report"].startswith("minute ending ")


async def test_the_timing_middleware_wraps_every_run(
    tasks: Tasks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="example.app")
    await run_full_task(tasks, "signup", {"email": "ada@example.com"})
    with pytest.raises(ConnectionError):
        await run_full_task(tasks, "import_feed", {})
    lines = [r.getMessage() for r in caplog.records if r.name == "example.app"]
    assert [line.split(" took ")[0] for line in lines] == [
        "timing: signup on default",
        "timing: import_feed on default",
    ]
    assert lines[0].endswith("(ok)")
    assert lines[1].endswith("did not answer)")
