"""Actionhero-style tasks on a real Redis: definitions, inputs, middleware, periodic tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import Worker
from pyresque.plugins.base import Plugin
from pyresque.protocol.status import Counts, QueueStatus, Status
from pyresque.tasks import (
    Input,
    InputValidationError,
    Task,
    TaskDefinitionError,
    TaskError,
    TaskMiddleware,
    Tasks,
)
from pyresque.testing import poll_until

RAN: list[Any] = []


class Echo(Task):
    name = "echo"
    description = "records its params"
    inputs = {"id": Input(required=True), "note": Input(default="from-default")}

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        RAN.append(("echo", dict(params), worker.job["class"]))
        return params["id"]


class Blocking(Task):
    name = "blocking"

    def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        RAN.append(("blocking", dict(params)))
        return "done"


class Tick(Task):
    name = "tick"
    queue = "periodic"
    frequency = 60_000

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        RAN.append(("tick", dict(params)))


class Broken(Task):
    name = "broken"
    queue = "periodic"
    frequency = 60_000

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        raise RuntimeError("tick failed")


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RAN.clear()


@pytest.fixture
async def tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    registry = Tasks(redis_url, namespace=resque_namespace)
    for task in (Echo, Blocking, Tick, Broken):
        registry.add(task)
    yield registry
    await registry.aclose()


# -- definitions -----------------------------------------------------------------------------


def test_a_task_needs_a_name_and_a_run() -> None:
    class Nameless(Task):
        async def run(self, params: Any, worker: Any) -> None: ...

    class Idle(Task):
        name = "idle"

    class Negative(Task):
        name = "neg"
        frequency = -1

        async def run(self, params: Any, worker: Any) -> None: ...

    for bad, message in ((Nameless, "name is required"), (Idle, "no run"), (Negative, "frequency")):
        with pytest.raises(TaskDefinitionError, match=message):
            Tasks("redis://127.0.0.1:1/0").add(bad)


def test_description_defaults_to_the_name_and_duplicates_are_refused() -> None:
    registry = Tasks("redis://127.0.0.1:1/0")
    assert registry.add(Tick).summary == "tick"
    with pytest.raises(TaskDefinitionError, match="defined twice"):
        registry.add(Tick)


def test_tasks_load_from_a_folder_of_modules(tmp_path: Path) -> None:
    (tmp_path / "mail.py").write_text(
        "from pyresque.tasks import Task\n"
        "class Send(Task):\n    name = 'send'\n    async def run(self, params, worker): ...\n"
        "class Bounce(Task):\n    name = 'bounce'\n    queue = 'mail'\n"
        "    async def run(self, params, worker): ...\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.py").write_text(
        "from pyresque.tasks import Task\n"
        "class Send2(Task):\n    name = 'send'\n    async def run(self, params, worker): ...\n"
    )
    registry = Tasks("redis://127.0.0.1:1/0")
    with pytest.raises(TaskDefinitionError, match="defined twice"):
        registry.load(tmp_path)
    assert set(registry.tasks) == {"bounce", "send"}
    assert registry.tasks["bounce"].queue == "mail"


# -- inputs ------------------------------------------------------------------------------------


async def test_enqueue_writes_actionheros_payload_with_defaulted_inputs(
    tasks: Tasks, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    given = {"id": 1}
    assert await tasks.enqueue("echo", given) is True
    assert resque_redis.lrange(f"{resque_namespace}:queue:default", 0, -1) == [
        b'{"class":"echo","queue":"default","args":[{"id":1,"note":"from-default"}]}'
    ]
    assert given == {"id": 1}  # the caller's dict is left alone


async def test_inputs_are_validated_at_enqueue_and_nothing_is_written_on_refusal(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    async def later() -> str:
        return "async default"

    class Strict(Task):
        name = "strict"
        inputs = {
            "age": Input(required=True, validator=lambda v: isinstance(v, int) and v >= 0),
            "code": Input(validator=lambda v: None if v.isupper() else f"{v} is not upper"),
            "when": Input(default=later),
            "boom": Input(validator=lambda v: 1 / 0),
        }

        async def run(self, params: Any, worker: Any) -> None: ...

    registry = Tasks(redis_url, namespace=resque_namespace)
    registry.add(Strict)
    try:
        with pytest.raises(InputValidationError, match="age is a required input for task strict"):
            await registry.enqueue("strict", {})
        with pytest.raises(InputValidationError, match="-1 is not a valid value for age"):
            await registry.enqueue("strict", {"age": -1})
        with pytest.raises(InputValidationError, match="ab is not upper"):
            await registry.enqueue("strict", {"age": 1, "code": "ab"})
        with pytest.raises(ZeroDivisionError):
            await registry.enqueue("strict", {"age": 1, "boom": 1})
        with pytest.raises(InputValidationError, match=" is not a valid value for age"):
            await registry.enqueue_in(1000, "strict", {"age": ""})
        assert list(resque_redis.scan_iter(match=f"{resque_namespace}:*")) == []
        assert await registry.enqueue("strict", {"age": 3, "extra": True}) is True
        (job,) = await registry.queued("default")
        assert job["args"] == [{"age": 3, "extra": True, "when": "async default"}]
    finally:
        await registry.aclose()


async def test_an_unknown_task_is_not_found_rather_than_a_type_error(tasks: Tasks) -> None:
    with pytest.raises(TaskError, match="task nope not found"):
        await tasks.enqueue("nope", {})


# -- running -----------------------------------------------------------------------------------


async def test_a_worker_runs_tasks_with_frozen_params_and_the_job(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    class Mutates(Task):
        name = "mutates"

        async def run(self, params: Any, worker: Any) -> None:
            params["x"] = 1

    tasks.add(Mutates)
    await tasks.enqueue("echo", {"id": 7})
    await tasks.enqueue("blocking", {})
    await tasks.enqueue("mutates", {})
    await make_worker("default", tasks.jobs).run(burst=True)
    assert RAN == [
        ("echo", {"id": 7, "note": "from-default"}, "echo"),
        ("blocking", {}),
    ]
    (failure,) = await tasks.failed()
    assert failure["exception"] == "TypeError"  # params are read-only, as Actionhero freezes them


async def test_enqueue_at_rounds_and_refuses_duplicates_unless_suppressed(tasks: Tasks) -> None:
    at = 1_900_000_000_499
    assert await tasks.enqueue_at(at, "echo", {"id": 1}) is True
    assert (
        await tasks.enqueue_at(at - 400, "echo", {"id": 1}, suppress_duplicate_task_error=True)
        is None
    )
    assert await tasks.scheduled_at("default", "echo", {"id": 1, "note": "from-default"}) == [
        1_900_000_000
    ]
    assert await tasks.timestamps() == [1_900_000_000_000]


# -- middleware ---------------------------------------------------------------------------------


async def test_middleware_order_priority_and_hooks(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    calls: list[str] = []

    def hooks(name: str) -> dict[str, Any]:
        def pre(plugin: Plugin) -> None:
            calls.append(f"{name}:pre")

        async def post(plugin: Plugin) -> None:
            calls.append(f"{name}:post")

        return {"pre_processor": pre, "post_processor": post}

    tasks.add_middleware(TaskMiddleware("late", global_=True, priority=200, **hooks("late")))
    tasks.add_middleware(TaskMiddleware("zero", global_=True, priority=0, **hooks("zero")))
    tasks.add_middleware(TaskMiddleware("tie", global_=True, priority=200, **hooks("tie")))
    tasks.add_middleware(TaskMiddleware("local", **hooks("local")))

    class Uses(Task):
        name = "uses"
        middleware = ["local", "late"]

        async def run(self, params: Any, worker: Any) -> None:
            calls.append("run")

    tasks.add(Uses)
    await tasks.enqueue("uses", {})
    await make_worker("default", tasks.jobs).run(burst=True)
    # One order by priority, the task's own middleware included ("local", 100, before the
    # global "late", 200; Actionhero appends the task's own last whatever their priority);
    # "late", global and listed, runs once.
    assert calls == [
        "zero:pre", "local:pre", "late:pre", "tie:pre", "run",
        "zero:post", "local:post", "late:post", "tie:post",
    ]  # fmt: skip


async def test_middleware_can_veto_alter_params_replace_results_and_clear_errors(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    results: list[Any] = []

    def pre_enqueue(plugin: Plugin) -> bool:
        return bool(plugin.args[0].get("id") != "vetoed")

    def pre_processor(plugin: Plugin) -> bool:
        plugin.args[0]["seen"] = True
        return bool(plugin.args[0].get("id") != "dropped")

    def post_processor(plugin: Plugin) -> None:
        assert plugin.outcome is not None
        if plugin.outcome.error is not None:
            plugin.outcome.error = None
            plugin.outcome.result = "forgiven"
        else:
            plugin.outcome.result = f"wrapped {plugin.outcome.result}"

    tasks.add_middleware(
        TaskMiddleware(
            "all", global_=True, pre_enqueue=pre_enqueue,
            pre_processor=pre_processor, post_processor=post_processor,
        )
    )  # fmt: skip

    class Picky(Task):
        name = "picky"

        async def run(self, params: Any, worker: Any) -> Any:
            if params["id"] == "fails":
                raise ValueError("nope")
            RAN.append(dict(params))
            return params["id"]

    tasks.add(Picky)
    assert await tasks.enqueue("picky", {"id": "vetoed"}) is False
    for job_id in ("ok", "dropped", "fails"):
        assert await tasks.enqueue("picky", {"id": job_id}) is True
    worker = make_worker("default", tasks.jobs)
    worker.on("success", lambda q, job, result, ms: results.append(result))
    await worker.run(burst=True)
    assert RAN == [{"id": "ok", "seen": True}]
    assert results == ["wrapped ok", "forgiven"]
    assert await tasks.failed_count() == 0
    assert await tasks.stats() == {"processed": "2"}  # the dropped run counts nothing


async def test_middleware_runs_on_delayed_enqueues_too(tasks: Tasks) -> None:
    seen: list[str] = []
    tasks.add_middleware(
        TaskMiddleware("audit", global_=True, pre_enqueue=lambda p: seen.append("pre"),
                       post_enqueue=lambda p: seen.append("post"))
    )  # fmt: skip
    await tasks.enqueue_in(60_000, "echo", {"id": 1})
    assert seen == ["pre", "post"]


def test_unknown_middleware_names_are_refused(redis_url: str) -> None:
    class Typo(Task):
        name = "typo"
        middleware = ["nosuch"]

        async def run(self, params: Any, worker: Any) -> None: ...

    with pytest.raises(TaskDefinitionError, match="unknown middleware 'nosuch'"):
        Tasks(redis_url).add(Typo)


# -- periodic tasks -----------------------------------------------------------------------------


async def test_a_periodic_task_is_enqueued_once_and_re_enqueued_after_each_run(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    assert [type(p).__name__ if not isinstance(p, str) else p for p in tasks.jobs["tick"].plugins][
        :3
    ] == ["JobLock", "QueueLock", "DelayQueueLock"]
    assert await tasks.enqueue_all_recurrent_tasks() == ["tick", "broken"]
    assert await tasks.enqueue_all_recurrent_tasks() == []  # already queued: locked
    await make_worker("periodic", tasks.jobs).run(burst=True)
    assert RAN == [("tick", {})]
    delayed = await tasks.all_delayed()
    assert sorted(job["class"] for jobs in delayed.values() for job in jobs) == ["broken", "tick"]
    assert (await tasks.failed())[0]["error"] == "tick failed"  # re-enqueued all the same


def slow_periodic(started: asyncio.Event, release: asyncio.Event) -> type[Task]:
    """A periodic task ``slow`` whose run says it started, then waits to be released."""

    class Slow(Task):
        name = "slow"
        queue = "periodic"
        frequency = 60_000

        async def run(self, params: Any, worker: Any) -> None:
            started.set()
            await release.wait()

    return Slow


async def test_a_scheduler_booting_mid_run_does_not_start_a_second_chain(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    tasks.add(slow_periodic(started, release))
    assert await tasks.enqueue("slow", {}) is True
    worker = make_worker("periodic", tasks.jobs)
    await worker.start()
    try:
        await started.wait()
        assert await tasks.enqueue("slow", {}) is True  # a node booting now (Actionhero: 2 chains)
        release.set()
        await poll_until(lambda: tasks.all_delayed())
        await poll_until(lambda: _no_queued(tasks, "periodic"))
    finally:
        await worker.stop()
    delayed = [job for jobs in (await tasks.all_delayed()).values() for job in jobs]
    assert [job["class"] for job in delayed] == ["slow"]


async def _no_queued(tasks: Tasks, queue: str) -> bool:
    return await tasks.queue.length(queue) == 0


async def test_a_boot_enqueue_while_the_chain_runs_enqueues_nothing(
    tasks: Tasks,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    """An Actionhero node booting now enqueues a second copy (its QueueLock went as the run
    started, and there is no delayed copy yet); on an Actionhero worker both then re-enqueue
    themselves. pyresque's boot enqueue sees the run's JobLock and enqueues nothing."""
    started, release = asyncio.Event(), asyncio.Event()
    tasks = alone(tasks, slow_periodic(started, release))
    assert await tasks.enqueue_all_recurrent_tasks() == ["slow"]
    worker = make_worker("periodic", tasks.jobs)
    await worker.start()
    try:
        await started.wait()
        assert await tasks.enqueue_all_recurrent_tasks() == []
        assert await tasks.queue.length("periodic") == 0
        assert list(await tasks.locks()) == ["workerslock:slow:periodic:[{}]"]
        release.set()
        await poll_until(lambda: _delayed_classes(tasks, ["slow"]))
    finally:
        await worker.stop()
    assert await tasks.queue.length("periodic") == 0


def alone(tasks: Tasks, task: type[Task], *middleware: TaskMiddleware) -> Tasks:
    """A registry on ``tasks``' connection with only ``task`` (the boot enqueue's subject)
    and ``middleware``."""
    registry = Tasks(tasks.queue.driver, namespace=tasks.queue.namespace)
    for each in middleware:
        registry.add_middleware(each)
    registry.add(task)
    return registry


async def _delayed_classes(tasks: Tasks, classes: list[str]) -> bool:
    found = [job["class"] for jobs in (await tasks.all_delayed()).values() for job in jobs]
    return sorted(found) == classes


async def test_a_boot_enqueue_keeps_middleware_vetoes_and_gives_back_what_a_refused_one_took(
    tasks: Tasks,
) -> None:
    """Its plugins and middleware run their before_enqueue before the script that checks
    for copies and enqueues, so a veto leaves nothing behind; when the script then finds a
    copy they get enqueue_vetoed, and no after_enqueue."""
    seen: list[str] = []

    class Ledger(Plugin):
        async def before_enqueue(self) -> bool:
            seen.append("ledger: before")
            return True

        async def enqueue_vetoed(self) -> None:
            seen.append("ledger: given back")

        async def after_enqueue(self) -> bool:
            seen.append("ledger: after")
            return True

    class Gated(Task):
        name = "gated"
        frequency = 60_000
        plugins = (Ledger,)
        middleware = ["gate"]

        async def run(self, params: Any, worker: Any) -> None: ...

    vetoes = [1]

    def gate(plugin: Plugin) -> bool:
        seen.append("gate: pre")
        vetoes[0] -= 1
        return vetoes[0] < 0

    middleware = TaskMiddleware(
        "gate", pre_enqueue=gate, post_enqueue=lambda p: seen.append("gate: post")
    )
    tasks = alone(tasks, Gated, middleware)
    assert await tasks.enqueue_all_recurrent_tasks() == []  # the middleware vetoes
    assert seen == ["ledger: before", "gate: pre", "ledger: given back"]
    assert await tasks.locks() == {} and await tasks.queue.length("default") == 0

    seen.clear()
    assert await tasks.enqueue_in(60_000, "gated", {}) is True  # the chain waits, delayed
    seen.clear()
    assert await tasks.enqueue_all_recurrent_tasks() == []  # the script finds that copy
    assert seen == ["ledger: before", "gate: pre", "ledger: given back"]
    assert await tasks.locks() == {} and await tasks.queue.length("default") == 0

    assert await tasks.delete_delayed("default", "gated", {})
    seen.clear()
    assert await tasks.enqueue_all_recurrent_tasks() == ["gated"]
    assert seen == ["ledger: before", "gate: pre", "ledger: after", "gate: post"]
    assert list(await tasks.locks()) == ["lock:gated:default:[{}]"]


async def test_a_boot_during_the_last_run_of_a_stopped_chain_lets_that_run_continue_it(
    tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    tasks = alone(tasks, slow_periodic(started, release))
    ns = resque_namespace
    assert await tasks.enqueue_all_recurrent_tasks() == ["slow"]
    worker = make_worker("periodic", tasks.jobs, namespace=ns)
    await worker.start()
    try:
        await started.wait()
        assert await tasks.stop_recurrent_task("slow") == 0  # the run is marked to stop
        assert resque_redis.exists(f"{ns}:periodic_stop:slow") == 1
        # A scheduler node boots: the run in progress is the copy it would start, so the
        # run keeps the chain going rather than a second copy being queued beside it.
        assert await tasks.enqueue_all_recurrent_tasks() == []
        assert resque_redis.exists(f"{ns}:periodic_stop:slow") == 0
        release.set()
        await poll_until(lambda: _delayed_classes(tasks, ["slow"]))
    finally:
        await worker.stop()
    assert await tasks.queue.length("periodic") == 0


async def test_a_boot_enqueue_takes_the_queue_lock_its_options_describe(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace

    class Custom(Task):
        name = "custom"
        frequency = 60_000
        plugin_options = {"QueueLock": {"lockTimeout": 40, "key": f"{ns}:mine:custom"}}

        async def run(self, params: Any, worker: Any) -> None: ...

    registry = Tasks(redis_url, namespace=ns)
    registry.add(Custom)
    try:
        assert await registry.enqueue_all_recurrent_tasks() == ["custom"]
        assert 38 <= resque_redis.ttl(f"{ns}:mine:custom") <= 40
        assert resque_redis.exists(f"{ns}:lock:custom:default:[{{}}]") == 0
        resque_redis.delete(f"{ns}:queue:default")  # as if a worker popped it: still locked
        assert await registry.enqueue_all_recurrent_tasks() == []
    finally:
        await registry.aclose()


async def test_stop_recurrent_task_removes_its_queued_and_delayed_copies_and_locks(
    tasks: Tasks,
) -> None:
    assert await tasks.enqueue("tick", {}) is True  # queued, with its QueueLock
    assert await tasks.enqueue_in(60_000, "tick", {}) is True  # and a delayed copy
    assert list(await tasks.locks()) == ["lock:tick:periodic:[{}]"]
    assert await tasks.stop_recurrent_task("tick") == 2
    assert await tasks.queue.length("periodic") == 0
    assert await tasks.all_delayed() == {}
    assert await tasks.locks() == {}
    assert await tasks.enqueue("tick", {}) is True  # no stale lock in the way


async def test_stopping_during_a_run_ends_the_chain_and_keeps_the_runs_job_lock(
    tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    # Actionhero's stop matches nothing; a stop that only removed copies would still lose
    # to the run in progress, which re-enqueues as it ends.
    started, release = asyncio.Event(), asyncio.Event()
    tasks.add(slow_periodic(started, release))
    ns = resque_namespace
    job_lock = f"{ns}:workerslock:slow:periodic:[{{}}]"
    assert await tasks.enqueue("slow", {}) is True
    worker = make_worker("periodic", tasks.jobs, namespace=ns)
    await worker.start()
    try:
        await started.wait()
        assert await tasks.stop_recurrent_task("slow") == 0  # nothing waiting: it runs
        assert resque_redis.exists(job_lock) == 1  # still excludes a second run
        assert resque_redis.exists(f"{ns}:periodic_stop:slow") == 1
        release.set()
        await poll_until(lambda: _processed(tasks, 1))
    finally:
        await worker.stop()
    assert await tasks.all_delayed() == {} and await tasks.queue.length("periodic") == 0
    assert resque_redis.exists(f"{ns}:periodic_stop:slow", job_lock) == 0


async def test_stopping_an_idle_chain_leaves_no_mark_to_end_the_next_one(
    tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    assert await tasks.enqueue_in(60_000, "tick", {}) is True
    assert await tasks.stop_recurrent_task("tick") == 1
    assert resque_redis.exists(f"{resque_namespace}:periodic_stop:tick") == 0
    assert await tasks.enqueue("tick", {}) is True  # started again later
    await make_worker("periodic", tasks.jobs).run(burst=True)
    assert RAN == [("tick", {})]
    assert [j["class"] for js in (await tasks.all_delayed()).values() for j in js] == ["tick"]


async def _processed(tasks: Tasks, n: int) -> bool:
    return int((await tasks.stats()).get("processed") or 0) >= n


async def test_a_vetoed_periodic_enqueue_leaves_no_queue_lock_behind(tasks: Tasks) -> None:
    class Gated(Task):
        name = "gated"
        frequency = 1000
        middleware = ["gate"]

        async def run(self, params: Any, worker: Any) -> None: ...

    tasks.add_middleware(TaskMiddleware("gate", pre_enqueue=lambda plugin: False))
    tasks.add(Gated)
    assert await tasks.enqueue("gated", {}) is False
    assert await tasks.locks() == {}


async def test_details_reports_queues_workers_stats_leader_delayed_and_failed(
    tasks: Tasks,
) -> None:
    await tasks.enqueue("echo", {"id": 1})
    await tasks.enqueue_in(60_000, "echo", {"id": 2})
    details = await tasks.details()
    assert isinstance(details, Status)  # the one model, as Queue.status() returns it
    assert details.queues == {"default": QueueStatus(length=1)}
    assert details.delayed.jobs == 1 and details.failed == 0
    assert details.leader is None and details.workers == {}
    assert details.stats == Counts(processed=0, failed=0) and details.other_stats == {}


async def test_cleaning_a_dead_worker_frees_its_jobs_lock_so_the_chain_resumes(
    tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    ns = resque_namespace
    # A worker died running `tick`: registered, holding the job and its JobLock.
    resque_redis.sadd(f"{ns}:workers", "dead:1:periodic")
    resque_redis.set(
        f"{ns}:worker:dead:1:periodic",
        '{"run_at":"Sat Nov 28 2026 13:05:44 GMT+0000 (Coordinated Universal Time)",'
        '"worker":"dead:1","payload":{"class":"tick","args":[{}],"queue":"periodic"},'
        '"queue":"periodic"}',
    )
    resque_redis.set(f"{ns}:workerslock:tick:periodic:[{{}}]", "9999999999", ex=3600)
    assert await tasks.queue.force_clean_worker("dead:1") is not None
    assert await tasks.locks() == {}  # Actionhero keeps it for an hour and drops the retry
    assert await tasks.queue.retry_stuck_jobs() == 1
    await make_worker("periodic", tasks.jobs, namespace=ns).run(burst=True)
    assert RAN == [("tick", {})]
