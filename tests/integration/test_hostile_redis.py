"""A shared Redis holds keys pyresque did not write: keys of the wrong type, corrupt counters.
Bad state is contained: reported with its key, never a reason to lose or stall a job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pyresque import Queue, Scheduler, Worker
from pyresque.errors import PyresqueError, WrongTypeError
from pyresque.protocol.keys import KeySpace
from pyresque.testing import poll_until

NOW = 1_900_000_000.0


def errors_of(emitter: Worker | Scheduler) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    emitter.on("error", lambda *args: seen.append(args))
    return seen


# -- the scheduler ------------------------------------------------------------------------


async def test_a_delayed_job_for_a_wrong_typed_queue_goes_to_failed_and_the_rest_still_move(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis, keys: KeySpace
) -> None:
    # Issue 9, failure 1: one WRONGTYPE used to trim the second away and lose both jobs.
    resque_redis.set(keys.queue("bad"), "x")
    async with Queue(redis_url, namespace=resque_namespace, clock=lambda: NOW - 10) as queue:
        await queue.enqueue_at((NOW - 1) * 1000, "bad", "Job", [1])
        await queue.enqueue_at((NOW - 1) * 1000, "good", "Job", [2])
    scheduler = Scheduler(redis_url, namespace=resque_namespace, clock=lambda: NOW)
    errors = errors_of(scheduler)
    while await scheduler.poll():
        pass
    await scheduler.stop()
    assert resque_redis.get(keys.queue("bad")) == b"x"  # left alone
    assert resque_redis.lrange(keys.queue("good"), 0, -1) == [
        b'{"class":"Job","queue":"good","args":[2]}'
    ]
    [failed] = [json.loads(f) for f in resque_redis.lrange(keys.failed(), 0, -1)]
    assert failed["payload"] == {"class": "Job", "queue": "bad", "args": [1]}
    assert failed["exception"] == "WrongTypeError"
    assert keys.queue("bad") in failed["error"]
    assert resque_redis.zcard(keys.schedule()) == 0
    assert len(errors) == 1 and keys.queue("bad") in str(errors[0][0])


async def test_a_second_that_cannot_move_anywhere_stays_delayed_and_later_seconds_still_move(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis, keys: KeySpace
) -> None:
    resque_redis.set(keys.failed(), "not a list")
    resque_redis.set(keys.queue("bad"), "x")
    async with Queue(redis_url, namespace=resque_namespace, clock=lambda: NOW - 10) as queue:
        await queue.enqueue_at((NOW - 3) * 1000, "bad", "Job", [1])  # failed is unusable too
        await queue.enqueue_at((NOW - 2) * 1000, "good", "Job", [2])
    scheduler = Scheduler(redis_url, namespace=resque_namespace, clock=lambda: NOW)
    errors = errors_of(scheduler)
    for _ in range(5):
        if not await scheduler.poll():
            break
    await scheduler.stop()
    assert resque_redis.llen(keys.queue("good")) == 1
    assert resque_redis.lrange(keys.delayed(int(NOW - 3)), 0, -1) == [
        b'{"class":"Job","queue":"bad","args":[1]}'
    ]
    assert resque_redis.zrange(keys.schedule(), 0, -1) == [str(int(NOW - 3)).encode()]
    assert resque_redis.get(keys.failed()) == b"not a list"
    assert any(isinstance(e[0], WrongTypeError) and keys.failed() in str(e[0]) for e in errors)


# -- the worker ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["node", "ruby"])
@pytest.mark.parametrize("queues", ["bad,math", "*"])
async def test_a_worker_skips_a_wrong_typed_queue_works_the_others_and_a_burst_ends(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
    dialect: str,
    queues: str,
) -> None:
    # Issue 9, failure 2: the step script failed on the first queue and never got further.
    resque_redis.set(keys.queue("bad"), "x")
    resque_redis.sadd(keys.queues(), "bad")
    done: list[int] = []
    async with Queue(redis_url, namespace=resque_namespace, dialect=dialect) as queue:
        for n in range(3):
            await queue.enqueue("math", "add", [n, 1])
    worker = make_worker(
        queues, {"add": lambda a, b: done.append(a + b)}, dialect=dialect, timeout=50
    )
    errors = errors_of(worker)
    await worker.run(burst=True)
    assert sorted(done) == [1, 2, 3]
    assert resque_redis.get(keys.queue("bad")) == b"x"
    assert list(worker.unreadable) == ["bad"]
    assert len(errors) == 1  # once, not once per step
    error = errors[0][0]
    assert isinstance(error, WrongTypeError) and error.key == keys.queue("bad")
    assert "LPOP" in str(error) and "sha" not in str(error).lower()


async def test_a_queue_that_becomes_readable_again_is_worked_and_no_longer_reported(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
) -> None:
    resque_redis.set(keys.queue("bad"), "x")
    done: list[str] = []
    worker = make_worker("bad,good", {"mark": done.append}, timeout=50)
    await worker.start()
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("good", "mark", ["good"])
        await poll_until(lambda: _true(done == ["good"] and "bad" in worker.unreadable))
        resque_redis.delete(keys.queue("bad"))
        await queue.enqueue("bad", "mark", ["bad"])
        await poll_until(lambda: _true(done == ["good", "bad"]))
    assert worker.unreadable == {}


async def test_unusable_stat_counters_are_skipped_and_the_job_still_settles(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
) -> None:
    resque_redis.set(keys.stat("processed"), "many")
    resque_redis.sadd(keys.stat("failed"), "a set")
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "ok", [])
        await queue.enqueue("q", "boom", [])
    worker = make_worker("q", {"ok": lambda: None, "boom": _boom}, timeout=5000)
    errors = errors_of(worker)
    await worker.run(burst=True)
    assert resque_redis.get(keys.stat("processed")) == b"many"
    assert resque_redis.smembers(keys.stat("failed")) == {b"a set"}
    assert resque_redis.llen(keys.failed()) == 1
    assert resque_redis.keys(f"{resque_namespace}:worker:*") == []
    assert {e[0].key for e in errors} == {keys.stat("processed"), keys.stat("failed")}


async def test_a_failed_job_waits_in_its_record_while_the_failed_list_is_unusable(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
) -> None:
    resque_redis.set(keys.failed(), "not a list")
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "boom", [])
        await queue.enqueue("q", "boom", [])
    worker = make_worker("q", {"boom": _boom}, timeout=50)
    errors = errors_of(worker)
    await worker.start()
    await poll_until(lambda: _true(bool(errors)))
    record = json.loads(resque_redis.get(keys.worker(worker.identity.member)) or b"null")
    assert record["payload"]["class"] == "boom"  # kept, not lost
    assert resque_redis.llen(keys.queue("q")) == 1  # and nothing more taken meanwhile
    assert keys.failed() in str(errors[0][0])
    resque_redis.delete(keys.failed())
    await poll_until(lambda: _true(resque_redis.llen(keys.failed()) == 2))


async def test_an_enqueue_to_a_wrong_typed_queue_fails_naming_the_key_and_writes_nothing(
    queue: Queue, resque_redis: redis.Redis, keys: KeySpace
) -> None:
    resque_redis.set(keys.queue("bad"), "x")
    with pytest.raises(WrongTypeError) as raised:
        await queue.enqueue("bad", "Job", [1])
    assert raised.value.key == keys.queue("bad")
    assert "enqueue" in str(raised.value) and "script:" not in str(raised.value)
    assert isinstance(raised.value, PyresqueError) and isinstance(raised.value, redis.ResponseError)
    assert resque_redis.exists(keys.queues()) == 0


def _boom() -> None:
    raise RuntimeError("boom")


async def _true(value: bool) -> bool:
    return value
