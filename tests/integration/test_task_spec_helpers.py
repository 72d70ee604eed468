"""The task spec helpers on a real Redis, including where they fix Actionhero's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import redis

from pyresque.plugins.base import Plugin
from pyresque.tasks import Input, InputValidationError, Task, TaskError, TaskMiddleware, Tasks
from pyresque.testing import (
    delete_enqueued_tasks,
    find_enqueued_tasks,
    run_full_task,
    run_task,
)

ran: list[Any] = []


class Echo(Task):
    name = "echo"
    inputs = {
        "id": Input(required=True),
        "note": Input(default="from-default"),
        "size": Input(validator=lambda v: isinstance(v, int)),
    }

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        ran.append((dict(params) if params is not None else None, worker))
        return {"params": dict(params or {})}


class Blocking(Task):
    name = "blocking"

    def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        return ("blocking", params)


class WhoAmI(Task):
    name = "whoami"
    queue = "identity"

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        return {"job": dict(worker.job), "queue": worker.queue, "owner": worker.worker.job}


class Mutates(Task):
    name = "mutates"

    async def run(self, params: Any, worker: Any) -> None:
        params["x"] = 1


class Fails(Task):
    name = "fails"

    async def run(self, params: Any, worker: Any) -> None:
        raise ValueError(f"failed with {params['why']}")


class Tick(Task):
    name = "tick"
    queue = "periodic"
    frequency = 60_000

    async def run(self, params: Any, worker: Any) -> str:
        ran.append("tick")
        await asyncio.sleep(0.05)  # long enough for the concurrent runs to meet its JobLock
        return "ticked"


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


@pytest.fixture
async def tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    registry = Tasks(redis_url, namespace=resque_namespace)
    for task in (Echo, Blocking, WhoAmI, Mutates, Fails, Tick):
        registry.add(task)
    yield registry
    await registry.aclose()


# -- find_enqueued_tasks -----------------------------------------------------------------------


async def test_find_enqueued_tasks_lists_queued_and_delayed_copies_in_actioneros_shape(
    tasks: Tasks,
) -> None:
    at = 1_900_000_000_000
    assert await tasks.enqueue("echo", {"id": 1}) is True
    assert await tasks.enqueue("echo", {"id": 2}, "other") is True
    assert await tasks.enqueue("blocking", {}) is True
    assert await tasks.enqueue_at(at, "echo", {"id": 3}) is True
    assert await tasks.enqueue_at(at + 5000, "echo", {"id": 4}, "later-only") is True
    assert await tasks.enqueue_at(at, "blocking", {}) is True

    assert await find_enqueued_tasks(tasks, "echo") == [
        {"class": "echo", "queue": "default", "args": [{"id": 1, "note": "from-default"}],
         "timestamp": None},
        {"class": "echo", "queue": "other", "args": [{"id": 2, "note": "from-default"}],
         "timestamp": None},
        {"class": "echo", "queue": "default", "args": [{"id": 3, "note": "from-default"}],
         "timestamp": at},
        {"class": "echo", "queue": "later-only", "args": [{"id": 4, "note": "from-default"}],
         "timestamp": at + 5000},
    ]  # fmt: skip
    assert await find_enqueued_tasks(tasks, "nothing-of-that-name") == []


async def test_find_enqueued_tasks_reads_no_key_space_scan(
    tasks: Tasks, resque_redis: redis.Redis
) -> None:
    await tasks.enqueue("echo", {"id": 1})
    await tasks.enqueue_in(60_000, "echo", {"id": 2})
    resque_redis.execute_command("CONFIG", "RESETSTAT")
    assert len(await find_enqueued_tasks(tasks, "echo")) == 2
    stats = resque_redis.info("commandstats")
    assert "cmdstat_scan" not in stats and "cmdstat_keys" not in stats


# -- delete_enqueued_tasks ---------------------------------------------------------------------


async def test_delete_enqueued_tasks_removes_queued_and_delayed_copies_with_those_params(
    tasks: Tasks, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    params = {"id": 1, "note": "from-default"}
    await tasks.enqueue("echo", {"id": 1})
    await tasks.enqueue("echo", {"id": 1})
    await tasks.enqueue("echo", {"id": 2})
    await tasks.enqueue_in(60_000, "echo", {"id": 1})
    await tasks.enqueue_in(120_000, "echo", {"id": 2})
    # A delayed copy on a queue no immediate enqueue ever registered: Actionhero's helper
    # walks only the registered queues and leaves this one.
    await tasks.enqueue_in(90_000, "echo", {"id": 1}, "delayed-only")
    assert resque_redis.smembers(f"{resque_namespace}:queues") == {b"default"}

    assert await delete_enqueued_tasks(tasks, "echo", params) == 4
    left = await find_enqueued_tasks(tasks, "echo")
    assert [(job["args"][0]["id"], job["timestamp"] is None) for job in left] == [
        (2, True),
        (2, False),
    ]
    assert await delete_enqueued_tasks(tasks, "echo", params) == 0


async def test_delete_enqueued_tasks_matches_params_as_values(tasks: Tasks) -> None:
    await tasks.enqueue("echo", {"id": 1})
    await tasks.enqueue("echo", {"id": True})
    # Key order is not what makes two params the same; True is not 1.
    assert await delete_enqueued_tasks(tasks, "echo", {"note": "from-default", "id": 1}) == 1
    (left,) = await find_enqueued_tasks(tasks, "echo")
    assert left["args"] == [{"id": True, "note": "from-default"}]


# -- run_task ----------------------------------------------------------------------------------


async def test_run_task_calls_the_bare_run_with_the_params_as_given(tasks: Tasks) -> None:
    params = {"size": "not an int"}  # neither validated nor defaulted
    assert await run_task(tasks, "echo", params) == {"params": params}
    assert ran == [(params, None)]
    assert await run_task(tasks, "blocking", {"a": 1}) == ("blocking", {"a": 1})
    assert await run_task(tasks, "mutates", {}) is None  # not frozen either
    with pytest.raises(TaskError, match="task nope not found"):
        await run_task(tasks, "nope", {})


# -- run_full_task -----------------------------------------------------------------------------


async def test_run_full_task_defaults_and_validates_inputs(tasks: Tasks) -> None:
    assert await run_full_task(tasks, "echo", {"id": 7}) == {
        "params": {"id": 7, "note": "from-default"}
    }
    with pytest.raises(InputValidationError, match="id is a required input for task echo"):
        await run_full_task(tasks, "echo", {})
    with pytest.raises(InputValidationError, match="x is not a valid value for size"):
        await run_full_task(tasks, "echo", {"id": 1, "size": "x"})
    assert len(ran) == 1
    with pytest.raises(TaskError, match="task nope not found"):
        await run_full_task(tasks, "nope", {})


async def test_run_full_task_freezes_params_and_gives_the_job_its_payload(tasks: Tasks) -> None:
    with pytest.raises(TypeError, match="does not support item assignment"):
        await run_full_task(tasks, "mutates", {})
    payload = {"class": "whoami", "queue": "identity", "args": [{"a": 1}]}
    assert await run_full_task(tasks, "whoami", {"a": 1}) == {
        "job": payload,
        "queue": "identity",  # the task's queue, not a made-up one
        "owner": payload,  # the worker object's ``job`` too, as middleware reads it
    }


async def test_run_full_task_runs_plugins_and_middleware_and_returns_their_result(
    tasks: Tasks,
) -> None:
    calls: list[str] = []

    def pre(plugin: Plugin) -> bool:
        calls.append(f"pre {plugin.queue} {plugin.owner.job['class']}")
        plugin.args[0]["added"] = True  # before the freeze, as in a worker
        return True

    def post(plugin: Plugin) -> None:
        assert plugin.outcome is not None
        calls.append("post")
        plugin.outcome.result = {"wrapped": plugin.outcome.result}

    class Counting(Plugin):
        async def before_perform(self) -> bool:
            calls.append("plugin")
            return True

    class Plugged(Task):
        name = "plugged"
        plugins = (Counting,)

        async def run(self, params: Any, worker: Any) -> Any:
            calls.append("run")
            return dict(params)

    tasks.add_middleware(TaskMiddleware("audit", global_=True, pre_processor=pre,
                                        post_processor=post))  # fmt: skip
    tasks.add(Plugged)
    assert await run_full_task(tasks, "plugged", {"id": 1}) == {"wrapped": {"id": 1, "added": True}}
    assert calls == ["plugin", "pre default plugged", "run", "post"]


async def test_run_full_task_returns_none_when_vetoed(tasks: Tasks) -> None:
    tasks.add_middleware(
        TaskMiddleware("gate", global_=True, pre_processor=lambda p: p.args[0]["id"] != "no")
    )
    assert await run_full_task(tasks, "echo", {"id": "no"}) is None
    assert ran == []
    assert (await run_full_task(tasks, "echo", {"id": "yes"}))["params"]["id"] == "yes"


async def test_run_full_task_raises_on_failure_after_the_post_processor_saw_it(
    tasks: Tasks,
) -> None:
    seen: list[str] = []

    def post(plugin: Plugin) -> None:
        assert plugin.outcome is not None
        seen.append(str(plugin.outcome.error))
        if plugin.args[0]["why"] == "forgivable":
            plugin.outcome.error = None
            plugin.outcome.result = "forgiven"

    tasks.add_middleware(TaskMiddleware("forgive", global_=True, post_processor=post))
    with pytest.raises(ValueError, match="failed with bad luck"):
        await run_full_task(tasks, "fails", {"why": "bad luck"})
    assert await run_full_task(tasks, "fails", {"why": "forgivable"}) == "forgiven"
    assert seen == ["failed with bad luck", "failed with forgivable"]


async def test_run_full_task_writes_no_worker_bookkeeping(
    tasks: Tasks, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    await run_full_task(tasks, "echo", {"id": 1})
    with pytest.raises(ValueError, match="failed"):
        await run_full_task(tasks, "fails", {"why": "x"})
    assert list(resque_redis.scan_iter(match=f"{resque_namespace}:*")) == []


async def test_run_full_task_of_a_periodic_task_takes_its_lock_and_re_enqueues_it(
    tasks: Tasks,
) -> None:
    # Actionhero's test: five at once give one run (JobLock drops the others) and one
    # delayed copy.
    results = await asyncio.gather(*(run_full_task(tasks, "tick", {}) for _ in range(5)))
    assert sorted(results, key=str) == [None, None, None, None, "ticked"]
    assert ran == ["tick"]
    delayed = await find_enqueued_tasks(tasks, "tick")
    assert [(job["queue"], job["args"]) for job in delayed] == [("periodic", [{}])]
    assert await tasks.locks() == {}  # the JobLock was released after the run
