"""pyresque.testing.drain: run what is queued (and delayed until a time) in a test."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pyresque import PyresqueError, Queue, Scheduler
from pyresque.tasks import Input, Task, TaskMiddleware, Tasks, current_tasks
from pyresque.testing import DrainLimitError, drain, drain_tasks

HOUR_MS = 3_600_000


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def queue(make_queue: Callable[..., Queue]) -> Queue:
    found: Queue = make_queue()
    return found


def _jobs(queue: Queue) -> dict[str, Any]:
    async def add(a: int, b: int) -> int:
        return a + b

    async def fan_out(n: int) -> int:
        for i in range(n):
            await queue.enqueue("math", "add", [i, i])
        return n

    def boom(why: str) -> None:
        raise ValueError(why)

    return {"add": add, "fan_out": fan_out, "boom": boom}


async def test_drain_runs_queued_jobs_and_those_they_enqueue_reporting_each(
    queue: Queue,
) -> None:
    await queue.enqueue("math", "fan_out", [3])
    await queue.enqueue("other", "boom", ["no"])
    drained = await drain(queue, _jobs(queue))
    assert sorted(drained.results("add")) == [0, 2, 4]
    assert drained.results("fan_out") == [3]
    (failure,) = drained.failed
    assert failure.job_class == "boom" and failure.args == ["no"] and failure.queue == "other"
    assert isinstance(failure.error, ValueError)
    # A real worker ran them: the failure is in Redis, the stats count every job.
    (entry,) = await queue.failed()
    assert entry["payload"]["class"] == "boom" and entry["error"] == "no"
    assert (await queue.stats())["processed"] == "4"
    assert await queue.queues() == ["math", "other"] and await queue.length("math") == 0
    assert await queue.workers() == {}  # unregistered again


async def test_an_unknown_job_class_is_reported_as_failed_and_kept(queue: Queue) -> None:
    await queue.enqueue("q", "nobody_registered_this", [1])
    drained = await drain(queue, _jobs(queue))
    (failure,) = drained.failed
    assert failure.job_class == "nobody_registered_this"
    assert "nobody_registered_this" in str(failure.error)
    assert await queue.failed_count() == 1


async def test_due_by_moves_the_delayed_jobs_due_then_and_leaves_later_ones(
    queue: Queue,
) -> None:
    now = _now_ms()
    await queue.enqueue_at(now + HOUR_MS, "math", "add", [1, 1])
    await queue.enqueue_at(now + 2 * HOUR_MS, "math", "add", [2, 2])
    assert (await drain(queue, _jobs(queue))).ran == []  # nothing due yet

    drained = await drain(queue, _jobs(queue), due_by=now + HOUR_MS + 1000)
    assert drained.results("add") == [2] and drained.moved == 1
    assert len(await queue.timestamps()) == 1

    later = datetime.fromtimestamp((now + 2 * HOUR_MS) / 1000 + 1, UTC)
    assert (await drain(queue, _jobs(queue), due_by=later)).results("add") == [4]
    assert await queue.timestamps() == []


async def test_due_by_infinity_runs_everything_delayed(queue: Queue) -> None:
    far = _now_ms() + 400 * 24 * HOUR_MS
    await queue.enqueue_at(far, "math", "add", [5, 5])
    await queue.enqueue_in(60_000, "math", "add", [1, 2])
    drained = await drain(queue, _jobs(queue), due_by=math.inf)
    assert sorted(drained.results("add")) == [3, 10] and drained.moved == 2


async def test_a_chain_that_never_ends_is_an_error_not_a_hang(queue: Queue) -> None:
    async def again() -> None:
        await queue.enqueue("loop", "again", [])

    await queue.enqueue("loop", "again", [])
    with pytest.raises(DrainLimitError, match="after 25 "):
        await drain(queue, {"again": again}, max_jobs=25)
    assert await queue.length("loop") == 1  # the chain's next job, not lost or run twice
    assert (await queue.stats())["processed"] == "25"


async def test_a_delayed_chain_that_never_ends_is_an_error_after_max_rounds(
    queue: Queue,
) -> None:
    async def later() -> None:
        await queue.enqueue_in(1000, "loop", "later", [])

    await queue.enqueue("loop", "later", [])
    with pytest.raises(DrainLimitError, match="after 3 rounds"):
        await drain(queue, {"later": later}, due_by=_now_ms() + HOUR_MS, max_rounds=3)


async def test_draining_delayed_jobs_needs_the_leader_lock(
    queue: Queue, redis_url: str, resque_namespace: str
) -> None:
    await queue.enqueue_in(1000, "math", "add", [1, 1])
    other = Scheduler(redis_url, namespace=resque_namespace, name="someone-else")
    assert await other._try_for_leader()
    try:
        with pytest.raises(PyresqueError, match="another scheduler holds the leader lock"):
            await drain(queue, _jobs(queue), due_by=math.inf)
    finally:
        await other.stop()
    assert (await drain(queue, _jobs(queue), due_by=math.inf)).results("add") == [2]


# -- tasks ---------------------------------------------------------------------------------

LOG: list[str] = []


class Signup(Task):
    name = "signup"
    inputs = {"email": Input(required=True)}

    async def run(self, params: Mapping[str, Any], worker: Any) -> str:
        await current_tasks().enqueue_in(24 * HOUR_MS, "remind", {"email": params["email"]})
        return f"welcome {params['email']}"


class Remind(Task):
    name = "remind"
    queue = "mail"
    inputs = {"email": Input(required=True)}

    def run(self, params: Mapping[str, Any], worker: Any) -> str:
        return f"remember {params['email']}"


@pytest.fixture
async def tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    registry = Tasks(redis_url, namespace=resque_namespace)
    registry.add(Signup)
    registry.add(Remind)
    registry.add_middleware(
        TaskMiddleware(
            "log", global_=True, post_processor=lambda p: LOG.append(f"ran {p.job_class}")
        )
    )
    yield registry
    await registry.aclose()


async def test_drain_tasks_runs_a_flow_through_tomorrow_with_middleware(tasks: Tasks) -> None:
    LOG.clear()
    assert await tasks.enqueue("signup", {"email": "ada@example.com"})
    today = await drain_tasks(tasks)
    assert today.results("signup") == ["welcome ada@example.com"]
    assert today.of("remind") == [] and len(await tasks.timestamps()) == 1

    tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
    later = await drain_tasks(tasks, due_by=tomorrow)
    assert later.results("remind") == ["remember ada@example.com"]
    assert later.moved == 1 and await tasks.timestamps() == []
    assert LOG == ["ran signup", "ran remind"]
