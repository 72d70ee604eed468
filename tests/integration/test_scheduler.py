"""pyresque.Scheduler against a real Redis: leader locks, promotion of delayed jobs, crash
safety, stuck workers, plugins and events. Synchronised on Redis state, never on sleeps."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import ConnectionFailedError, JobDefinition, Queue, Scheduler
from pyresque.connection import AsyncDriver, LeanDriver, Settings
from pyresque.plugins import Plugin
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.plan import Step
from pyresque.protocol.plans import workers
from pyresque.scheduler import ruby_hostname
from pyresque.testing import poll_until, wait_until
from tests.keys import key

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_000_000.0  # the fake clock's start: 2026-11-18


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def made(make_scheduler: Callable[..., Scheduler]) -> Callable[..., Scheduler]:
    """Schedulers from ``make_scheduler``, each on its own fake clock unless given one."""

    def make(**options: Any) -> Scheduler:
        options.setdefault("clock", Clock())
        return make_scheduler(**options)

    return make


def events_of(scheduler: Scheduler, *names: str) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    for name in names:
        scheduler.on(name, lambda *args, _n=name: seen.append((_n, *args)))
    return seen


# -- leader election --------------------------------------------------------------------


async def test_node_dialect_takes_node_resques_leader_lock(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    scheduler = made(leader_lock_timeout=90)
    seen = events_of(scheduler, "leader")
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    assert scheduler.name == f"{socket.gethostname()}:{os.getpid()}"
    assert await scheduler.poll() is False  # nothing due, no stuck workers
    assert scheduler.leader is True
    assert resque_redis.get(lock) == scheduler.name.encode()
    assert 85 <= resque_redis.ttl(lock) <= 90
    resque_redis.expire(lock, 5)
    await scheduler.poll()  # refreshed
    assert resque_redis.ttl(lock) > 85
    assert seen == [("leader",)]  # once, on the transition
    assert (
        resque_redis.exists(key(resque_namespace, resque_namespace, "resque_scheduler_master_lock"))
        == 0
    )


async def test_a_lock_held_by_another_value_is_never_taken_refreshed_or_released(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    resque_redis.set(lock, "other:1", ex=50)
    scheduler = made()
    await scheduler.start()
    await poll_until(lambda: _polled(scheduler))
    assert scheduler.leader is False
    assert resque_redis.get(lock) == b"other:1" and resque_redis.ttl(lock) <= 50
    await scheduler.stop()
    assert resque_redis.get(lock) == b"other:1"


async def _polled(scheduler: Scheduler) -> bool:
    await asyncio.sleep(0.25)  # more than one 100 ms poll
    return True


async def test_losing_the_lock_mid_run_stops_leading_and_the_release_spares_the_new_holder(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    scheduler = made(name="mine", timeout=60_000)  # one poll at start, then only ours
    await scheduler.start()
    await poll_until(lambda: _is(scheduler, leader=True))
    resque_redis.set(lock, "usurper", ex=60)  # ours expired and another took it
    assert await scheduler.poll() is False
    assert scheduler.leader is False
    assert resque_redis.get(lock) == b"usurper" and resque_redis.ttl(lock) <= 60
    await scheduler.stop()
    assert resque_redis.get(lock) == b"usurper"


async def test_clean_stop_hands_over_within_one_poll(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    first, second = made(name="first", timeout=200), made(name="second", timeout=200)
    await first.start()
    await poll_until(lambda: _is(first, leader=True))
    await second.start()
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    await asyncio.sleep(0.3)
    assert resque_redis.get(lock) == b"first" and not second.leader
    began = time.monotonic()
    await first.stop()
    await poll_until(lambda: _is(second, leader=True), timeout=2)
    assert time.monotonic() - began < 0.2 + 0.25  # one poll, plus scheduling slack
    assert resque_redis.get(lock) == b"second"


async def _is(scheduler: Scheduler, *, leader: bool) -> bool:
    return scheduler.leader is leader


async def test_ruby_dialect_takes_resque_schedulers_master_lock(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    scheduler = made(dialect="ruby")
    await scheduler.poll()
    value = f"{ruby_hostname()}:{os.getpid()}"
    assert scheduler.name == value and scheduler.leader
    master = key(resque_namespace, resque_namespace, "resque_scheduler_master_lock")
    assert resque_redis.get(master) == value.encode()
    assert 175 <= resque_redis.ttl(master) <= 180
    assert resque_redis.exists(key(resque_namespace, "resque_scheduler_leader_lock")) == 0
    await scheduler.stop()
    assert resque_redis.exists(master) == 0


async def test_both_locks_leads_only_while_holding_both(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    leader = key(resque_namespace, "resque_scheduler_leader_lock")
    master = key(resque_namespace, resque_namespace, "resque_scheduler_master_lock")
    scheduler = made(both_locks=True, name="both:1")
    await scheduler.poll()
    assert scheduler.leader
    assert resque_redis.mget(leader, master) == [b"both:1", b"both:1"]
    # A resque-scheduler took the master lock meanwhile: stop leading, keep neither.
    resque_redis.set(master, "localhost:99", ex=60)
    await scheduler.poll()
    assert scheduler.leader is False
    assert resque_redis.mget(leader, master) == [None, b"localhost:99"]
    resque_redis.delete(master)
    await scheduler.poll()
    assert scheduler.leader
    assert resque_redis.mget(leader, master) == [b"both:1", b"both:1"]


async def test_both_locks_default_values_follow_each_peer(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    scheduler = made(both_locks=True)
    await scheduler.poll()
    pid = os.getpid()
    leader = key(resque_namespace, "resque_scheduler_leader_lock")
    master = key(resque_namespace, resque_namespace, "resque_scheduler_master_lock")
    assert resque_redis.get(leader) == f"{socket.gethostname()}:{pid}".encode()
    assert resque_redis.get(master) == f"{ruby_hostname()}:{pid}".encode()


# -- promotion --------------------------------------------------------------------------


def delayed_state(r: redis.Redis, ns: str) -> dict[str, Any]:
    """Everything the delayed layout holds (lists, timestamps sets, schedule)."""
    return {
        k.decode()[len(ns) + 1 :]: r.type(k).decode()
        for k in r.scan_iter(match=f"{ns}:*")
        if k.decode()[len(ns) + 1 :].startswith(("delayed", "timestamps"))
    }


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_promotes_node_and_ruby_items_to_the_dialects_payloads(
    dialect: str,
    made: Callable[..., Scheduler],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    ns, clock = resque_namespace, Clock()
    at_ms = (NOW + 60) * 1000
    async with (
        Queue(redis_url, namespace=ns, dialect="node", clock=clock) as node,
        Queue(redis_url, namespace=ns, dialect="ruby", clock=clock) as ruby,
    ):
        await node.enqueue_at(at_ms, "q", "NodeJob", [1, 2.5, {"a": None}])
        await ruby.enqueue_at(at_ms, "q", "RubyJob", [1.0, "x"])
    ts = str(int(NOW + 60))
    # An item with a field neither peer writes: dropped, as both peers re-encode.
    extra = b'{"class":"Extra","queue":"r","args":[],"meta":{"k":1}}'
    resque_redis.rpush(key(ns, "delayed", ts), extra)
    resque_redis.sadd(key(ns, "timestamps", extra.decode()), f"delayed:{ts}")
    scheduler = made(dialect=dialect, clock=clock)
    seen = events_of(scheduler, "workingTimestamp", "transferredJob")
    assert await scheduler.poll() is False  # nothing due yet
    clock.now = NOW + 61
    assert await scheduler.poll() is True  # moved one second: poll again at once
    expected = {
        "node": [
            b'{"class":"NodeJob","queue":"q","args":[1,2.5,{"a":null}]}',
            b'{"class":"RubyJob","queue":"q","args":[1,"x"]}',
        ],
        "ruby": [
            b'{"class":"NodeJob","args":[1,2.5,{"a":null}]}',
            b'{"class":"RubyJob","args":[1.0,"x"]}',
        ],
    }[dialect]
    assert resque_redis.lrange(key(ns, "queue", "q"), 0, -1) == expected
    extra_payload = {
        "node": b'{"class":"Extra","queue":"r","args":[]}',
        "ruby": b'{"class":"Extra","args":[]}',
    }[dialect]
    assert resque_redis.lrange(key(ns, "queue", "r"), 0, -1) == [extra_payload]
    assert resque_redis.smembers(key(ns, "queues")) == {b"q", b"r"}
    assert delayed_state(resque_redis, ns) == {}  # list, timestamps sets and zset all gone
    assert [e[:2] for e in seen] == [
        ("workingTimestamp", int(ts)),
        ("transferredJob", int(ts)),
        ("transferredJob", int(ts)),
        ("transferredJob", int(ts)),
    ]
    assert seen[1][2] == {"class": "NodeJob", "queue": "q", "args": [1, 2.5, {"a": None}]}
    assert await scheduler.poll() is False


@pytest.mark.parametrize(
    ("dialect", "offset", "moved"),
    [
        ("node", -0.5, True),  # Math.round(now) reaches the second half a second early
        ("node", -0.51, False),
        ("ruby", -0.01, False),  # now.to_i: not before the second itself
        ("ruby", 0.0, True),
    ],
)
async def test_when_a_second_is_due_follows_the_dialects_peer(
    dialect: str,
    offset: float,
    moved: bool,
    made: Callable[..., Scheduler],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ts = int(NOW) + 10
    item = b'{"class":"J","queue":"q","args":[]}'
    resque_redis.rpush(key(resque_namespace, "delayed", str(ts)), item)
    resque_redis.zadd(key(resque_namespace, "delayed_queue_schedule"), {str(ts): ts})
    scheduler = made(dialect=dialect, clock=Clock(ts + offset))
    await scheduler.poll()
    assert resque_redis.llen(key(resque_namespace, "queue", "q")) == (1 if moved else 0)


async def test_negative_seconds_move_only_in_the_ruby_dialect(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    for dialect, expected in (("node", 0), ("ruby", 1)):
        resque_redis.rpush(key(resque_namespace, "delayed", "-5"), b'{"class":"J","queue":"q"}')
        resque_redis.zadd(key(resque_namespace, "delayed_queue_schedule"), {"-5": -5})
        await made(dialect=dialect, name=dialect).poll()
        assert resque_redis.llen(key(resque_namespace, "queue", "q")) == expected
        resque_redis.delete(key(resque_namespace, "delayed", "-5"))


async def test_many_items_move_in_order_in_batches_oldest_second_first(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    clock = Clock()
    async with Queue(redis_url, namespace=resque_namespace, clock=clock) as queue:
        for i in range(250):
            await queue.enqueue_at((NOW + 2) * 1000, "q", "J", [i])
        await queue.enqueue_at((NOW + 1) * 1000, "q", "J", ["first"])
    scheduler = made(clock=Clock(NOW + 5))
    seen = events_of(scheduler, "workingTimestamp")
    while await scheduler.poll():
        pass
    queued = [
        json.loads(p)["args"][0]
        for p in resque_redis.lrange(key(resque_namespace, "queue", "q"), 0, -1)
    ]
    assert queued == ["first", *range(250)]
    assert seen == [("workingTimestamp", int(NOW) + 1), ("workingTimestamp", int(NOW) + 2)]
    assert delayed_state(resque_redis, resque_namespace) == {}


async def test_items_that_cannot_be_enqueued_go_to_failed_with_the_reason(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns, ts = resque_namespace, str(int(NOW))
    items = [
        b"not json",
        b'{"class":"Queueless","args":[1]}',  # resque-scheduler drops it; node-resque throws
        b'{"class":"Fine","queue":"q","args":[]}',
        b"[1,2]",
        b'{"queue":"q","args":[]}',
    ]
    resque_redis.rpush(key(ns, "delayed", ts), *items)
    resque_redis.zadd(key(ns, "delayed_queue_schedule"), {ts: int(ts)})
    for item in items:
        resque_redis.sadd(key(ns, "timestamps", item.decode()), f"delayed:{ts}")
    scheduler = made(name="sched:1")
    errors = events_of(scheduler, "error")
    await scheduler.poll()
    assert resque_redis.lrange(key(ns, "queue", "q"), 0, -1) == [
        b'{"class":"Fine","queue":"q","args":[]}'
    ]
    failed = [json.loads(f) for f in resque_redis.lrange(key(ns, "failed"), 0, -1)]
    assert [f["payload"] for f in failed] == [
        "not json",
        {"class": "Queueless", "args": [1]},
        "[1,2]",
        {"queue": "q", "args": []},
    ]
    assert {f["exception"] for f in failed} == {"PayloadDecodeError"}
    assert all(
        f["worker"] == "sched:1" and f["error"].startswith(f"delayed item due at {ts}")
        for f in failed
    )
    assert list(failed[0]) == [
        "worker",
        "queue",
        "payload",
        "exception",
        "error",
        "backtrace",
        "failed_at",
    ]
    assert "queue" in failed[1]["error"] and "class" in failed[3]["error"]
    assert len(errors) == 4
    assert resque_redis.get(key(ns, "stat", "failed")) is None
    assert delayed_state(resque_redis, ns) == {}


async def test_a_schedule_member_whose_key_is_not_a_list_stops_blocking_the_schedule(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    resque_redis.hset(key(ns, "delayed", "5"), "a", "b")
    resque_redis.zadd(key(ns, "delayed_queue_schedule"), {"5": 5, "6": 6})
    resque_redis.rpush(key(ns, "delayed", "6"), b'{"class":"J","queue":"q","args":[]}')
    scheduler = made()
    errors = events_of(scheduler, "error")
    while await scheduler.poll():
        pass
    assert resque_redis.llen(key(ns, "queue", "q")) == 1
    assert resque_redis.hgetall(key(ns, "delayed", "5")) == {b"a": b"b"}  # left alone
    assert resque_redis.zcard(key(ns, "delayed_queue_schedule")) == 0
    assert len(errors) == 1


# -- crash safety -----------------------------------------------------------------------


class Faulty(AsyncDriver):
    """A driver that dies at a chosen step: before sending it, or after Redis ran it."""

    def __init__(self, inner: AsyncDriver, rng: random.Random) -> None:
        self.inner = inner
        self.rng = rng
        self.armed = False

    async def execute(self, step: Step) -> Any:
        fault = self.armed and self.rng.random() < 0.3
        if fault and self.rng.random() < 0.5:
            raise ConnectionFailedError("injected: died before sending")
        reply = await self.inner.execute(step)
        if fault:
            raise ConnectionFailedError("injected: died after Redis ran it", maybe_sent=True)
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


def every_job_once(r: redis.Redis, ns: str, count: int) -> tuple[int, int]:
    """Each job id is in exactly one place, delayed or queued: (delayed, queued)."""
    delayed: list[int] = []
    for ts in r.zrange(key(ns, "delayed_queue_schedule"), 0, -1):
        delayed += [
            json.loads(i)["args"][0] for i in r.lrange(key(ns, "delayed", ts.decode()), 0, -1)
        ]
    queued = [json.loads(i)["args"][0] for i in r.lrange(key(ns, "queue", "q"), 0, -1)]
    assert sorted(delayed + queued) == list(range(count))
    return len(delayed), len(queued)


async def test_a_failure_at_any_step_neither_loses_nor_duplicates_a_job(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    ns, count = resque_namespace, 420
    async with Queue(redis_url, namespace=ns, clock=Clock()) as queue:
        for i in range(count):  # 7 seconds of 60: batches of 100 and short ones
            await queue.enqueue_at((NOW + 1 + i // 60) * 1000, "q", "J", [i])
    faulty = Faulty(LeanDriver(Settings.from_url(redis_url)), random.Random(7))
    scheduler = made(redis=faulty, clock=Clock(NOW + 100))
    faulty.armed = True
    failures = 0
    for _ in range(500):
        try:
            if not await scheduler.poll():
                break
        except ConnectionFailedError:
            failures += 1
            every_job_once(resque_redis, ns, count)  # the state right where it died
    else:
        pytest.fail("the scheduler never finished")
    assert failures > 5
    assert every_job_once(resque_redis, ns, count) == (0, count)
    assert delayed_state(resque_redis, ns) == {}
    # Queue order within a second is kept; seconds in order.
    queued = [json.loads(i)["args"][0] for i in resque_redis.lrange(key(ns, "queue", "q"), 0, -1)]
    assert queued == list(range(count))
    faulty.armed = False
    await scheduler.stop()
    await faulty.aclose()


async def test_cancelling_the_scheduler_task_at_random_points_loses_nothing(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    ns, count = resque_namespace, 600
    async with Queue(redis_url, namespace=ns, clock=Clock()) as queue:
        for i in range(count):
            await queue.enqueue_at((NOW + 1 + i // 150) * 1000, "q", "J", [i])
    rng = random.Random(11)
    for _ in range(30):
        scheduler = made(clock=Clock(NOW + 100), name="s")
        await scheduler.queue.connect()  # cut off mid-poll, not mid-connect
        task = asyncio.ensure_future(scheduler.poll())
        await asyncio.sleep(rng.random() * 0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await scheduler.stop()
        every_job_once(resque_redis, ns, count)
    final = made(clock=Clock(NOW + 100))
    while await final.poll():
        pass
    assert every_job_once(resque_redis, ns, count) == (0, count)


async def test_two_leaders_at_once_still_move_each_job_once(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    """A paused leader whose lock expired may run beside its successor: the moves check
    the list's head, so neither duplicates nor loses a job."""
    ns, count = resque_namespace, 500
    async with Queue(redis_url, namespace=ns, clock=Clock()) as queue:
        for i in range(count):
            await queue.enqueue_at((NOW + 1) * 1000, "q", "J", [i])
    # The same lock value: both believe they lead, as a paused leader and its successor do.
    one, two = made(clock=Clock(NOW + 5), name="twin"), made(clock=Clock(NOW + 5), name="twin")
    moved: list[Any] = []
    for scheduler in (one, two):
        scheduler.on("transferredJob", lambda ts, job: moved.append(job["args"][0]))
    while any(await asyncio.gather(one.poll(), two.poll())):
        pass
    assert sorted(moved) == list(range(count))
    assert every_job_once(resque_redis, ns, count) == (0, count)


