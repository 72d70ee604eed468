"""Apps on a real Redis: configuration (files, environment, every refusal), the node roles,
``queues`` functions, cron schedules across two scheduler nodes, and the app commands
(``start``, ``task enqueue``, ``generate task``, ``details``)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import Queue
from pyresque.cli import main
from pyresque.connection.settings import DEFAULT_URL
from pyresque.errors import ConfigurationError
from pyresque.tasks import Task, TaskDefinitionError, TaskMiddleware, Tasks
from pyresque.tasks.app import App
from pyresque.tasks.config import TasksConfig, load_config
from pyresque.testing import poll_until, wait_until
from tests.processes import LoggedProcess

TICK = """
from pyresque.tasks import Task


class Tick(Task):
    name = "tick"
    queue = "periodic"
    frequency = 60_000

    async def run(self, params, worker):
        return "ticked"
"""

ECHO = """
from pyresque.tasks import Input, Task


class Echo(Task):
    name = "echo"
    queue = "default"
    inputs = {"id": Input(required=True, validator=lambda v: isinstance(v, int))}

    async def run(self, params, worker):
        return params["id"]
"""

NAP = """
import asyncio

from pyresque.tasks import Task


class Nap(Task):
    name = "nap"
    queue = "default"

    async def run(self, params, worker):
        await asyncio.sleep(params.get("seconds", 60))
"""


def cron_task(schedule: str) -> str:
    return f"""
from pyresque.tasks import Task


class Report(Task):
    name = "report"
    queue = "reports"
    schedule = [{schedule!r}]

    async def run(self, params, worker):
        return "reported"
