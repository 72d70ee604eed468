"""MultiWorker against a real Redis: node-resque's scaling rules, names and events."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import redis

from pyresque import ConfigurationError, MultiWorker, Queue, current_job
from pyresque.server import RedisServer
from pyresque.testing import poll_until
from pyresque.worker.multi import scaling_action

HOST = socket.gethostname()
PID = os.getpid()


def child(n: int) -> str:
    """node-resque's name for a MultiWorker's n-th child."""
    return f"{HOST}:{PID}+{n}"


class Gates:
    """Jobs that wait until released; remembers which child runs each."""

    def __init__(self) -> None:
        self.gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.owner: dict[str, str] = {}
        self.open = False

    async def hold(self, key: str) -> str:
        job = current_job()
        assert job is not None
        self.owner[key] = job.worker.name
        if not self.open:
            await self.gates[key].wait()
        return key

    def release(self, *keys: str) -> None:
        """Release these jobs, or (no keys) every job, running or to come."""
        self.open = not keys
        for key in keys or list(self.gates):
            self.gates[key].set()


async def spin(ms: float) -> None:
    """A CPU-bound job written as ``async def``: it holds the event loop."""
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        pass


def record_actions(mw: MultiWorker) -> list[tuple[str, float, int]]:
    """(verb, delay, pool size after the action) for every multiWorkerAction."""
    actions: list[tuple[str, float, int]] = []
    mw.on("multiWorkerAction", lambda verb, delay: actions.append((verb, delay, len(mw.workers))))
    return actions


def members(client: redis.Redis, ns: str) -> set[str]:
    return {os.fsdecode(m) for m in client.smembers(f"{ns}:workers")}


@pytest.mark.parametrize(
    ("running", "blocked", "workers", "working", "retiring", "expected"),
    [
        (False, False, 2, 1, 0, "--"),
        (False, True, 0, 0, 0, "x"),
        (True, True, 3, 3, 0, "-"),
        (True, True, 1, 1, 0, "x"),
        (True, True, 0, 0, 0, "x"),  # blocked below min: no row matches
        (True, False, 0, 0, 0, "+"),
        (True, False, 2, 2, 0, "+"),
        (True, False, 2, 1, 0, "x"),  # exactly half busy: neither grow nor shrink
        (True, False, 4, 4, 0, "x"),  # at max
        (True, False, 3, 3, 1, "x"),  # a retiring child still counts against max
        (True, False, 3, 1, 0, "-"),
        (True, False, 1, 0, 0, "x"),  # at min
    ],
)
def test_scaling_follows_node_resques_table(
    running: bool, blocked: bool, workers: int, working: int, retiring: int, expected: str
) -> None:
    verb = scaling_action(
        running=running,
        blocked=blocked,
        workers=workers,
        working=working,
        retiring=retiring,
        min_workers=1,
        max_workers=4,
    )
    assert verb == expected


def test_min_zero_still_starts_a_worker_when_there_is_none() -> None:
    def verb(workers: int) -> str:
        return scaling_action(
            running=True,
            blocked=False,
            workers=workers,
            working=0,
            retiring=0,
            min_workers=0,
            max_workers=4,
        )

    assert (verb(0), verb(1)) == ("+", "-")


def test_bad_pool_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_task_processors"):
        MultiWorker("redis://localhost", min_task_processors=3, max_task_processors=2)


async def test_scales_up_to_max_under_slow_jobs_and_back_down_to_min_when_idle(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    gates = Gates()
    mw = make_multi_worker({"hold": gates.hold}, min_task_processors=1, max_task_processors=4)
    actions = record_actions(mw)
    queue = make_queue()
    for i in range(8):
        await queue.enqueue("q", "hold", [f"job{i}"])
    await mw.start()

    await poll_until(lambda: _true(len(mw.workers) == 4 and mw.working == 4))
    assert actions[0] == ("x", math.inf, 0)  # starts blocked, as node-resque does
    assert [a[0] for a in actions if a[0] != "x"] == ["+"] * 4
    assert members(resque_redis, resque_namespace) == {f"{child(n)}:q" for n in (1, 2, 3, 4)}
    # Four jobs are still queued, but the pool stays at max.
    seen = len(actions)
    await poll_until(lambda: _true(len(actions) >= seen + 4))
    assert len(mw.workers) == 4 and await queue.length("q") == 4
    assert max(a[2] for a in actions) == 4

    gates.release()
    await poll_until(lambda: _true(len(mw.workers) == 1), timeout=10)
    await poll_until(
        lambda: _true(members(resque_redis, resque_namespace) == {f"{child(1)}:q"}), timeout=5
    )
    assert [a[0] for a in actions].count("-") == 3
    assert len(gates.owner) == 8 and await queue.length("q") == 0


async def test_jobs_that_block_the_event_loop_shrink_the_pool_to_min(
    make_multi_worker: Callable[..., MultiWorker], make_queue: Callable[..., Queue]
) -> None:
    gates = Gates()
    mw = make_multi_worker(
        {"hold": gates.hold, "spin": spin}, min_task_processors=1, max_task_processors=3
    )
    actions = record_actions(mw)
    queue = make_queue()
    for i in range(3):
        await queue.enqueue("q", "hold", [f"job{i}"])
    await mw.start()
    await poll_until(lambda: _true(len(mw.workers) == 3 and mw.working == 3))
    grown = len(actions)

    for _ in range(20):
        await queue.enqueue("q", "spin", [200])
    gates.release()
    await poll_until(lambda: _true(len(mw.workers) == 1), timeout=10)

    shrinking = [a for a in actions[grown:] if a[0] == "-"]
    assert len(shrinking) >= 2
    assert all(delay > 50 for _, delay, _ in shrinking)  # shrunk because blocked, not idle
    assert mw.event_loop_blocked


async def test_children_have_node_resque_names_and_share_one_connection(
    make_multi_worker: Callable[..., MultiWorker], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    mw = make_multi_worker({}, min_task_processors=5, max_task_processors=5)
    before = {c["id"] for c in resque_redis.client_list()}
    await mw.start()
    await poll_until(lambda: _true(len(mw.workers) == 5))
    # Wait until the idle children wait for jobs (the shared waker blocks on the queue).
    await poll_until(lambda: _true(any(c["cmd"] == "blmove" for c in resque_redis.client_list())))

    assert [w.name for w in mw.workers] == [child(n) for n in range(1, 6)]
    assert members(resque_redis, ns) == {f"{child(n)}:q" for n in range(1, 6)}
    ping = json.loads(resque_redis.get(f"{ns}:worker:ping:{child(1)}") or b"null")
    assert ping["name"] == child(1) and ping["queues"] == "q"
    # One command connection for all five children, plus one blocking one for queue q.
    opened = [c for c in resque_redis.client_list() if c["id"] not in before]
    assert len(opened) == 2
    assert sum(c["cmd"] == "blmove" for c in opened) == 1


async def test_every_job_is_processed_exactly_once(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    done: list[int] = []

    async def add_async(i: int) -> None:
        done.append(i)

    def add_sync(i: int) -> None:  # runs in the MultiWorker's thread pool
        done.append(i)

    mw = make_multi_worker({"add_async": add_async, "add_sync": add_sync})
    queue = make_queue()
    await asyncio.gather(
        *(queue.enqueue("q", "add_sync" if i % 2 else "add_async", [i]) for i in range(500))
    )
    await mw.start()
    await poll_until(lambda: _true(len(done) >= 500), timeout=20)
    await mw.stop()

    assert sorted(done) == list(range(500))
    assert resque_redis.get(f"{ns}:stat:processed") == b"500"
    assert resque_redis.llen(f"{ns}:failed") == 0
    assert await queue.length("q") == 0


async def test_stop_lets_running_jobs_finish_and_leaves_no_registration_behind(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    finished: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.3)
        finished.append("slow")

    mw = make_multi_worker({"slow": slow}, min_task_processors=3, max_task_processors=3)
    actions = record_actions(mw)
    await mw.start()
    await poll_until(lambda: _true(len(mw.workers) == 3))
    await make_queue().enqueue("q", "slow")
    await poll_until(lambda: _true(mw.working == 1))

    await mw.stop()

    assert finished == ["slow"]
    assert resque_redis.get(f"{ns}:stat:processed") == b"1"
    assert resque_redis.smembers(f"{ns}:workers") == set()
    assert list(resque_redis.scan_iter(match=f"{ns}:worker:*")) == []
    assert [a[0] for a in actions[-2:]] == ["--", "x"]
    assert mw.workers == [] and mw.working == 0


async def test_stop_with_zero_grace_fails_the_running_job_for_retry(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    gates = Gates()
    mw = make_multi_worker({"hold": gates.hold}, min_task_processors=1, max_task_processors=1)
    await make_queue().enqueue("q", "hold", ["forever"])
    await mw.start()
    await poll_until(lambda: _true(mw.working == 1))

    await mw.stop(grace=0)

    [raw] = resque_redis.lrange(f"{resque_namespace}:failed", 0, -1)
    entry = json.loads(raw)
    assert entry["worker"] == child(1)
    assert entry["payload"] == {"class": "hold", "queue": "q", "args": ["forever"]}
    assert entry["backtrace"][1] == "queue#forceCleanWorker"  # what retryStuckJobs looks for
    assert resque_redis.smembers(f"{resque_namespace}:workers") == set()


async def test_scaling_down_retires_the_newest_child_without_cutting_its_job_short(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    gates = Gates()
    mw = make_multi_worker(
        {"hold": gates.hold}, min_task_processors=1, max_task_processors=3, shutdown_grace=0.01
    )
    successes: list[tuple[int, str]] = []
    failures: list[tuple[Any, ...]] = []
    mw.on("success", lambda wid, queue, job, result, ms: successes.append((wid, result)))
    mw.on("failure", lambda *args: failures.append(args))
    queue = make_queue()
    for key in ("a", "b", "c"):
        await queue.enqueue("q", "hold", [key])
    await mw.start()
    await poll_until(lambda: _true(len(mw.workers) == 3 and len(gates.owner) == 3))
    newest = next(key for key, name in gates.owner.items() if name == child(3))

    gates.release(*(key for key in gates.owner if key != newest))
    await poll_until(lambda: _true(len(mw.workers) == 1), timeout=5)
    # Child 3 left the pool long past its shutdown grace, and is still on its job.
    assert mw.working == 1
    assert f"{child(3)}:q" in members(resque_redis, resque_namespace)

    gates.release(newest)
    await poll_until(lambda: _true((3, newest) in successes))
    assert failures == []
    await poll_until(lambda: _true(members(resque_redis, resque_namespace) == {f"{child(1)}:q"}))


async def test_child_events_are_forwarded_with_the_worker_id(
    make_multi_worker: Callable[..., MultiWorker], make_queue: Callable[..., Queue]
) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    mw = make_multi_worker(
        {"ok": lambda x: x * 2, "boom": boom}, min_task_processors=2, max_task_processors=2
    )
    seen: defaultdict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for event in ("start", "end", "job", "success", "failure"):
        mw.on(event, lambda *args, _event=event: seen[_event].append(args))
    await mw.start()
    await poll_until(lambda: _true(len(seen["start"]) == 2))
    queue = make_queue()
    await queue.enqueue("q", "ok", [21])
    await queue.enqueue("q", "boom")
    await poll_until(lambda: _true(bool(seen["success"] and seen["failure"])))
    await mw.stop()

    assert sorted(args[0] for args in seen["start"]) == [1, 2]
    assert all(isinstance(args[1], datetime) for args in seen["start"])
    [(wid, q, job, result, ms)] = seen["success"]
    assert wid in (1, 2) and q == "q" and result == 42 and ms >= 0
    assert job == {"class": "ok", "queue": "q", "args": [21]}
    [(wid, q, job, error, ms)] = seen["failure"]
    assert wid in (1, 2) and q == "q" and job["class"] == "boom"
    assert isinstance(error, RuntimeError)
    assert sorted(args[0] for args in seen["job"]) == sorted([seen["success"][0][0], wid])
    assert sorted(args[0] for args in seen["end"]) == [1, 2]


async def test_child_errors_are_forwarded_with_the_worker_id_second(
    make_multi_worker: Callable[..., MultiWorker],
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    errors: list[tuple[Any, ...]] = []
    done: list[int] = []

    async def add(i: int) -> None:
        done.append(i)

    mw = make_multi_worker({"add": add}, min_task_processors=1, max_task_processors=1, timeout=50)
    mw.on("error", lambda *args: errors.append(args))
    resque_redis.set(f"{resque_namespace}:queue:q", b"not a list")
    await mw.start()
    await poll_until(lambda: _true(bool(errors)))

    error, wid, _queue, job = errors[0]
    assert wid == 1 and job is None
    assert "WRONGTYPE" in str(error)
    # The child carries on once the queue is a queue again.
    resque_redis.delete(f"{resque_namespace}:queue:q")
    await make_queue().enqueue("q", "add", [7])
    await poll_until(lambda: _true(done == [7]))


async def test_a_child_that_cannot_reach_redis_is_reported_and_starts_once_redis_answers(
    resque_namespace: str,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mw = MultiWorker(
        f"redis://127.0.0.1:{port}/0",
        "q",
        {"add": lambda a, b: done.append(a + b)},
        namespace=resque_namespace,
        check_timeout=20,
        max_event_loop_delay=50,
        min_task_processors=1,
        max_task_processors=1,
    )
    done: list[int] = []
    actions = record_actions(mw)
    errors: list[tuple[Any, ...]] = []
    mw.on("error", lambda *args: errors.append(args))
    await mw.start()
    server = RedisServer(port=port)
    try:
        await poll_until(lambda: _true(len(errors) >= 1))
        assert [(wid, queue, job) for _, wid, queue, job in errors[:1]] == [(1, None, None)]
        assert isinstance(errors[0][0], ConnectionError)
        assert "+" not in [a[0] for a in actions] and mw.workers == []
        server.start()
        await poll_until(lambda: _true(len(mw.workers) == 1))
        async with Queue(server.url, namespace=resque_namespace) as queue:
            await queue.enqueue("q", "add", [2, 3])
            await poll_until(lambda: _true(done == [5]))
    finally:
        await mw.stop()
        server.stop()
    assert len(errors) == 1  # reported once, not once per try


async def _true(value: bool) -> bool:
    return value


def test_a_pool_name_its_children_could_not_be_parsed_under_is_refused_at_once() -> None:
    with pytest.raises(ConfigurationError, match="one colon at most"):
        MultiWorker("redis://127.0.0.1:1/0", "q", name="billing:eu")
    with pytest.raises(ConfigurationError, match="host:pid"):
        MultiWorker("redis://127.0.0.1:1/0", "q", name="a:b", dialect="ruby")
