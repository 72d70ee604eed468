"""Actionhero's task-layer defects (the catalogue's section 7b), each shown not to happen.

Each test would fail on what Actionhero (29.x on node-resque 9.3.8) does; the mapping of
every 7b item to its tests, or the reason it does not apply, is in spec/tasks.md,
"Actionhero's defects (catalogue 7b)".
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import redis

from pyresque import Worker
from pyresque.errors import JobNotFoundError
from pyresque.plugins.base import Plugin
from pyresque.scheduler import Scheduler
from pyresque.tasks import (
    Input,
    InputValidationError,
    Task,
    TaskDefinitionError,
    TaskError,
    TaskMiddleware,
    Tasks,
    current_tasks,
)
from pyresque.testing import poll_until, run_full_task, run_task

RAN: list[Any] = []


class Echo(Task):
    name = "echo"
    inputs = {"id": Input(required=True), "note": Input(default="from-default")}

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        if params["id"] == "fail":
            raise RuntimeError("echo failed")
        RAN.append(("echo", dict(params)))
        return params["id"]


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
        raise RuntimeError("broken")


class Locked(Task):
    """Not periodic, but refuses a second queued copy (QueueLock)."""

    name = "locked"
    queue = "locked"
    plugins = ("QueueLock",)

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        raise RuntimeError(f"locked {params.get('n')} failed")


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RAN.clear()


@pytest.fixture
async def tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    registry = Tasks(redis_url, namespace=resque_namespace)
    for task in (Echo, Tick, Broken, Locked):
        registry.add(task)
    yield registry
    await registry.aclose()


def delayed_jobs(delayed: Mapping[str, list[Any]]) -> list[tuple[str, str]]:
    return [(ms, job["class"]) for ms, jobs in delayed.items() for job in jobs]


# -- 1, 3: periodic re-enqueues keep one copy --------------------------------------------------


async def test_re_enqueueing_a_periodic_task_removes_its_other_queued_and_delayed_copies(
    tasks: Tasks,
) -> None:
    # Actionhero's deletes look for args [null]; its own copies have [{}] and stay.
    assert await tasks.enqueue("tick", {}) is True
    assert await tasks.enqueue_in(5_000, "tick", {}) is True
    assert await tasks.enqueue_recurrent_task("tick") is True
    assert await tasks.queue.length("periodic") == 0
    assert [cls for _, cls in delayed_jobs(await tasks.all_delayed())] == ["tick"]
    assert await tasks.locks() == {}  # the removed queued copy's QueueLock went with it


async def test_periodic_re_enqueues_straddling_a_half_second_leave_one_copy(
    redis_url: str, resque_namespace: str
) -> None:
    # Actionhero dedupes re-enqueues only within one rounded second: .4 s and .6 s round to
    # different seconds, and both copies stay (two chains from then on).
    now = [1_900_000_000.4]
    registry = Tasks(redis_url, namespace=resque_namespace, clock=lambda: now[0])
    registry.add(Tick)
    try:
        assert await registry.enqueue_recurrent_task("tick") is True
        now[0] = 1_900_000_000.6
        assert await registry.enqueue_recurrent_task("tick") is True
        assert delayed_jobs(await registry.all_delayed()) == [("1900000061000", "tick")]
    finally:
        await registry.aclose()


# -- 4a: a deleted job gives its QueueLock back --------------------------------------------------


async def test_deleting_a_queued_task_gives_its_queue_lock_back(tasks: Tasks) -> None:
    assert await tasks.enqueue("tick", {}) is True
    assert list(await tasks.locks()) == ["lock:tick:periodic:[{}]"]
    assert await tasks.delete("periodic", "tick", {}) == 1
    assert await tasks.locks() == {}  # Actionhero keeps it an hour: the enqueue is refused
    assert await tasks.enqueue("tick", {}) is True


async def test_delete_keeps_the_lock_of_a_copy_still_queued(tasks: Tasks) -> None:
    # Two identical copies (one enqueued around the lock, as a peer without it would).
    assert await tasks.enqueue("locked", {"n": 1}) is True
    await tasks.queue.enqueue("locked", "locked", [{"n": 1}])
    assert await tasks.delete("locked", "locked", {"n": 1}, count=1) == 1
    assert list(await tasks.locks()) == ['lock:locked:locked:[{"n":1}]']
    assert await tasks.delete("locked", "locked", {"n": 1}) == 1
    assert await tasks.locks() == {}


async def test_delete_by_function_gives_back_the_locks_of_the_jobs_it_removed(
    tasks: Tasks,
) -> None:
    for n in (1, 2, 3):
        assert await tasks.enqueue("locked", {"n": n}) is True
    assert await tasks.delete_by_function("locked", "locked", 0, 1) == 2  # n=1 and n=2
    assert list(await tasks.locks()) == ['lock:locked:locked:[{"n":3}]']  # still queued
    assert await tasks.enqueue("locked", {"n": 1}) is True
    assert await tasks.delete_by_function("locked", "locked") == 2
    assert await tasks.locks() == {}


async def test_deleting_a_queue_gives_back_the_locks_of_its_jobs(tasks: Tasks) -> None:
    assert await tasks.enqueue("tick", {}) is True
    assert await tasks.enqueue("locked", {"n": 1}) is True
    await tasks.delete_queue("periodic")
    assert list(await tasks.locks()) == ['lock:locked:locked:[{"n":1}]']  # another queue's
    assert await tasks.enqueue("tick", {}) is True


async def test_a_custom_queue_lock_key_is_left_alone(
    tasks: Tasks, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    custom = f"{resque_namespace}:my-lock"

    class Keyed(Task):
        name = "keyed"
        plugins = ("QueueLock",)
        plugin_options = {"QueueLock": {"key": custom}}

        async def run(self, params: Any, worker: Any) -> None: ...

    tasks.add(Keyed)
    assert await tasks.enqueue("keyed", {}) is True
    assert await tasks.delete("default", "keyed", {}) == 1
    assert resque_redis.exists(custom)  # a key pyresque cannot know: documented


# -- 4c: lock TTLs follow plugin options ----------------------------------------------------------


async def test_lock_ttls_follow_the_options_of_plugins_named_by_string(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    # node-resque 9.3.8 ignores pluginOptions for plugins named by string: both TTLs 3600.
    ttls: list[int] = []
    ns = resque_namespace
    options = {"JobLock": {"lockTimeout": 30}, "QueueLock": {"lockTimeout": 40}}

    class Plain(Task):
        name = "plain"
        plugins = ("JobLock", "QueueLock")
        plugin_options = options

        async def run(self, params: Any, worker: Any) -> None:
            ttls.append(resque_redis.ttl(f"{ns}:workerslock:plain:default:[{{}}]"))

    class Every(Task):  # the periodic locks are added for it, and honour the options too
        name = "every"
        frequency = 60_000
        plugin_options = options

        async def run(self, params: Any, worker: Any) -> None:
            ttls.append(resque_redis.ttl(f"{ns}:workerslock:every:default:[{{}}]"))

    registry = Tasks(redis_url, namespace=ns)
    registry.add(Plain)
    registry.add(Every)
    try:
        for name in ("plain", "every"):
            assert await registry.enqueue(name, {}) is True
            assert 38 <= resque_redis.ttl(f"{ns}:lock:{name}:default:[{{}}]") <= 40
            await make_worker("default", registry.jobs, namespace=ns).run(burst=True)
        assert len(ttls) == 2 and all(28 <= ttl <= 30 for ttl in ttls), ttls
    finally:
        await registry.aclose()


# -- 6: inputs -----------------------------------------------------------------------------------


async def test_a_task_without_inputs_or_enqueued_without_them_gets_an_empty_mapping(
    tasks: Tasks,
) -> None:
    class Bare(Task):  # no ``inputs`` at all: Actionhero's JSDoc says {}, its code crashes
        name = "bare"

        async def run(self, params: Any, worker: Any) -> None: ...

    class Optional(Task):
        name = "optional"
        inputs = {"size": Input(default=3)}

        async def run(self, params: Any, worker: Any) -> None: ...

    tasks.add(Bare)
    tasks.add(Optional)
    assert await tasks.enqueue("bare") is True
    assert await tasks.enqueue("bare", {"x": 1}) is True
    assert await tasks.enqueue("optional") is True  # Actionhero: TypeError on undefined inputs
    assert [job["args"] for job in await tasks.queued("default")] == [
        [{}],
        [{"x": 1}],
        [{"size": 3}],
    ]


async def test_a_formatter_runs_after_the_default_and_before_the_validator(
    redis_url: str, resque_namespace: str
) -> None:
    async def upper(value: str) -> str:
        return value.upper()

    class Formatted(Task):
        name = "formatted"
        inputs = {
            "count": Input(default="7", formatter=int, validator=lambda v: v > 0),
            "code": Input(formatter=upper),
            "left": Input(formatter=lambda v: pytest.fail("absent values are not formatted")),
        }

        async def run(self, params: Any, worker: Any) -> None: ...

    registry = Tasks(redis_url, namespace=resque_namespace)
    registry.add(Formatted)
    try:
        assert await registry.enqueue("formatted", {"code": "ab"}) is True
        (job,) = await registry.queued("default")
        assert job["args"] == [{"code": "AB", "count": 7}]  # Actionhero ignores formatters
        with pytest.raises(InputValidationError, match="-1 is not a valid value for count"):
            await registry.enqueue("formatted", {"count": "-1"})
    finally:
        await registry.aclose()


def test_inputs_refuse_a_schema_and_callables_given_as_strings() -> None:
    with pytest.raises(TypeError, match="schema"):
        Input(schema={"a": Input()})  # type: ignore[call-arg]  # Actionhero ignores it

    for field in ("validator", "formatter"):

        class Stringly(Task):
            name = "stringly"
            inputs = {"a": Input(**{field: "api.validators.isEmail"})}

            async def run(self, params: Any, worker: Any) -> None: ...

        # Actionhero crashes in prepareStringMethod at enqueue; refused when loading here.
        with pytest.raises(TaskDefinitionError, match=f"{field} of input 'a' .* callable"):
            Tasks("redis://127.0.0.1:1/0").add(Stringly)


async def test_defaults_never_change_the_callers_inputs(tasks: Tasks) -> None:
    given = {"id": 1}
    assert await tasks.enqueue("echo", given) is True
    assert await tasks.enqueue_in(60_000, "echo", given) is True
    assert await run_full_task(tasks, "echo", given) == 1
    assert given == {"id": 1}  # Actionhero writes the defaults into the caller's object


# -- 6: retrying failed jobs -----------------------------------------------------------------


async def test_retrying_a_failed_task_validates_its_inputs_and_a_refusal_keeps_the_entry(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    # A peer enqueued inputs this task refuses (no validation there): it failed.
    await tasks.queue.enqueue("default", "echo", [{"note": "no id"}])
    await make_worker("default", tasks.jobs).run(burst=True)
    (entry,) = await tasks.failed()
    kept = copy.deepcopy(entry)
    with pytest.raises(InputValidationError, match="id is a required input for task echo"):
        await tasks.retry_and_remove_failed(entry)
    assert entry == kept  # the caller's entry is left alone
    assert await tasks.failed() == [entry]  # Actionhero removes it and enqueues it unchecked
    assert await tasks.queue.length("default") == 0


async def test_retrying_a_failed_task_fills_in_defaults_and_moves_it_atomically(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    await tasks.queue.enqueue("default", "echo", [{"id": "fail"}])  # no default filled in
    await make_worker("default", tasks.jobs).run(burst=True)
    (entry,) = await tasks.failed()
    assert await tasks.retry_and_remove_failed(entry) is True
    assert await tasks.failed_count() == 0
    assert [job["args"] for job in await tasks.queued("default")] == [
        [{"id": "fail", "note": "from-default"}]
    ]
    with pytest.raises(JobNotFoundError):  # gone: a second retry enqueues nothing
        await tasks.retry_and_remove_failed(entry)
    assert await tasks.queue.length("default") == 1


async def test_retrying_a_failed_task_runs_its_enqueue_middleware_and_a_veto_keeps_the_entry(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    seen: list[str] = []
    closed = [True]

    def pre(plugin: Plugin) -> bool:
        seen.append(f"pre {plugin.args[0]['id']}")
        return not closed[0]

    tasks.add_middleware(
        TaskMiddleware("gate", global_=True, pre_enqueue=pre,
                       post_enqueue=lambda p: seen.append(f"post {p.args[0]['id']}"))
    )  # fmt: skip
    await tasks.queue.enqueue("default", "echo", [{"id": "fail"}])  # around the middleware
    await make_worker("default", tasks.jobs).run(burst=True)
    (entry,) = await tasks.failed()
    assert await tasks.retry_and_remove_failed(entry) is False
    assert await tasks.failed() == [entry]  # Actionhero removed it first: lost
    closed[0] = False
    assert await tasks.retry_and_remove_failed(entry) is True
    assert seen == ["pre fail", "pre fail", "post fail"]
    assert await tasks.failed_count() == 0 and await tasks.queue.length("default") == 1


async def test_retrying_a_periodic_tasks_failure_while_its_chain_waits_keeps_the_entry(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    assert await tasks.enqueue("broken", {}) is True
    await make_worker("periodic", tasks.jobs).run(burst=True)
    (entry,) = await tasks.failed()  # and the chain's next run is delayed
    assert await tasks.retry_and_remove_failed(entry) is False  # DelayQueueLock vetoes
    assert await tasks.failed_count() == 1
    assert await tasks.locks() == {}  # the QueueLock it took was given back


async def test_a_retry_of_an_entry_that_is_gone_gives_the_queue_lock_back(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    assert await tasks.enqueue("locked", {"n": 1}) is True
    await make_worker("locked", tasks.jobs).run(burst=True)
    (entry,) = await tasks.failed()
    assert await tasks.remove_failed(entry) == 1  # someone else took it meanwhile
    with pytest.raises(JobNotFoundError):
        await tasks.retry_and_remove_failed(entry)
    assert await tasks.locks() == {}
    assert await tasks.enqueue("locked", {"n": 1}) is True


# -- 7: documented defaults ----------------------------------------------------------------------


async def test_a_failing_periodic_task_re_enqueues_by_default_unless_told_not_to(
    tasks: Tasks,
) -> None:
    # Actionhero's JSDoc says the default is false and its guide that the task never runs
    # again; its code (and pyresque, documented so) re-enqueues.
    class Quits(Broken):
        name = "quits"
        re_enqueue_periodic_task_if_exception = False

    tasks.add(Quits)
    assert Task.re_enqueue_periodic_task_if_exception is True
    for name in ("broken", "quits"):
        with pytest.raises(RuntimeError, match="broken"):
            await run_full_task(tasks, name, {})
    assert [cls for _, cls in delayed_jobs(await tasks.all_delayed())] == ["broken"]


async def test_working_on_says_started_for_an_idle_worker(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker("idle", tasks.jobs, name="box:1", timeout=5000)
    await worker.start()
    try:
        assert await tasks.working_on("box:1", "idle") == "started"  # Actionhero: null
        assert (await tasks.all_working_on())["box:1"] == "started"
        assert await tasks.working_on("box:2", "idle") is None
    finally:
        await worker.stop()


# -- 11: middleware order ------------------------------------------------------------------------


async def _order(
    tasks: Tasks, registered: list[TaskMiddleware], task_middleware: tuple[str, ...] = ()
) -> list[str]:
    """The order the ``registered`` middleware runs in for a task naming ``task_middleware``."""
    calls: list[str] = []

    def recorder(name: str) -> Callable[[Plugin], None]:
        return lambda plugin: calls.append(name)

    for m in registered:
        tasks.add_middleware(
            TaskMiddleware(
                m.name, global_=m.global_, priority=m.priority, pre_processor=recorder(m.name)
            )
        )

    class Ordered(Task):
        name = "ordered"
        middleware = task_middleware

        async def run(self, params: Any, worker: Any) -> None: ...

    tasks.add(Ordered)
    await run_full_task(tasks, "ordered", {})
    return calls


async def test_global_middleware_of_equal_priority_runs_in_registration_order(
    tasks: Tasks,
) -> None:
    # Actionhero's comparator never returns 0: ties come out in no defined order.
    names = ["e", "b", "d", "a", "c", "f"]
    assert await _order(tasks, [TaskMiddleware(n, global_=True) for n in names]) == names


async def test_priority_zero_is_a_priority_not_the_default(tasks: Tasks) -> None:
    # Actionhero turns 0 into 100, so "zero" would run after "fifty".
    middleware = [
        TaskMiddleware("fifty", global_=True, priority=50),
        TaskMiddleware("zero", global_=True, priority=0),
    ]
    assert await _order(tasks, middleware) == ["zero", "fifty"]


async def test_task_middleware_takes_its_place_by_priority(tasks: Tasks) -> None:
    # Actionhero runs a task's own middleware after every global one, ignoring priority.
    middleware = [
        TaskMiddleware("audit", global_=True, priority=200),
        TaskMiddleware("auth", priority=1),
        TaskMiddleware("trace"),
    ]
    assert await _order(tasks, middleware, ("trace", "auth")) == [
        "auth",
        "trace",
        "audit",
    ]


def test_a_middleware_registered_twice_is_refused() -> None:
    # Actionhero pushes a global middleware's name again: it then runs twice per task.
    registry = Tasks("redis://127.0.0.1:1/0")
    audit = TaskMiddleware("audit", global_=True)
    registry.add_middleware(audit)
    for again in (audit, TaskMiddleware("audit", priority=5)):
        with pytest.raises(TaskDefinitionError, match="'audit' is already registered"):
            registry.add_middleware(again)


async def test_plugin_options_reach_one_middleware_by_its_name(tasks: Tasks) -> None:
    # Actionhero's middleware plugins share one class name, so options reach all or none.
    seen: dict[str, Mapping[str, Any]] = {}

    def recorder(name: str) -> Callable[[Plugin], None]:
        return lambda plugin: seen.update({name: plugin.options})

    for name in ("a", "b"):
        tasks.add_middleware(TaskMiddleware(name, pre_processor=recorder(name)))

    class Tuned(Task):
        name = "tuned"
        middleware = ["a", "b"]
        plugin_options = {"middleware:a": {"sample": 0.5}}

        async def run(self, params: Any, worker: Any) -> None: ...

    tasks.add(Tuned)
    await run_full_task(tasks, "tuned", {})
    assert seen == {"a": {"sample": 0.5}, "b": {}}


# -- 12: a running worker sees what is added later ------------------------------------------------


async def test_a_running_worker_sees_tasks_and_middleware_added_after_it_started(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    # node-resque's workers copy the jobs map when built: a task added later fails there
    # as 'No job defined for class', and middleware added later never runs.
    wrapped: list[str] = []

    class Late(Task):
        name = "late"
        queue = "late"

        async def run(self, params: Any, worker: Any) -> None:
            RAN.append(("late", dict(params)))

    worker = make_worker("late", tasks.jobs)
    await worker.start()
    try:
        tasks.add(Late)
        assert await tasks.enqueue("late", {"n": 1}) is True
        await poll_until(lambda: _ran(("late", {"n": 1})))
        tasks.add_middleware(
            TaskMiddleware("seen", global_=True, pre_processor=lambda p: wrapped.append("pre"))
        )
        assert await tasks.enqueue("late", {"n": 2}) is True
        await poll_until(lambda: _ran(("late", {"n": 2})))
    finally:
        await worker.stop()
    assert wrapped == ["pre"]
    assert await tasks.failed_count() == 0


async def _ran(entry: tuple[str, dict[str, Any]]) -> bool:
    return entry in RAN


# -- 13: no WATCH on the shared connection -------------------------------------------------------


async def test_scheduling_and_working_send_no_watch(
    tasks: Tasks,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
    make_scheduler: Callable[..., Scheduler],
) -> None:
    # node-resque's scheduler WATCHes on the client its queue and workers share; pyresque's
    # atomic steps are scripts (and MULTI blocks written in one go), so nothing can trip.
    resque_redis.execute_command("CONFIG", "RESETSTAT")
    assert await tasks.enqueue_at(1_000, "echo", {"id": 1}) is True
    scheduler = make_scheduler(timeout=60_000)
    try:
        await scheduler.poll()
    finally:
        await scheduler.stop()
    await make_worker("default", tasks.jobs).run(burst=True)
    await tasks.delete_queue("default")
    assert RAN == [("echo", {"id": 1, "note": "from-default"})]
    stats = resque_redis.info("commandstats")
    assert "cmdstat_watch" not in stats and "cmdstat_unwatch" not in stats


# -- 14: observability ---------------------------------------------------------------------------


async def test_timestamps_sort_as_numbers_across_a_digit_boundary(tasks: Tasks) -> None:
    # 999999999 s and 1000000001 s: as strings (Actionhero's sort) the later comes first.
    assert await tasks.enqueue_at(1_000_000_001_000, "echo", {"id": 1}) is True
    assert await tasks.enqueue_at(999_999_999_000, "echo", {"id": 2}) is True
    assert await tasks.timestamps() == [999_999_999_000, 1_000_000_001_000]


async def test_worker_log_lines_never_carry_task_params(
    tasks: Tasks,
    caplog: pytest.LogCaptureFixture,
    make_worker: Callable[..., Worker],
) -> None:
    # Actionhero logs job args (filtered by filteredParams) and, on failure, unfiltered.
    caplog.set_level(logging.DEBUG, logger="pyresque")
    await tasks.enqueue("echo", {"id": "hunter2-ok"})
    await tasks.queue.enqueue("default", "echo", [{"id": "fail", "password": "hunter2"}])
    await make_worker("default", tasks.jobs).run(burst=True)
    assert await tasks.failed_count() == 1
    assert caplog.records  # job, success and failure lines were logged
    for record in caplog.records:
        assert "hunter2" not in record.getMessage()
        assert "hunter2" not in repr(vars(record))


# -- current_tasks -------------------------------------------------------------------------------


async def test_a_running_task_enqueues_another_through_current_tasks(
    tasks: Tasks, make_worker: Callable[..., Worker]
) -> None:
    registries: list[Tasks] = []

    class Follows(Task):
        name = "follows"

        async def run(self, params: Any, worker: Any) -> None:
            await current_tasks().enqueue_in(60_000, "echo", {"id": params["id"]})

    class Blocking(Task):
        name = "blocking"

        def run(self, params: Any, worker: Any) -> None:
            registries.append(current_tasks())  # in the worker's thread too

    tasks.add(Follows)
    tasks.add(Blocking)
    await tasks.enqueue("follows", {"id": 1})
    await tasks.enqueue("blocking", {})
    await make_worker("default", tasks.jobs).run(burst=True)
    await run_full_task(tasks, "follows", {"id": 2})
    await run_task(tasks, "follows", {"id": 3})
    delayed = [job["args"] for jobs in (await tasks.all_delayed()).values() for job in jobs]
    note = "from-default"
    assert sorted(delayed, key=str) == [[{"id": n, "note": note}] for n in (1, 2, 3)]
    assert registries == [tasks]
    with pytest.raises(TaskError, match="no task is running"):
        current_tasks()
    with tasks.as_current():
        assert current_tasks() is tasks


async def test_two_registries_each_see_their_own(redis_url: str, resque_namespace: str) -> None:
    seen: list[Tasks] = []

    class Who(Task):
        name = "who"

        async def run(self, params: Any, worker: Any) -> None:
            await asyncio.sleep(0)  # both runs interleave
            seen.append(current_tasks())

    first = Tasks(redis_url, namespace=resque_namespace)
    second = Tasks(redis_url, namespace=resque_namespace)
    try:
        for registry in (first, second):
            registry.add(Who)
        await asyncio.gather(run_full_task(first, "who", {}), run_full_task(second, "who", {}))
        assert sorted(map(id, seen)) == sorted([id(first), id(second)])
    finally:
        await first.aclose()
        await second.aclose()