# -- plugins ----------------------------------------------------------------------------

HOOKS: list[tuple[str, list[Any]]] = []


class Recorder(Plugin):
    async def before_enqueue(self) -> bool:
        HOOKS.append(("before", self.args))
        assert isinstance(self.owner, Scheduler)
        return True

    async def after_enqueue(self) -> bool:
        HOOKS.append(("after", self.args))
        return True


class VetoTwos(Plugin):
    async def before_enqueue(self) -> bool:
        if self.args == [2]:
            return False
        if self.args == [3]:
            raise RuntimeError("hook broke")
        return True


async def test_enqueue_plugins_run_around_each_move_and_a_veto_is_reported(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    HOOKS.clear()
    ns = resque_namespace
    async with Queue(redis_url, namespace=ns, clock=Clock()) as queue:
        for args in ([1], [2], [3], [4]):
            await queue.enqueue_at((NOW + 1) * 1000, "q", "Hooked", args)
        await queue.enqueue_at((NOW + 1) * 1000, "q", "Plain", [5])
    jobs = {"Hooked": JobDefinition(lambda *a: None, plugins=(Recorder, VetoTwos)), "Plain": print}
    scheduler = made(jobs=jobs, clock=Clock(NOW + 5))
    seen = events_of(scheduler, "transferredJob", "vetoedJob", "error")
    while await scheduler.poll():
        pass
    queued = [json.loads(i)["args"] for i in resque_redis.lrange(key(ns, "queue", "q"), 0, -1)]
    assert queued == [[1], [4], [5]]
    assert HOOKS == [
        ("before", [1]), ("after", [1]), ("before", [2]), ("before", [3]), ("before", [4]),
        ("after", [4]),
    ]  # fmt: skip
    kinds = [(e[0], e[2]["args"] if isinstance(e[2], dict) else None) for e in seen]
    assert ("vetoedJob", [2]) in kinds
    assert ("transferredJob", [2]) not in kinds
    # The raising hook's job is kept, in failed, not lost and not blocking the schedule.
    failed = [json.loads(f) for f in resque_redis.lrange(key(ns, "failed"), 0, -1)]
    assert [(f["payload"]["args"], f["exception"]) for f in failed] == [([3], "RuntimeError")]
    assert "hook broke" in failed[0]["error"]
    assert delayed_state(resque_redis, ns) == {}


async def test_a_job_with_queue_and_delay_queue_locks_moves_and_a_later_copy_vetoes_it(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    # Actionhero's periodic tasks carry both locks: the copy being moved must not veto
    # itself, and a veto must give QueueLock's lock back.
    ns = resque_namespace
    jobs = {"Locked": JobDefinition(lambda *a: None, plugins=("QueueLock", "DelayQueueLock"))}
    async with Queue(redis_url, namespace=ns, clock=Clock()) as queue:
        await queue.enqueue_at((NOW + 1) * 1000, "q", "Locked", [{}])
        await queue.enqueue_at((NOW + 1) * 1000, "q", "Locked", [{"n": 2}])
        await queue.enqueue_at((NOW + 100) * 1000, "q", "Locked", [{"n": 2}])
    scheduler = made(jobs=jobs, clock=Clock(NOW + 5))
    seen = events_of(scheduler, "transferredJob", "vetoedJob")
    while await scheduler.poll():
        pass
    queued = [json.loads(i)["args"] for i in resque_redis.lrange(key(ns, "queue", "q"), 0, -1)]
    assert queued == [[{}]]
    assert [(e[0], e[2]["args"]) for e in seen] == [
        ("transferredJob", [{}]), ("vetoedJob", [{"n": 2}]),
    ]  # fmt: skip
    assert resque_redis.exists(key(ns, "lock:Locked:q:[{}]")) == 1
    assert resque_redis.exists(key(ns, 'lock:Locked:q:[{"n":2}]')) == 0


# -- stuck workers ----------------------------------------------------------------------


def node_worker(r: redis.Redis, ns: str, name: str, ping_time: int, *, busy: bool = True) -> None:
    r.sadd(key(ns, "workers"), f"{name}:q")
    r.set(key(ns, "worker", name, "q", "started"), str(ping_time))
    r.set(
        key(ns, "worker", "ping", name),
        json.dumps({"time": ping_time, "name": name, "queues": "q"}),
    )
    if busy:
        r.set(
            key(ns, "worker", name, "q"),
            '{"run_at":"Wed Nov 18 2026 11:06:00 GMT+0000 (Coordinated Universal Time)",'
            f'"queue":"q","worker":"{name}","payload":{{"class":"Slow","args":[1],"queue":"q"}}}}',
        )


def ruby_worker(r: redis.Redis, ns: str, wid: str, beat: float) -> None:
    r.sadd(key(ns, "workers"), wid)
    r.hset(key(ns, "workers:heartbeat"), wid, times.ruby_iso8601(beat, "UTC"))
    r.set(key(ns, "worker", wid, "started"), "2026-11-18 00:00:00 +0000")
    r.set(
        key(ns, "worker", wid),
        '{"queue":"q","run_at":"2026-11-18T00:00:00Z","payload":{"class":"Slow","args":[2]}}',
    )


async def test_stale_node_pings_and_ruby_heartbeats_are_cleaned_in_each_peers_style(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    node_worker(resque_redis, ns, "dead:1", int(NOW) - 100)
    node_worker(resque_redis, ns, "live:2", int(NOW) - 10)  # exactly the limit: not stale
    ruby_worker(resque_redis, ns, "rhost:7:q", NOW - 100)
    ruby_worker(resque_redis, ns, "rhost:8:q", NOW - 5)
    resque_redis.hset(
        key(ns, "workers:heartbeat"), "gone:9:q", times.ruby_iso8601(NOW - 500, "UTC")
    )
    scheduler = made(stuck_worker_timeout=10_000)
    cleaned = events_of(scheduler, "cleanStuckWorker")
    await scheduler.poll()
    assert sorted(e[1] for e in cleaned) == ["dead:1", "gone:9:q", "rhost:7:q"]
    by_name = {e[1]: e for e in cleaned}
    assert by_name["dead:1"][3] == 100 and by_name["rhost:7:q"][3] == 100
    node_entry, ruby_entry = by_name["dead:1"][2], by_name["rhost:7:q"][2]
    assert by_name["gone:9:q"][2] is None  # no job: no entry
    assert list(node_entry) == [
        "worker",
        "queue",
        "payload",
        "exception",
        "error",
        "backtrace",
        "failed_at",
    ]
    assert node_entry["exception"] == "Worker Timeout (killed manually)"
    assert node_entry["backtrace"][1:] == ["queue#forceCleanWorker", "node-resque"]
    assert list(ruby_entry) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert ruby_entry["exception"] == "Resque::PruneDeadWorkerDirtyExit"
    assert ruby_entry["error"] == "Worker rhost:7:q did not gracefully exit while processing Slow"
    assert ruby_entry["backtrace"] == [] and ruby_entry["worker"] == "rhost:7:q"
    failed = resque_redis.lrange(key(ns, "failed"), 0, -1)
    assert [json.loads(f) for f in failed] == [node_entry, ruby_entry]
    assert failed[1].startswith(b'{"failed_at":"2026/11/18 ')  # Ruby's encoder and format
    assert resque_redis.get(key(ns, "stat", "failed")) == b"1"  # node counts; resque does not
    assert resque_redis.smembers(key(ns, "workers")) == {b"live:2:q", b"rhost:8:q"}
    assert set(resque_redis.hkeys(key(ns, "workers:heartbeat"))) == {b"rhost:8:q"}
    leftovers = {k.decode() for k in resque_redis.scan_iter(match=f"{ns}:worker:*")}
    assert leftovers == {
        key(ns, "worker", "live:2", "q"), key(ns, "worker", "live:2", "q", "started"),
        key(ns, "worker", "ping", "live:2"), key(ns, "worker", "rhost:8:q"),
        key(ns, "worker", "rhost:8:q", "started"),
    }  # fmt: skip


async def test_stuck_checks_wait_while_seconds_are_due_and_can_be_off(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    node_worker(resque_redis, ns, "dead:1", int(NOW) - 100)
    resque_redis.rpush(key(ns, "delayed", "5"), b'{"class":"J","queue":"q","args":[]}')
    resque_redis.zadd(key(ns, "delayed_queue_schedule"), {"5": 5})
    off = made(stuck_worker_timeout=0)
    while await off.poll():
        pass
    assert resque_redis.sismember(key(ns, "workers"), "dead:1:q")
    resque_redis.rpush(key(ns, "delayed", "5"), b'{"class":"J","queue":"q","args":[]}')
    resque_redis.zadd(key(ns, "delayed_queue_schedule"), {"5": 5})
    on = made(stuck_worker_timeout=10_000)
    cleaned = events_of(on, "cleanStuckWorker")
    assert await on.poll() is True  # a second was due: no check this poll
    assert cleaned == []
    await on.poll()
    assert [e[1] for e in cleaned] == ["dead:1"]


async def test_retry_stuck_jobs_requeues_what_was_cleaned(
    made: Callable[..., Scheduler], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    node_worker(resque_redis, ns, "dead:1", int(NOW) - 100)
    ruby_worker(resque_redis, ns, "rhost:7:q", NOW - 100)
    await made(stuck_worker_timeout=10_000, retry_stuck_jobs=True).poll()
    assert resque_redis.llen(key(ns, "failed")) == 0
    assert sorted(resque_redis.lrange(key(ns, "queue", "q"), 0, -1)) == [
        b'{"class":"Slow","queue":"q","args":[1]}',
        b'{"class":"Slow","queue":"q","args":[2]}',
    ]


async def test_a_worker_that_shows_life_after_being_read_is_left_alone(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    ctx = Context.create(ns)
    node_worker(resque_redis, ns, "w:1", int(NOW) - 100)
    ruby_worker(resque_redis, ns, "r:2:q", NOW - 100)
    driver = LeanDriver(Settings.from_url(redis_url))
    from pyresque.connection import run_plan

    stale = b'{"time":1,"name":"w:1","queues":"q"}'  # not what the ping holds now
    assert await run_plan(workers.clean_stuck_worker(ctx, "w:1", stale), driver) == (False, None)
    beat = b"2000-01-01T00:00:00+00:00"
    assert await run_plan(workers.prune_dead_worker(ctx, "r:2:q", beat), driver) == (False, None)
    assert resque_redis.scard(key(ns, "workers")) == 2 and resque_redis.llen(key(ns, "failed")) == 0
    await driver.aclose()


# -- events, stop, CLI ------------------------------------------------------------------


async def test_events_and_their_default_log_levels(
    made: Callable[..., Scheduler], caplog: pytest.LogCaptureFixture, resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="pyresque.scheduler")
    resque_redis.rpush(
        key(resque_namespace, "delayed", "5"), b'{"class":"J","queue":"q","args":[]}'
    )
    resque_redis.zadd(key(resque_namespace, "delayed_queue_schedule"), {"5": 5})
    scheduler = made(log_levels={"poll": None})
    seen = events_of(
        scheduler, "start", "end", "leader", "poll", "workingTimestamp", "transferredJob"
    )
    await scheduler.start()
    await poll_until(lambda: _queued(resque_redis, resque_namespace))
    await scheduler.stop()
    names = [e[0] for e in seen]
    assert names[:5] == ["start", "leader", "poll", "workingTimestamp", "transferredJob"]
    assert names[-1] == "end" and names.count("leader") == 1
    assert set(names[5:-1]) == {"poll"}
    levels = {r.pyresque_event: r.levelname for r in caplog.records if hasattr(r, "pyresque_event")}
    assert levels == {
        "start": "INFO", "leader": "INFO", "workingTimestamp": "DEBUG",
        "transferredJob": "DEBUG", "end": "INFO",
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown event"):
        scheduler.on("success", print)


async def _queued(r: redis.Redis, ns: str) -> bool:
    return bool(r.llen(key(ns, "queue", "q")))


def test_cli_scheduler_leads_until_sigterm_then_releases_the_lock(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    lock = key(resque_namespace, "resque_scheduler_leader_lock")
    resque_redis.rpush(
        key(resque_namespace, "delayed", "5"), b'{"class":"J","queue":"q","args":[]}'
    )
    resque_redis.zadd(key(resque_namespace, "delayed_queue_schedule"), {"5": 5})
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyresque", "scheduler", "--redis", redis_url, "--namespace",
         resque_namespace, "--timeout", "100", "--name", "cli:1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: resque_redis.get(lock) == b"cli:1", timeout=20)
        wait_until(lambda: resque_redis.llen(key(resque_namespace, "queue", "q")) == 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert resque_redis.exists(lock) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        log = proc.stderr.read()
        proc.stderr.close()
    assert "SIGTERM: stopping the scheduler" in log
