"""Worker and scheduler options: every field of ``WorkerOptions`` and ``SchedulerOptions``
can be set from every place that builds a worker or a scheduler (the constructors, a
MultiWorker's workers, ``pyresque worker``/``scheduler``, an app's configuration), and a
bad value is refused the same way wherever it comes from.

The places are driven from the dataclasses' fields: a new field fails these tests until it
has a sample value below, a flag named after it and a configuration key named after it
(or an entry in the short tables of exceptions, each with its reason).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

import pyresque.cli.worker
import pyresque.scheduler
from pyresque import ConfigurationError, MultiWorker, Scheduler, Worker
from pyresque.cli import main
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import get_dialect
from pyresque.scheduler.options import SchedulerKeywords, SchedulerOptions
from pyresque.tasks import App
from pyresque.tasks.config import load_config
from pyresque.testing import poll_until
from pyresque.worker.events import LEVEL_NAMES
from pyresque.worker.options import WorkerKeywords, WorkerOptions

JOBS: dict[str, Any] = {}  # what --jobs names below

Options = type[WorkerOptions] | type[SchedulerOptions]


def fixed_clock() -> float:
    return 1_800_000_000.0


def worker_samples(namespace: str) -> dict[str, Any]:
    """A value other than its default for each WorkerOptions field, as a user spells it."""
    return {
        "name": "box",
        "namespace": namespace,
        "dialect": "ruby",
        "timeout": 250,
        "job_timeout": 1500,
        "shutdown_grace": 7,
        "unfinished": "requeue",
        "heartbeat_interval": 2.5,
        "log_levels": {"poll": "info", "success": "off"},
        "clock": fixed_clock,
    }


def scheduler_samples(namespace: str) -> dict[str, Any]:
    """A value other than its default for each SchedulerOptions field."""
    return {
        "name": "box",
        "namespace": namespace,
        "dialect": "ruby",
        "timeout": 250,
        "leader_lock_timeout": 7,
        "stuck_worker_timeout": 1000,
        "retry_stuck_jobs": True,
        "both_locks": True,
        "log_levels": {"poll": "info", "leader": "off"},
        "clock": fixed_clock,
    }


SAMPLES: dict[Options, Callable[[str], dict[str, Any]]] = {
    WorkerOptions: worker_samples,
    SchedulerOptions: scheduler_samples,
}
# Where a place spells an option otherwise than by its field's name, or cannot set it.
FLAGS = {"shutdown_grace": "--grace"}  # else --<field-name-with-dashes>
CONFIG_KEYS: dict[Options, dict[str, str]] = {  # else the field's name
    WorkerOptions: {"log_levels": "worker_logging"},
    SchedulerOptions: {"log_levels": "scheduler_logging"},
}
APP_ARGUMENT = {"name"}  # App(config, name=...): one per node, not in a shared file
CODE_ONLY = {"clock"}  # a function: set in code only (tests inject one)


def assert_set(options: object, samples: Mapping[str, Any], *, skip: Collection[str] = ()) -> None:
    """Each option of ``samples`` holds its sample (as the options keep it)."""
    for field, sample in samples.items():
        if field in skip:
            continue
        held = getattr(options, field)
        if field == "log_levels":
            assert {event: held[event] for event in sample} == {
                event: LEVEL_NAMES[level] for event, level in sample.items()
            }, field
        elif field == "dialect":
            assert held == get_dialect(sample), field
        else:
            assert held == sample, field


def flags(samples: Mapping[str, Any]) -> list[str]:
    """The command line setting every option of ``samples`` but the code-only ones."""
    argv: list[str] = []
    for field, sample in samples.items():
        if field in CODE_ONLY:
            continue
        flag = FLAGS.get(field, "--" + field.replace("_", "-"))
        if sample is True:
            argv.append(flag)
        elif isinstance(sample, dict):
            argv += [flag, ",".join(f"{event}={level}" for event, level in sample.items())]
        else:
            argv += [flag, str(sample)]
    return argv


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_the_samples_set_every_option_to_other_than_its_default(kind: Options) -> None:
    samples = SAMPLES[kind]("app")
    fields = dataclasses.fields(kind)
    assert list(samples) == [field.name for field in fields]
    defaults = kind()
    assert [f.name for f in fields if getattr(defaults, f.name) == samples[f.name]] == []


@pytest.mark.parametrize(
    ("kind", "keywords"),
    [(WorkerOptions, WorkerKeywords), (SchedulerOptions, SchedulerKeywords)],
    ids=["worker", "scheduler"],
)
def test_the_constructors_keywords_are_the_options_fields(kind: Options, keywords: type) -> None:
    assert typing.get_type_hints(keywords) == typing.get_type_hints(kind)


@pytest.mark.parametrize(
    ("built", "kind"),
    [(Worker, WorkerOptions), (MultiWorker, WorkerOptions), (Scheduler, SchedulerOptions)],
    ids=["Worker", "MultiWorker", "Scheduler"],
)
def test_the_constructors_take_the_options_fields_from_the_options_alone(
    built: type, kind: Options
) -> None:
    parameters = inspect.signature(built).parameters
    assert {field.name for field in dataclasses.fields(kind)} & set(parameters) == set()
    assert parameters["options"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["keywords"].kind is inspect.Parameter.VAR_KEYWORD


def test_every_worker_option_can_be_set_on_a_worker_by_keyword_or_by_options(
    redis_url: str, resque_namespace: str
) -> None:
    samples = worker_samples(resque_namespace)
    by_keyword = Worker(redis_url, "q", JOBS, **samples)
    by_options = Worker(redis_url, "q", JOBS, options=WorkerOptions(**samples))
    assert_set(by_keyword.options, samples)
    assert by_keyword.options == by_options.options
    assert by_keyword.name == f"box:{os.getpid()}"  # ruby: a name without a pid is the host
    assert (by_keyword.timeout, by_keyword.shutdown_grace) == (250, 7)  # the former attributes


def test_every_scheduler_option_can_be_set_on_a_scheduler_by_keyword_or_by_options(
    redis_url: str, resque_namespace: str
) -> None:
    samples = scheduler_samples(resque_namespace)
    by_keyword = Scheduler(redis_url, **samples)
    by_options = Scheduler(redis_url, options=SchedulerOptions(**samples))
    assert_set(by_keyword.options, samples)
    assert by_keyword.options == by_options.options
    assert by_keyword.lock_values == ("box", "box")  # both locks, named
    assert by_keyword.leader_lock_timeout == 7


async def test_every_worker_option_reaches_a_multiworkers_workers(
    redis_url: str, resque_namespace: str
) -> None:
    samples = worker_samples(resque_namespace)
    pool = MultiWorker(redis_url, "q", JOBS, check_timeout=20, max_event_loop_delay=1000, **samples)
    assert_set(pool.options, samples)
    await pool.start()
    try:
        workers = await poll_until(_async(lambda: pool.workers))
        assert_set(workers[0].options, samples, skip={"name"})
        assert workers[0].name == f"box+1:{os.getpid()}"  # ruby: the id on the host part
    finally:
        await pool.stop()


@pytest.mark.parametrize("pool", [False, True], ids=["worker", "multiworker"])
def test_every_worker_option_but_the_clock_has_a_flag_on_pyresque_worker(
    pool: bool, monkeypatch: pytest.MonkeyPatch, redis_url: str, resque_namespace: str
) -> None:
    built: list[Worker | MultiWorker] = []

    async def run(workers: list[Worker | MultiWorker], **_: Any) -> int:
        built.extend(workers)
        return 0

    monkeypatch.setattr(pyresque.cli.worker, "run_until_signalled", run)
    samples = worker_samples(resque_namespace)
    argv = ["worker", "--redis", redis_url, "--queues", "q", "--jobs", f"{__name__}:JOBS"]
    assert main([*argv, *flags(samples), *(["--max", "2"] if pool else [])]) == 0
    [worker] = built
    assert isinstance(worker, MultiWorker if pool else Worker)
    assert_set(worker.options, samples, skip=CODE_ONLY)


def test_every_scheduler_option_but_the_clock_has_a_flag_on_pyresque_scheduler(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, resque_namespace: str
) -> None:
    built: list[Scheduler] = []

    async def run(scheduler: Scheduler, **_: Any) -> int:
        built.append(scheduler)
        return 0

    monkeypatch.setattr(pyresque.scheduler, "run_scheduler_until_signalled", run)
    samples = scheduler_samples(resque_namespace)
    assert main(["scheduler", "--redis", redis_url, *flags(samples)]) == 0
    [scheduler] = built
    assert_set(scheduler.options, samples, skip=CODE_ONLY)


async def test_every_option_but_the_clock_can_be_set_in_an_apps_configuration(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> None:
    config: dict[str, Any] = {
        "scheduler": True,
        "max_task_processors": 1,
        "check_timeout": 20,
        "max_event_loop_delay": 1000,
        "redis": redis_url,
    }
    for kind, samples in SAMPLES.items():
        for field, sample in samples(resque_namespace).items():
            if field not in CODE_ONLY | APP_ARGUMENT:
                key = CONFIG_KEYS[kind].get(field, field)
                assert config.setdefault(key, sample) == sample  # a shared key agrees
    (tmp_path / "pyresque.toml").write_text(_toml(config), encoding="utf-8")
    app = App(load_config(tmp_path, environ={}), name="box")
    await app.start()
    try:
        assert app.multi_worker is not None and app.scheduler is not None
        assert_set(app.multi_worker.options, worker_samples(resque_namespace), skip=CODE_ONLY)
        assert_set(app.scheduler.options, scheduler_samples(resque_namespace), skip=CODE_ONLY)
        pool = app.multi_worker
        workers = await poll_until(_async(lambda: pool.workers))
        assert_set(workers[0].options, worker_samples(resque_namespace), skip={"name", "clock"})
    finally:
        await app.stop()


def _toml(values: Mapping[str, Any]) -> str:
    """``values`` as TOML: scalars first, then a table per mapping."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for key, table in values.items():
        if isinstance(table, dict):
            lines += [f"[{key}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def _async(probe: Callable[[], Any]) -> Callable[[], Any]:
    async def probe_async() -> Any:
        return probe()

    return probe_async


# -- refusals ------------------------------------------------------------------------------

WORKER_REFUSALS = [
    ("timeout", 0),
    ("timeout", True),
    ("timeout", "5000"),
    ("job_timeout", 0),
    ("shutdown_grace", -1),
    ("unfinished", "drop"),
    ("heartbeat_interval", 0),
    ("name", "a:b:c"),
    ("dialect", "perl"),
    ("namespace", 5),
    ("log_levels", {"sucess": "info"}),
    ("log_levels", {"poll": "loud"}),
    ("clock", 5),
]


@pytest.mark.parametrize(("field", "value"), WORKER_REFUSALS, ids=repr)
def test_a_bad_worker_option_is_refused_wherever_it_is_given(
    field: str, value: Any, redis_url: str
) -> None:
    with pytest.raises(ConfigurationError, match=field):
        WorkerOptions(**{field: value})
    with pytest.raises(ConfigurationError, match=field):
        Worker(redis_url, "q", JOBS, **{field: value})
    with pytest.raises(ConfigurationError, match=field):
        MultiWorker(redis_url, "q", JOBS, **{field: value})
    with pytest.raises(ConfigurationError, match=field):
        Worker(redis_url, "q", JOBS, options=WorkerOptions(), **{field: value})


SCHEDULER_REFUSALS = [
    ("timeout", 0),
    ("leader_lock_timeout", 1.5),
    ("leader_lock_timeout", 0),
    ("stuck_worker_timeout", -1),
    ("retry_stuck_jobs", "yes"),
    ("both_locks", 1),
    ("name", 7),
    ("dialect", "perl"),
    ("log_levels", {"poll": "loud"}),
    ("log_levels", {"enqueue": "info"}),  # an app's line, not a scheduler event
]


@pytest.mark.parametrize(("field", "value"), SCHEDULER_REFUSALS, ids=repr)
def test_a_bad_scheduler_option_is_refused_wherever_it_is_given(
    field: str, value: Any, redis_url: str
) -> None:
    with pytest.raises(ConfigurationError, match=field):
        SchedulerOptions(**{field: value})
    with pytest.raises(ConfigurationError, match=field):
        Scheduler(redis_url, **{field: value})


def test_keywords_beside_options_replace_those_fields_only(redis_url: str) -> None:
    base = WorkerOptions(timeout=250, unfinished="requeue")
    worker = Worker(redis_url, "q", JOBS, options=base, timeout=50)
    assert worker.options == dataclasses.replace(base, timeout=50)
    assert (base.timeout, worker.options.unfinished) == (250, "requeue")
    with pytest.raises(TypeError, match="WorkerOptions"):
        Worker(redis_url, "q", JOBS, options=SchedulerOptions())


# -- an option the drift had left out -----------------------------------------------------


async def test_a_pools_workers_beat_at_the_heartbeat_interval_given_to_the_pool(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    heartbeats = Context.create(resque_namespace).keys.heartbeats()
    pool = MultiWorker(
        redis_url,
        "q",
        JOBS,
        namespace=resque_namespace,
        dialect="ruby",
        heartbeat_interval=0.2,
        check_timeout=20,
        max_event_loop_delay=1000,
    )
    await pool.start()
    try:
        [worker] = await poll_until(_async(lambda: pool.workers))
        seen: set[bytes] = set()

        async def beats() -> bool:
            value = resque_redis.hget(heartbeats, worker.identity.member)
            if value is not None:
                seen.add(value)  # Ruby's heartbeat has whole seconds: a new one each second
            return len(seen) >= 3

        await poll_until(beats, timeout=5)  # at the default 60 s there would be one beat
    finally:
        await pool.stop()