"""


def write_app(parent: Path, config: str = "", **tasks: str) -> Path:
    """An app folder: ``pyresque.toml`` holding ``config`` and a tasks folder. Each folder
    name is unique: task modules are cached by their last path parts."""
    folder = parent / f"app_{uuid.uuid4().hex[:8]}"
    (folder / "tasks").mkdir(parents=True)
    (folder / "pyresque.toml").write_text(config)
    for name, source in tasks.items():
        (folder / "tasks" / f"{name}.py").write_text(source)
    return folder


def connection(redis_url: str, namespace: str, **options: Any) -> str:
    lines = [f'redis = "{redis_url}"', f'namespace = "{namespace}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


# -- configuration ---------------------------------------------------------------------------


def test_defaults_are_actionheros(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config == TasksConfig(redis=DEFAULT_URL)
    assert (config.scheduler, config.queues, config.timeout) == (False, ("*",), 5000)
    assert (config.min_task_processors, config.max_task_processors) == (0, 0)
    assert (config.check_timeout, config.max_event_loop_delay) == (500, 5)
    assert (config.stuck_worker_timeout, config.retry_stuck_jobs) == (3_600_000, False)
    assert (config.namespace, config.dialect, config.tasks_path) == ("resque", "node", "tasks")
    assert config.worker_logging["success"] == logging.INFO
    assert config.worker_logging["poll"] == logging.DEBUG
    assert config.scheduler_logging["enqueue"] == logging.DEBUG
    assert config.cron_timezone == "UTC" and config.queues_refresh == 60_000
    assert load_config(tmp_path, environ={"REDIS_URL": "redis://r:1/2"}).redis == "redis://r:1/2"


def test_pyresque_toml_sets_options_at_its_top_level(tmp_path: Path) -> None:
    (tmp_path / "pyresque.toml").write_text(
        'scheduler = true\nqueues = ["high", "low"]\nmin_task_processors = 1\n'
        "max_task_processors = 4\ntimeout = 100\nredis = 'redis://example:6380/3'\n"
        'namespace = "app"\ndialect = "ruby"\ntasks_path = "jobs"\n'
        'cron_timezone = "Europe/Paris"\nretry_stuck_jobs = true\n'
        '[worker_logging]\nsuccess = "debug"\ninternalError = "crit"\npoll = false\n'
        '[scheduler_logging]\nworking_timestamp = "info"\nenqueue = "notice"\n'
    )
    config = load_config(tmp_path, environ={"REDIS_URL": "redis://ignored:1/0"})
    assert config.scheduler is True and config.queues == ("high", "low")
    assert (config.min_task_processors, config.max_task_processors, config.timeout) == (1, 4, 100)
    assert config.namespace == "app" and config.dialect == "ruby" and config.tasks_path == "jobs"
    assert config.retry_stuck_jobs is True and str(config.zone) == "Europe/Paris"
    # Actionhero's names for the events, and its levels; false silences an event.
    assert config.worker_logging["success"] == logging.DEBUG
    assert config.worker_logging["error"] == logging.CRITICAL
    assert config.worker_logging["poll"] is None
    assert config.scheduler_logging["workingTimestamp"] == logging.INFO
    assert config.scheduler_logging["enqueue"] == logging.INFO
    # REDIS_URL from the environment wins over the file (PYRESQUE_REDIS_URL over both).
    assert config.redis == "redis://ignored:1/0"
    assert load_config(tmp_path, environ={}).redis == "redis://example:6380/3"


def test_pyproject_tool_table_is_read_when_there_is_no_pyresque_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.pyresque]\nmax_task_processors = 3\nqueues = "a, b"\n'
    )
    config = load_config(tmp_path, environ={})
    assert config.max_task_processors == 3 and config.queues == ("a", "b")
    (tmp_path / "pyresque.toml").write_text("max_task_processors = 7\n")
    assert load_config(tmp_path, environ={}).max_task_processors == 7  # the own file wins
    (tmp_path / "pyresque.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(tmp_path, environ={}) == TasksConfig(redis=DEFAULT_URL)


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyresque.toml").write_text(
        'min_task_processors = 1\nmax_task_processors = 5\nnamespace = "file"\n'
        'redis = "redis://file:1/0"\n[worker_logging]\nsuccess = "debug"\n'
    )
    environ = {
        "PYRESQUE_MIN_TASK_PROCESSORS": "2",
        "PYRESQUE_QUEUES": "a,b",
        "PYRESQUE_SCHEDULER": "true",
        "PYRESQUE_REDIS_URL": "redis://env:2/0",
        "REDIS_URL": "redis://generic:3/0",
        "PYRESQUE_NAMESPACE": "env",
        "PYRESQUE_CHECK_TIMEOUT": "250.5",
        "PYRESQUE_RETRY_STUCK_JOBS": "Yes",
        "PYRESQUE_WORKER_LOGGING": "poll=info, job=off",
        "PYRESQUE_CRON_TIMEZONE": "America/New_York",
        "PYRESQUE_PROCESSES": "3",
        "PYRESQUE_TEST_REDIS": "auto",  # not an option: other PYRESQUE_ variables are left be
    }
    config = load_config(tmp_path, environ=environ)
    assert config.min_task_processors == 2 and config.max_task_processors == 5
    assert config.queues == ("a", "b") and config.scheduler is True
    assert config.redis == "redis://env:2/0" and config.namespace == "env"
    assert config.check_timeout == 250.5 and config.retry_stuck_jobs is True
    assert config.cron_timezone == "America/New_York" and config.processes == 3
    # An environment map adds to the file's: success stays as the file set it.
    assert config.worker_logging["success"] == logging.DEBUG
    assert config.worker_logging["poll"] == logging.INFO and config.worker_logging["job"] is None
    del environ["PYRESQUE_REDIS_URL"]
    assert load_config(tmp_path, environ=environ).redis == "redis://generic:3/0"


ENV_REFUSALS = [
    ("PYRESQUE_MIN_TASK_PROCESSORS", "x",
     "min_task_processors: expected an integer >= 0, got 'x' (from PYRESQUE_MIN_TASK_PROCESSORS)"),
    ("PYRESQUE_MAX_TASK_PROCESSORS", "-1",
     "max_task_processors: expected an integer >= 0, got '-1' (from PYRESQUE_MAX_TASK_PROCESSORS)"),
    ("PYRESQUE_SCHEDULER", "maybe",
     "scheduler: expected true or false, got 'maybe' (from PYRESQUE_SCHEDULER)"),
    ("PYRESQUE_RETRY_STUCK_JOBS", "2",
     "retry_stuck_jobs: expected true or false, got '2' (from PYRESQUE_RETRY_STUCK_JOBS)"),
    ("PYRESQUE_TIMEOUT", "0",
     "timeout: expected a number of ms > 0, got '0' (from PYRESQUE_TIMEOUT)"),
    ("PYRESQUE_CHECK_TIMEOUT", "soon",
     "check_timeout: expected a number of ms > 0, got 'soon' (from PYRESQUE_CHECK_TIMEOUT)"),
    ("PYRESQUE_MAX_EVENT_LOOP_DELAY", "-5",
     "max_event_loop_delay: expected a number of ms >= 0, got '-5' "
     "(from PYRESQUE_MAX_EVENT_LOOP_DELAY)"),
    ("PYRESQUE_STUCK_WORKER_TIMEOUT", "inf",
     "stuck_worker_timeout: expected a number of ms >= 0, got 'inf' "
     "(from PYRESQUE_STUCK_WORKER_TIMEOUT)"),
    ("PYRESQUE_QUEUES_REFRESH", "nan",
     "queues_refresh: expected a number of ms >= 0, got 'nan' (from PYRESQUE_QUEUES_REFRESH)"),
    ("PYRESQUE_QUEUES", " , ",
     "queues: expected a list of queue names, a comma-separated string or "
     "{function = \"module:attr\"}, got ' , ' (from PYRESQUE_QUEUES)"),
    ("PYRESQUE_DIALECT", "python",
     "dialect: expected 'node' or 'ruby', got 'python' (from PYRESQUE_DIALECT)"),
    ("PYRESQUE_TASKS_PATH", " ",
     "tasks_path: expected a folder, got ' ' (from PYRESQUE_TASKS_PATH)"),
    ("PYRESQUE_CRON_TIMEZONE", "Mars/Olympus",
     "cron_timezone: expected an IANA time zone such as 'Europe/Paris', got 'Mars/Olympus' "
     "(from PYRESQUE_CRON_TIMEZONE)"),
    ("PYRESQUE_REDIS_URL", "http://user:secret@host/0",
     "redis: unsupported Redis URL 'http://***@host/0': use redis://, rediss://, unix://, "
     "redis+sentinel:// or rediss+sentinel:// (from PYRESQUE_REDIS_URL)"),
    ("REDIS_URL", "redis://host:port/0",
     "redis: bad Redis URL 'redis://host:port/0'"),
    ("PYRESQUE_WORKER_LOGGING", "poll",
     "worker_logging: expected event=level pairs separated by commas, got 'poll' "
     "(from PYRESQUE_WORKER_LOGGING)"),
    ("PYRESQUE_WORKER_LOGGING", "poll=loud",
     "worker_logging.poll: expected a level (debug, info, notice, warning, warn, error, crit, "
     "critical, alert, emerg, off, none) or false, got 'loud' (from PYRESQUE_WORKER_LOGGING)"),
    ("PYRESQUE_SCHEDULER_LOGGING", "leeder=info",
     "scheduler_logging: unknown event 'leeder' (from PYRESQUE_SCHEDULER_LOGGING); events are"),
    ("PYRESQUE_MIN_TASK_PROCESSORS", "3",
     "min_task_processors: expected at most max_task_processors (0), got 3 "
     "(from PYRESQUE_MIN_TASK_PROCESSORS)"),
    ("PYRESQUE_PROCESSES", "0",
     "processes: expected an integer >= 1, got '0' (from PYRESQUE_PROCESSES)"),
    ("PYRESQUE_PROCESSES", "2",
     "processes: 2 processes of no workers (max_task_processors is 0); set "
     "max_task_processors, or processes = 1 (from PYRESQUE_PROCESSES)"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "value", "message"), ENV_REFUSALS)
def test_bad_environment_values_are_refused_naming_option_and_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(tmp_path, environ={variable: value})
    assert str(info.value).startswith(message)


FILE_REFUSALS = [
    ("workers = 2", "workers: unknown option (from {file}); options are scheduler, queues"),
    ("[tasks]\nscheduler = true", "tasks: unknown option (from {file})"),
    # Actionhero's dead config (never read since 2021): refused, not silently kept.
    ("resque_overrides = {}", "resque_overrides: unknown option (from {file})"),
    ("scheduler = 1", "scheduler: expected true or false, got 1 (from {file})"),
    ("min_task_processors = true",
     "min_task_processors: expected an integer >= 0, got True (from {file})"),
    ("max_task_processors = 2.5",
     "max_task_processors: expected an integer >= 0, got 2.5 (from {file})"),
    ("timeout = -1", "timeout: expected a number of ms > 0, got -1 (from {file})"),
    ("queues = []", "queues: expected a list of queue names, a comma-separated string or "
     "{{function = \"module:attr\"}}, got [] (from {file})"),
    ("queues = [1]", "queues: expected a list of queue names"),
    ("queues = {function = 'nowhere_at_all:pick'}",
     "queues: cannot import 'nowhere_at_all:pick': ModuleNotFoundError"),
    ("queues = {function = 'pick'}",
     "queues: expected a function reference \"module:attr\", got 'pick' (from {file})"),
    ("queues = {call = 'a:b'}", "queues: expected {{function = \"module:attr\"}}"),
    ("namespace = 3", "namespace: expected a string, got 3 (from {file})"),
    ("redis = 'redis://h:xx/0'", "redis: bad Redis URL 'redis://h:xx/0'"),
    ("worker_logging = 'info'", "worker_logging: expected a table of event = level, got 'info'"),
    ("[worker_logging]\npoll = 'loud'", "worker_logging.poll: expected a level"),
    ("[worker_logging]\nsucess = 'info'", "worker_logging: unknown event 'sucess' (from {file})"),
    ("[scheduler_logging]\nstart = -1", "scheduler_logging.start: expected a level"),
    ("cron_timezone = 'Nowhere'", "cron_timezone: expected an IANA time zone"),
    ("min_task_processors = 2\nmax_task_processors = 1",
     "min_task_processors: expected at most max_task_processors (1), got 2 (from {file})"),
    ("scheduler = tru", "cannot read {path}: "),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), FILE_REFUSALS)
def test_bad_file_values_are_refused_naming_option_and_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "pyresque.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigurationError) as info:
        load_config(tmp_path, environ={})
    assert str(info.value).startswith(message.format(file=path, path=path))


def test_pyproject_refusals_name_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pyresque]\ntimeout = 'soon'\n")
    with pytest.raises(ConfigurationError, match=r"\(from .*pyproject.toml \[tool.pyresque\]\)"):
        load_config(tmp_path, environ={})


def test_tasks_config_in_code_is_checked_too() -> None:
    with pytest.raises(ConfigurationError, match="expected an integer >= 0, got -1 \\(from Task"):
        TasksConfig(max_task_processors=-1)
    config = TasksConfig(queues=["a"], worker_logging={"poll": logging.INFO, "job": None})
    assert config.queues == ("a",) and config.worker_logging["poll"] == logging.INFO
    assert config.worker_logging["job"] is None and config.worker_logging["success"] == logging.INFO
    with pytest.raises(TypeError):
        config.worker_logging["poll"] = 1


def test_a_queues_function_is_named_in_the_file(tmp_path: Path) -> None:
    module = f"queues_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("def pick():\n    return ['x', 'y']\n")
    (tmp_path / "pyresque.toml").write_text(f'queues = {{function = "{module}:pick"}}\n')
    config = load_config(tmp_path, environ={})
    assert callable(config.queues) and config.queues() == ["x", "y"]


# -- app roles -------------------------------------------------------------------------------


async def test_an_enqueue_only_node_runs_nothing_but_enqueues(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    folder = write_app(tmp_path, connection(redis_url, resque_namespace), tick=TICK, echo=ECHO)
    app = App.from_path(folder, environ={})
    assert app.roles == ("enqueue",)
    async with app:
        assert app.multi_worker is None and app.scheduler is None and app.cron is None
        assert await app.tasks.enqueue("echo", {"id": 1}) is True
        assert await app.tasks.workers() == {}
        assert await app.tasks.queue.leader() is None
        assert await app.tasks.queue.length("periodic") == 0  # no boot enqueue here
    assert app.running is False


async def test_a_scheduler_node_enqueues_periodic_tasks_a_processing_node_runs_them(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    base = connection(redis_url, resque_namespace, timeout=100)
    scheduling = App.from_path(
        write_app(tmp_path, base + "scheduler = true\n", tick=TICK), environ={}, name="sched"
    )
    processing = App.from_path(
        write_app(tmp_path, base + "max_task_processors = 1\n", tick=TICK), environ={}, name="w"
    )
    assert scheduling.roles == ("enqueue", "schedule")
    assert processing.roles == ("enqueue", "process")
    async with scheduling:
        assert [j["class"] for j in await scheduling.tasks.queued("periodic")] == ["tick"]
        async with processing:
            assert await poll_until(lambda: _processed(processing.tasks), timeout=10) >= 1
            # The run re-enqueued the task frequency ms on: one delayed copy, nothing queued.
            assert await processing.tasks.queue.count_all_scheduled_jobs() == 1
            assert await processing.tasks.queue.length("periodic") == 0
        assert scheduling.scheduler is not None and scheduling.scheduler.leader


async def now(value: Any) -> Any:
    """``value``, as an awaitable probe for poll_until."""
    return value


def _leads(app: App) -> bool:
    return app.scheduler is not None and app.scheduler.leader


async def _processed(tasks: Tasks) -> int:
    return int((await tasks.stats()).get("processed") or 0)


async def test_a_node_with_both_roles_and_min_zero_runs_one_worker_and_stop_cleans_up(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    config = connection(
        redis_url, resque_namespace, scheduler=True, max_task_processors=2, timeout=100
    )
    config += '[worker_logging]\nsuccess = "debug"\n[scheduler_logging]\npoll = "info"\n'
    app = App.from_path(write_app(tmp_path, config, tick=TICK), environ={}, name="both")
    await app.start()
    try:
        assert app.roles == ("enqueue", "process", "schedule")
        pool, scheduler = app.multi_worker, app.scheduler
        assert pool is not None and scheduler is not None
        # Actionhero writes min 1 into its config; here only the pool gets it.
        assert app.config.min_task_processors == 0 and pool.min_task_processors == 1
        await poll_until(lambda: _processed(app.tasks), timeout=10)
        assert await app.tasks.workers()  # registered while running
        assert await app.tasks.queue.leader() == "both"
        assert pool.workers[0].events.levels["success"] == logging.DEBUG
        assert scheduler.events.levels["poll"] == logging.INFO
    finally:
        await app.stop()
    async with Queue(redis_url, namespace=resque_namespace) as probe:
        assert await probe.workers() == {}
        assert await probe.leader() is None


async def test_a_periodic_chain_keeps_going_through_the_scheduler(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    """Each run re-enqueues the task with a delay and the scheduler moves it back: the
    chain goes on (DelayQueueLock checks enqueues, not the scheduler's moves)."""
    config = connection(
        redis_url, resque_namespace, scheduler=True, max_task_processors=1, timeout=50
    )
    fast = TICK.replace("frequency = 60_000", "frequency = 100")
    app = App.from_path(write_app(tmp_path, config, tick=fast), environ={})
    async with app:
        assert await poll_until(lambda: _ran_at_least(app.tasks, 3), timeout=15)
        assert "DelayQueueLock" in app.tasks.jobs["tick"].plugins  # enqueues still check it


async def _ran_at_least(tasks: Tasks, runs: int) -> bool:
    return await _processed(tasks) >= runs


async def test_a_delayed_tasks_middleware_runs_once_when_delayed_not_again_when_moved(
    redis_url: str, resque_namespace: str
) -> None:
    # Actionhero's scheduler has no jobs, so its moves run no hooks; pyresque's App does
    # the same, and runs pre/post_enqueue at enqueue_at (Actionhero runs them never).
    calls: list[tuple[str, Any]] = []

    class Later(Task):
        name = "later"
        middleware = ("count",)

        async def run(self, params: Any, worker: Any) -> str:
            calls.append(("run", dict(params)))
            return "ran"

    registry = Tasks(redis_url, namespace=resque_namespace)
    registry.add_middleware(
        TaskMiddleware(
            "count",
            pre_enqueue=lambda p: calls.append(("pre", p.args[0])),
            post_enqueue=lambda p: calls.append(("post", p.args[0])),
        )
    )
    registry.add(Later)
    config = TasksConfig(
        redis=redis_url, namespace=resque_namespace, scheduler=True, max_task_processors=1,
        timeout=50,
    )  # fmt: skip
    app = App(config, tasks=registry, name="mover")
    try:
        async with app:
            assert await registry.enqueue_in(0, "later", {"n": 1}) is True

            async def ran() -> bool:
                return ("run", {"n": 1}) in calls

            assert await poll_until(ran, timeout=10)
        assert calls == [("pre", {"n": 1}), ("post", {"n": 1}), ("run", {"n": 1})]
    finally:
        await registry.aclose()


async def test_a_queues_function_is_called_again_and_the_pool_follows_it(
    redis_url: str, resque_namespace: str
) -> None:
    wanted = ["a"]
    calls = 0

    async def pick() -> list[str]:
        nonlocal calls
        calls += 1
        return list(wanted)

    class OnB(Task):
        name = "on_b"
        queue = "b"

        async def run(self, params: Any, worker: Any) -> str:
            return "ran"

    registry = Tasks(redis_url, namespace=resque_namespace)
    registry.add(OnB)
    config = TasksConfig(
        redis=redis_url, namespace=resque_namespace, queues=pick, queues_refresh=20,
        max_task_processors=1, timeout=100,
    )  # fmt: skip
    app = App(config, tasks=registry, name="picky")
    try:
        async with app:
            assert app.queues == ["a"]
            await poll_until(registry.workers)
            assert set((await registry.workers()).values()) == {"a"}
            await registry.enqueue("on_b", {})
            await poll_until(lambda: now(calls >= 3))  # called again and again
            assert await registry.queue.length("b") == 1  # not a queue of this pool yet
            wanted[:] = ["b"]
            await poll_until(lambda: _processed(registry), timeout=10)
            assert app.queues == ["b"]
            assert set((await registry.workers()).values()) == {"b"}
        assert await registry.workers() == {}
    finally:
        await registry.aclose()


async def test_the_app_loads_its_middleware_module(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    folder = write_app(tmp_path, connection(redis_url, resque_namespace), echo=ECHO)
    (folder / "middleware.py").write_text(
        "from pyresque.tasks import TaskMiddleware\n"
        "MIDDLEWARE = [TaskMiddleware('veto', global_=True, pre_enqueue=lambda p: False)]\n"
    )
    app = App.from_path(folder, environ={})
    try:
        assert list(app.tasks.middleware) == ["veto"]
        assert await app.tasks.enqueue("echo", {"id": 1}) is False
    finally:
        await app.stop()


def test_a_bad_schedule_or_a_missing_tasks_folder_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(TaskDefinitionError, match="schedule of task `report`: '61 \\* \\* \\* \\*"):
        App.from_path(write_app(tmp_path, "", report=cron_task("61 * * * *")), environ={})
    folder = write_app(tmp_path, 'tasks_path = "jobs"\n')
    with pytest.raises(ConfigurationError, match="tasks_path: no folder .*jobs"):
        App.from_path(folder, environ={})


# -- cron ------------------------------------------------------------------------------------


async def test_the_leader_enqueues_a_scheduled_task_at_the_current_minute_on_boot(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    config = connection(redis_url, resque_namespace, scheduler=True)
    app = App.from_path(write_app(tmp_path, config, report=cron_task("* * * * *")), environ={})
    async with app:
        await poll_until(lambda: app.tasks.queue.length("reports"), timeout=10)
        assert [j["class"] for j in await app.tasks.queued("reports")] == ["report"]


async def test_two_scheduler_nodes_enqueue_each_tick_at_most_once(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    clock = [datetime(2028, 2, 28, 23, 59, 30, tzinfo=UTC)]
    config = connection(redis_url, resque_namespace, scheduler=True)
    folder = write_app(tmp_path, config, report=cron_task("* * * * *"))
    nodes = [
        App.from_path(folder, environ={}, name=name, now=lambda: clock[0])
        for name in ("node-a", "node-b")
    ]
    async with nodes[0], nodes[1]:
        (leader,) = await poll_until(lambda: now([n for n in nodes if _leads(n)]))
        (follower,) = [n for n in nodes if n is not leader]
        assert leader.cron is not None and follower.cron is not None
        # The boot tick: the leader enqueued 23:59 (by the injected clock).
        await poll_until(lambda: leader.tasks.queue.length("reports"))
        for second in (0, 10, 59):
            at = datetime(2028, 2, 29, 0, 0, second, tzinfo=UTC)
            assert await follower.cron.tick(at) == []  # not the leader
            fired = await leader.cron.tick(at)
            assert fired == (["report"] if second == 0 else [])
        key = f"{resque_namespace}:cron:report:{int(datetime(2028, 2, 29, tzinfo=UTC).timestamp())}"
        assert resque_redis.get(key) == leader.scheduler.name.encode()
        assert 3500 < resque_redis.ttl(key) <= 3600
        # Even a node that wrongly believes it leads cannot enqueue a tick twice.
        assert follower.scheduler is not None
        follower.scheduler.leader = True
        at = datetime(2028, 2, 29, 0, 1, 5, tzinfo=UTC)
        results = await asyncio.gather(leader.cron.tick(at), follower.cron.tick(at))
        assert sorted(results) == [[], ["report"]]
        assert await leader.cron.tick(datetime(2028, 2, 29, 0, 0, 30, tzinfo=UTC)) == []
    assert await _length(redis_url, resque_namespace, "reports") == 3  # 23:59, 00:00, 00:01


async def test_the_leader_catches_up_minutes_its_own_loop_overslept(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    clock = [datetime(2030, 1, 1, 0, 0, 5, tzinfo=UTC)]
    config = connection(redis_url, resque_namespace, scheduler=True)
    config += 'cron_timezone = "America/New_York"\n'
    # 19:00 in New York is midnight UTC; every 2 minutes there.
    folder = write_app(tmp_path, config, report=cron_task("*/2 19 * * *"))
    app = App.from_path(folder, environ={}, now=lambda: clock[0])
    async with app:
        assert app.scheduler is not None and app.cron is not None
        await poll_until(lambda: now(_leads(app)))
        await poll_until(lambda: app.tasks.queue.length("reports"))  # 19:00 at boot
        # Asleep until 00:09: 00:02 ... 00:08 due, but only CATCH_UP (5) minutes back.
        fired = await app.cron.tick(datetime(2030, 1, 1, 0, 9, 1, tzinfo=UTC))
        assert fired == ["report", "report"]  # 00:06 and 00:08 (00:05 .. 00:09)
    assert await _length(redis_url, resque_namespace, "reports") == 3


async def _length(redis_url: str, namespace: str, queue: str) -> int:
    async with Queue(redis_url, namespace=namespace) as probe:
        return await probe.length(queue)


# -- the commands ----------------------------------------------------------------------------


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    for name in list(os.environ):
        if name.startswith("PYRESQUE_") and name != "PYRESQUE_TEST_REDIS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", redis_url)


@pytest.mark.usefixtures("app_env")
def test_task_enqueue_validates_inputs_and_says_what_it_did(
    tmp_path: Path,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = str(write_app(tmp_path, connection(redis_url, resque_namespace), echo=ECHO))
    assert main(["task", "enqueue", "echo", "--inputs", '{"id": 7}', "--app", folder]) == 0
    assert "echo enqueued on queue 'default'" in capsys.readouterr().out
    assert resque_redis.lrange(f"{resque_namespace}:queue:default", 0, -1) == [
        b'{"class":"echo","queue":"default","args":[{"id":7}]}'
    ]
    assert main(["task", "enqueue", "echo", "--inputs", '{"id": 8}', "--in", "60000",
                 "--app", folder]) == 0  # fmt: skip
    assert "echo delayed until " in capsys.readouterr().out
    refusals = [
        (["nope"], 1, "pyresque: task nope not found"),
        (["echo"], 1, "pyresque: id is a required input for task echo"),
        (["echo", "--inputs", '{"id": "x"}'], 1, "x is not a valid value for id in task echo"),
        (["echo", "--inputs", "{id"], 2, "pyresque: --inputs '{id' is not valid JSON: Expecting"),
        (["echo", "--inputs", "[1]"], 2, "--inputs must be a JSON object"),
    ]
    for args, status, message in refusals:
        assert main(["task", "enqueue", *args, "--app", folder]) == status
        assert message in capsys.readouterr().err
    assert resque_redis.llen(f"{resque_namespace}:queue:default") == 1


@pytest.mark.usefixtures("app_env")
def test_details_exits_1_when_a_queue_is_over_the_limit(
    tmp_path: Path,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = str(write_app(tmp_path, connection(redis_url, resque_namespace), echo=ECHO))
    for n in range(3):
        main(["task", "enqueue", "echo", "--inputs", json.dumps({"id": n}), "--app", folder])
    capsys.readouterr()
    assert main(["details", "--app", folder]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "3" in out and "leader: (none)" in out
    assert main(["details", "--app", folder, "--max-queue-length", "2", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["queues"] == {"default": {"length": 3}}
    assert "queue 'default' holds 3 jobs, over 2" in captured.err


@pytest.mark.usefixtures("app_env")
def test_generate_task_writes_a_task_and_a_passing_test_and_never_overwrites(
    tmp_path: Path, redis_url: str, resque_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_app(tmp_path, connection(redis_url, resque_namespace))
    args = ["generate", "task", "--name", "send-mail", "--queue", "mail", "--frequency",
            "30000", "--description", 'sends "mail"', "--app", str(folder)]  # fmt: skip
    assert main(args) == 0
    task, test = folder / "tasks" / "send-mail.py", folder / "tests" / "test_send_mail.py"
    assert f"wrote {task} and {test}" in capsys.readouterr().out
    source = task.read_text()
    assert "class SendMail(Task):" in source and 'description = "sends \\"mail\\""' in source
    assert "frequency = 30000" in source
    app = App.from_path(folder, environ={})
    assert app.tasks.task("send-mail").queue == "mail" and app.tasks.task("send-mail").periodic
    # The generated test passes, on the pytest plugin's Redis.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        cwd=folder, capture_output=True, text=True, timeout=120,
        env={**os.environ, "REDIS_URL": redis_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    task.write_text("# mine\n")
    assert main(args) == 2
    assert "already exist(s); nothing was written" in capsys.readouterr().err
    assert task.read_text() == "# mine\n"
    assert main(["generate", "task", "--name", "../x", "--queue", "q", "--app", str(folder)]) == 2
    assert "--name '../x'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):
        main(["generate", "task", "--name", "ok", "--queue", "q", "--frequency", "-1"])
    assert "argument --frequency: must be a number of ms" in capsys.readouterr().err


def app_process(folder: Path, redis_url: str) -> LoggedProcess:
    """``pyresque start`` in a subprocess."""
    return LoggedProcess(
        [sys.executable, "-m", "pyresque", "start", "--app", str(folder)],
        env={**os.environ, "REDIS_URL": redis_url},
    )


def test_start_runs_the_node_until_sigterm_then_stops_cleanly(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    config = connection(
        redis_url, resque_namespace, scheduler=True, max_task_processors=1, timeout=100
    )
    node = app_process(write_app(tmp_path, config, tick=TICK), redis_url)
    ns = resque_namespace
    try:
        wait_until(lambda: node.logged("running; SIGTERM or SIGINT stops it"), timeout=20)
        wait_until(lambda: int(resque_redis.get(f"{ns}:stat:processed") or 0) >= 1, timeout=20)
        assert resque_redis.get(f"{ns}:resque_scheduler_leader_lock") is not None
        assert resque_redis.smembers(f"{ns}:workers")
        node.proc.send_signal(signal.SIGTERM)
        assert node.wait() == 0, "".join(node.lines)
    finally:
        node.close()
    assert node.logged("stopped")
    assert resque_redis.get(f"{ns}:resque_scheduler_leader_lock") is None
    assert resque_redis.smembers(f"{ns}:workers") == set()


def test_a_second_sigterm_cuts_the_running_job_off(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    config = connection(redis_url, resque_namespace, max_task_processors=1, timeout=100)
    ns = resque_namespace
    resque_redis.rpush(f"{ns}:queue:default", '{"class":"nap","queue":"default","args":[{}]}')
    resque_redis.sadd(f"{ns}:queues", "default")
    node = app_process(write_app(tmp_path, config, nap=NAP), redis_url)
    try:
        wait_until(lambda: resque_redis.llen(f"{ns}:queue:default") == 0, timeout=20)
        node.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: node.logged("stopping (a second signal cuts running jobs off)"))
        assert node.proc.poll() is None  # the nap (60 s) may finish: it is waited for
        node.proc.send_signal(signal.SIGTERM)
        assert node.wait(20) == 0, "".join(node.lines)
    finally:
        node.close()
    assert node.logged("cutting running jobs off")
    assert resque_redis.llen(f"{ns}:failed") == 1  # settled as unfinished: failed
    assert resque_redis.smembers(f"{ns}:workers") == set()
