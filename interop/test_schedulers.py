"""pyresque's scheduler beside node-resque 9.7.1's Scheduler and resque-scheduler 4.11: jobs
delayed by one peer are promoted by another and run by a third, mixed fleets run every job
exactly once with one lock holder at a time, and a SIGKILLed scheduler loses nothing."""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis

from interop import jobs
from interop.harness import Peer
from pyresque import Queue, Scheduler, Worker
from pyresque.scheduler import ruby_hostname
from pyresque.testing import poll_until

pytestmark = pytest.mark.interop

POLL = 0.2  # every scheduler here polls every 200 ms
SLACK = 0.5  # a loaded test machine's scheduling delays


@pytest.fixture(autouse=True)
def _jobs_use_the_session_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    jobs._client.cache_clear()


@pytest.fixture
async def running(redis_url: str, resque_namespace: str) -> AsyncIterator[Callable[..., Any]]:
    """Start in-process pyresque schedulers and workers on the test's namespace; all are
    stopped afterwards. ``running(Scheduler | Worker, **options)``."""
    started: list[Scheduler | Worker] = []

    async def start(kind: type[Scheduler] | type[Worker], **options: Any) -> Any:
        options.setdefault("namespace", resque_namespace)
        options.setdefault("timeout", POLL * 1000)
        if kind is Worker:
            thing: Scheduler | Worker = Worker(
                redis_url, options.pop("queues", "q"), jobs.JOBS, **options
            )
        else:
            thing = Scheduler(redis_url, **options)
        await thing.start()
        started.append(thing)
        return thing

    yield start
    for thing in reversed(started):
        await thing.stop()


def done(r: redis.Redis, ns: str) -> collections.Counter[str]:
    """How many times each job id ran, wherever it ran."""
    return collections.Counter(d.decode().rsplit(":", 1)[0] for d in r.lrange(f"{ns}:done", 0, -1))


class LockSampler:
    """Samples the lock keys every few ms in a thread: [(monotonic time, values)]."""

    def __init__(self, url: str, keys: list[str]) -> None:
        self.client = redis.Redis.from_url(url)
        self.keys = keys
        self.samples: list[tuple[float, tuple[bytes | None, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tuple(self.client.mget(self.keys))))
            time.sleep(0.005)

    def holders(self, index: int = 0) -> list[bytes | None]:
        """The sequence of holders of one lock, repeats collapsed."""
        seq: list[bytes | None] = []
        for _, values in self.samples:
            if not seq or seq[-1] != values[index]:
                seq.append(values[index])
        return seq

    def first_after(self, since: float, index: int, value: bytes | None) -> float:
        """When ``value`` first held lock ``index`` at or after ``since`` (waiting up to a
        second for the sampler to catch up with what the test saw)."""
        deadline = time.monotonic() + 1
        while True:
            for at, values in list(self.samples):
                if at >= since and values[index] == value:
                    return at
            if time.monotonic() > deadline:
                raise AssertionError(f"{value!r} never held lock {index} after {since}")
            time.sleep(0.01)

    def handover(self, since: float, index: int, value: bytes) -> float:
        """Seconds from the last sample (after ``since``) where the old holder still held
        the lock to the first where ``value`` does: at most a poll, if the handover is."""
        took = self.first_after(since, index, value)
        held = [
            at
            for at, values in list(self.samples)
            if since <= at < took and values[index] not in (None, value)
        ]
        return took - max(held, default=since)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.close()


@pytest.fixture
def sampler(redis_url: str) -> Iterator[Callable[[list[str]], LockSampler]]:
    made: list[LockSampler] = []

    def make(keys: list[str]) -> LockSampler:
        made.append(LockSampler(redis_url, keys))
        return made[-1]

    yield make
    for s in made:
        s.close()


# -- one job across three peers ---------------------------------------------------------


async def test_node_enqueue_at_promoted_by_pyresque_and_run_by_a_node_worker(
    node: Peer, running: Callable[..., Any], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    due = (time.time() + 1) * 1000
    node.call("queue", namespace=ns, method="enqueueAt", args=[due, "q", "mark", ["n1"]])
    scheduler = await running(Scheduler)
    moved: list[Any] = []
    scheduler.on("transferredJob", lambda ts, job: moved.append(job))
    await poll_until(lambda: _length(resque_redis, f"{ns}:queue:q"), timeout=5)
    assert resque_redis.lrange(f"{ns}:queue:q", 0, -1) == [
        b'{"class":"mark","queue":"q","args":["n1"]}'
    ]
    assert moved == [{"class": "mark", "queue": "q", "args": ["n1"]}]
    outcomes = await asyncio.to_thread(
        node.call, "work", namespace=ns, name="nw", queues=["q"], count=1
    )
    assert [o["event"] for o in outcomes] == ["success"]
    assert done(resque_redis, ns) == {"n1": 1}


async def test_pyresque_enqueue_at_promoted_by_node_scheduler_and_run_by_a_pyresque_worker(
    node: Peer,
    running: Callable[..., Any],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    ns = resque_namespace
    async with Queue(redis_url, namespace=ns) as queue:
        await queue.enqueue_at((time.time() + 1) * 1000, "q", "mark", ["p1"])
    await running(Worker)
    node.call("scheduler_start", namespace=ns, name="node-sched", timeout=200)
    try:
        await poll_until(lambda: _ran(resque_redis, ns, "p1"), timeout=6)
    finally:
        node.call("scheduler_stop", name="node-sched")
    assert done(resque_redis, ns) == {"p1": 1}
    assert resque_redis.get(f"{ns}:resque_scheduler_leader_lock") is None


async def test_ruby_enqueue_at_promoted_by_pyresque_and_run_by_a_ruby_worker(
    ruby: Peer, running: Callable[..., Any], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    # Two seconds ahead: Ruby's enqueue_at of the current second enqueues at once.
    at = time.time() + 2
    ruby.call("enqueue_at", namespace=ns, queue="q", at=at, args=["r1"], **{"class": "Py::Mark"})
    assert resque_redis.zcard(f"{ns}:delayed_queue_schedule") == 1
    scheduler = await running(Scheduler, dialect="ruby")
    moved: list[Any] = []
    scheduler.on("transferredJob", lambda ts, job: moved.append(job))
    await poll_until(lambda: _length(resque_redis, f"{ns}:queue:q"), timeout=5)
    assert resque_redis.lrange(f"{ns}:queue:q", 0, -1) == [b'{"class":"Py::Mark","args":["r1"]}']
    assert moved == [{"class": "Py::Mark", "args": ["r1"], "queue": "q"}]
    lock = resque_redis.get(f"{ns}:{ns}:resque_scheduler_master_lock")
    assert lock == scheduler.name.encode() == f"{ruby_hostname()}:{os.getpid()}".encode()
    await asyncio.to_thread(ruby.call, "work", namespace=ns, queues=["q"], classes=["Py::Mark"])
    assert done(resque_redis, ns) == {"r1": 1}
    assert resque_redis.lrange(f"{ns}:done", 0, -1) == [b"r1:ruby"]


async def test_pyresque_enqueue_at_promoted_by_resque_scheduler_and_run_by_a_pyresque_worker(
    resque_scheduler: Callable[..., Any],
    running: Callable[..., Any],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    ns = resque_namespace
    async with Queue(redis_url, namespace=ns, dialect="ruby") as queue:
        await queue.enqueue_at((time.time() + 2) * 1000, "q", "Py::Mark", ["p2"])
    proc = resque_scheduler()
    lock = f"{ns}:{ns}:resque_scheduler_master_lock"
    await poll_until(lambda: _value(resque_redis, lock), timeout=20)
    assert resque_redis.get(lock) == f"{ruby_hostname()}:{proc.pid}".encode()
    await running(Worker, dialect="ruby")
    await poll_until(lambda: _ran(resque_redis, ns, "p2"), timeout=8)
    assert proc.stop() == 0
    assert resque_redis.exists(lock) == 0, proc.output
    assert done(resque_redis, ns) == {"p2": 1}


async def _length(r: redis.Redis, key: str) -> int:
    return int(r.llen(key))


async def _value(r: redis.Redis, key: str) -> bytes | None:
    return r.get(key)  # type: ignore[return-value]


async def _ran(r: redis.Redis, ns: str, job_id: str) -> bool:
    return done(r, ns)[job_id] > 0


# -- fleets -----------------------------------------------------------------------------


async def _all_done(r: redis.Redis, ns: str, count: int) -> bool:
    return sum(done(r, ns).values()) >= count


async def _holder(r: redis.Redis, key: str, *values: bytes) -> bool:
    return r.get(key) in values


def _exactly_once(r: redis.Redis, ns: str, count: int) -> None:
    ran = done(r, ns)
    assert sorted(ran, key=int) == [str(i) for i in range(count)]
    assert set(ran.values()) == {1}, {k: v for k, v in ran.items() if v != 1}
    assert r.llen(f"{ns}:queue:q") == 0 and r.zcard(f"{ns}:delayed_queue_schedule") == 0


async def test_node_fleet_runs_every_job_once_through_a_kill_and_a_clean_handover(
    node: Peer,
    running: Callable[..., Any],
    spawn_scheduler: Callable[..., Any],
    sampler: Callable[[list[str]], LockSampler],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    """A pyresque CLI scheduler leads (2 s lock), a node-resque and an in-process pyresque
    scheduler follow; 1,000 jobs due over 4 s, half delayed by each peer. SIGKILL the
    leader: a follower takes over once its lock expires; stop that one cleanly: the other
    takes over within a poll. Every job runs once; the lock never flaps."""
    ns, count = resque_namespace, 1000
    lock = f"{ns}:resque_scheduler_leader_lock"
    cli = spawn_scheduler("--timeout", "200", "--leader-lock-timeout", "2", "--name", "py-cli")
    await poll_until(lambda: _holder(resque_redis, lock, b"py-cli"), timeout=20)
    locks = sampler([lock])
    node.call("scheduler_start", namespace=ns, name="node-sched", timeout=200)
    inproc = await running(Scheduler, name="py-inproc")
    start = time.time() + 1
    async with Queue(redis_url, namespace=ns) as queue:
        for i in range(0, count, 2):
            await queue.enqueue_at((start + 4 * i / count) * 1000, "q", "mark", [i])
    for i in range(1, count, 2):
        node.call(
            "queue",
            namespace=ns,
            method="enqueueAt",
            args=[(start + 4 * i / count) * 1000, "q", "mark", [i]],
        )
    await running(Worker)
    node.call("work_start", namespace=ns, name="node-worker", queues=["q"], timeout=50)
    try:
        await asyncio.sleep(max(0.0, start + 1 - time.time()))
        killed = time.monotonic()
        cli.kill()
        await poll_until(
            lambda: _holder(resque_redis, lock, b"node-sched", b"py-inproc"), timeout=5
        )
        second = resque_redis.get(lock)
        took = locks.first_after(killed, 0, second) - killed
        assert 1.2 < took < 2 + POLL + SLACK  # once the killed leader's lock expired
        third = b"py-inproc" if second == b"node-sched" else b"node-sched"
        stopped = time.monotonic()
        if second == b"py-inproc":
            await inproc.stop()
        else:
            await asyncio.to_thread(node.call, "scheduler_stop", name="node-sched")
        await poll_until(lambda: _holder(resque_redis, lock, third), timeout=5)
        assert locks.handover(stopped, 0, third) < POLL + SLACK
        await poll_until(lambda: _all_done(resque_redis, ns, count), timeout=20)
    finally:
        node.call("scheduler_stop", name="node-sched")
        node.call("work_stop", name="node-worker")
    _exactly_once(resque_redis, ns, count)
    assert [h for h in locks.holders() if h is not None] == [b"py-cli", second, third]
    ran_by = collections.Counter(
        d.decode().rsplit(":", 1)[1] for d in resque_redis.lrange(f"{ns}:done", 0, -1)
    )
    assert set(ran_by) <= {"py", "node"} and sum(ran_by.values()) == count


async def test_ruby_fleet_runs_every_job_once_through_a_kill_and_a_clean_handover(
    ruby: Peer,
    resque_scheduler: Callable[..., Any],
    running: Callable[..., Any],
    spawn_scheduler: Callable[..., Any],
    sampler: Callable[[list[str]], LockSampler],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    """The same with resque-scheduler and ruby-dialect pyresque schedulers on the master
    lock; half the jobs delayed by Ruby's ``enqueue_at``, all run by pyresque workers."""
    ns, count = resque_namespace, 1000
    lock = f"{ns}:{ns}:resque_scheduler_master_lock"
    cli = spawn_scheduler(
        "--timeout", "200", "--leader-lock-timeout", "2", "--name", "py-cli", dialect="ruby"
    )  # fmt: skip
    await poll_until(lambda: _holder(resque_redis, lock, b"py-cli"), timeout=20)
    locks = sampler([lock])
    rs = resque_scheduler(interval=POLL, lock_timeout=2)
    rs_value = f"{ruby_hostname()}:{rs.pid}".encode()
    inproc = await running(Scheduler, dialect="ruby", name="py-inproc")
    start = time.time() + 2  # Ruby's enqueue_at of a past second enqueues at once
    async with Queue(redis_url, namespace=ns, dialect="ruby") as queue:
        for i in range(0, count, 2):
            await queue.enqueue_at((start + 4 * i / count) * 1000, "q", "Py::Mark", [i])
    for i in range(1, count, 2):
        ruby.call(
            "enqueue_at",
            namespace=ns,
            queue="q",
            at=start + 4 * i / count,
            args=[i],
            **{"class": "Py::Mark"},
        )
    assert resque_redis.llen(f"{ns}:queue:q") == 0  # all still delayed
    await running(Worker, dialect="ruby")
    await running(Worker, dialect="ruby", name="second-worker")
    await asyncio.sleep(max(0.0, start + 1 - time.time()))
    killed = time.monotonic()
    cli.kill()
    await poll_until(lambda: _holder(resque_redis, lock, rs_value, b"py-inproc"), timeout=5)
    second = resque_redis.get(lock)
    took = locks.first_after(killed, 0, second) - killed
    assert 1.2 < took < 2 + POLL + SLACK, rs.output
    third = b"py-inproc" if second == rs_value else rs_value
    stopped = time.monotonic()
    if second == b"py-inproc":
        await inproc.stop()
    else:
        assert await asyncio.to_thread(rs.stop) == 0
    await poll_until(lambda: _holder(resque_redis, lock, third), timeout=5)
    assert locks.handover(stopped, 0, third) < POLL + SLACK, rs.output
    await poll_until(lambda: _all_done(resque_redis, ns, count), timeout=20)
    _exactly_once(resque_redis, ns, count)
    assert [h for h in locks.holders() if h is not None] == [b"py-cli", second, third]


async def test_both_locks_holds_a_mixed_fleet_then_hands_each_lock_over(
    node: Peer,
    ruby: Peer,
    resque_scheduler: Callable[..., Any],
    running: Callable[..., Any],
    sampler: Callable[[list[str]], LockSampler],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    """With both locks one pyresque scheduler keeps node-resque's and resque-scheduler's
    schedulers (which would otherwise both lead, and race) following; stopped, it hands
    each lock to its peer within a poll."""
    ns, count = resque_namespace, 300
    leader, master = f"{ns}:resque_scheduler_leader_lock", f"{ns}:{ns}:resque_scheduler_master_lock"
    both = await running(Scheduler, both_locks=True, name="py-both")
    await poll_until(lambda: _is_leader(both), timeout=5)
    locks = sampler([leader, master])
    node.call("scheduler_start", namespace=ns, name="node-sched", timeout=200)
    rs = resque_scheduler(interval=POLL)
    rs_value = f"{ruby_hostname()}:{rs.pid}".encode()
    await poll_until(lambda: _said(rs, "Child scheduler"), timeout=20)
    start = time.time() + 1
    for i in range(count):
        at = start + 2 * i / count
        if i % 2:
            ruby.call("enqueue_at", namespace=ns, queue="q", at=at, args=[i], **{"class": "mark"})
        else:
            node.call("queue", namespace=ns, method="enqueueAt", args=[at * 1000, "q", "mark", [i]])
    await running(Worker)
    try:
        await poll_until(lambda: _all_done(resque_redis, ns, count), timeout=20)
        _exactly_once(resque_redis, ns, count)
        assert locks.holders(0) == [b"py-both"] and locks.holders(1) == [b"py-both"]
        stopped = time.monotonic()
        await both.stop()
        await poll_until(lambda: _holder(resque_redis, leader, b"node-sched"), timeout=5)
        await poll_until(lambda: _holder(resque_redis, master, rs_value), timeout=5)
        assert locks.handover(stopped, 0, b"node-sched") < POLL + SLACK
        assert locks.handover(stopped, 1, rs_value) < POLL + SLACK, rs.output
    finally:
        node.call("scheduler_stop", name="node-sched")


async def _is_leader(scheduler: Scheduler) -> bool:
    return scheduler.leader


async def _said(proc: Any, text: str) -> bool:
    return text in proc.output


# -- SIGKILL mid-promotion --------------------------------------------------------------


def _places(r: redis.Redis, ns: str) -> tuple[list[int], list[int]]:
    """Job ids still delayed and already queued, read in one transaction."""
    seconds = [s.decode() for s in r.zrange(f"{ns}:delayed_queue_schedule", 0, -1)]
    with r.pipeline(transaction=True) as pipe:
        pipe.lrange(f"{ns}:queue:q", 0, -1)
        for ts in seconds:
            pipe.lrange(f"{ns}:delayed:{ts}", 0, -1)
        replies = pipe.execute()
    queued = [int(raw.split(b'"args":[')[1].split(b"]")[0]) for raw in replies[0]]
    delayed = [
        int(raw.split(b'"args":[')[1].split(b"]")[0]) for items in replies[1:] for raw in items
    ]
    return delayed, queued


async def test_a_scheduler_killed_mid_promotion_and_restarted_loses_and_duplicates_nothing(
    spawn_scheduler: Callable[..., Any],
    running: Callable[..., Any],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
) -> None:
    ns, count = resque_namespace, 500
    now = time.time()
    async with Queue(redis_url, namespace=ns) as queue:
        for i in range(count):  # one second each: many small steps to be cut between
            await queue.enqueue_at((now - 2000 + i) * 1000, "q", "mark", [i])
    rng = random.Random(3)
    cut_mid_way = 0
    for _ in range(12):
        proc = spawn_scheduler("--timeout", "100", "--name", "killme")  # same lock value
        await poll_until(functools.partial(_said, proc, "killme leader"), timeout=20)
        await asyncio.sleep(rng.random() * 0.03)
        proc.kill()
        delayed, queued = _places(resque_redis, ns)
        assert sorted(delayed + queued) == list(range(count))  # none lost, none twice
        cut_mid_way += 0 < len(queued) < count
        if not delayed:
            break
    assert cut_mid_way >= 3
    proc = spawn_scheduler("--timeout", "100", "--name", "killme")
    await poll_until(functools.partial(_said, proc, "killme leader"), timeout=20)
    await poll_until(lambda: _schedule_empty(resque_redis, ns), timeout=20)
    assert proc.stop() == 0
    await running(Worker)
    await poll_until(lambda: _all_done(resque_redis, ns, count), timeout=20)
    _exactly_once(resque_redis, ns, count)
    assert resque_redis.lrange(f"{ns}:queue:q", 0, -1) == []


async def _schedule_empty(r: redis.Redis, ns: str) -> bool:
    return r.zcard(f"{ns}:delayed_queue_schedule") == 0


# -- dead workers, beside resque's own pruning ------------------------------------------


async def test_a_stale_heartbeat_is_failed_byte_for_byte_as_resques_pruning_does(
    ruby: Peer, resque_redis: redis.Redis, namespaces: list[str], redis_url: str
) -> None:
    """The same dead Ruby worker in two namespaces: resque's ``prune_dead_workers`` in one,
    pyresque's scheduler in the other. The failure entries are the same bytes (the time
    aside)."""
    wid = "otherhost:4242:q"
    record = (
        b'{"queue":"q","run_at":"2026-11-18T00:00:00Z",'
        b'"payload":{"class":"Slow","args":[1,{"a":2.5}]}}'
    )
    beat = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 1000))
    for ns in ("ruby", "py"):
        namespaces.append(f"{ns}-{os.getpid()}-{random.getrandbits(32)}")
        full = namespaces[-1]
        resque_redis.sadd(f"{full}:workers", wid)
        resque_redis.hset(f"{full}:workers:heartbeat", wid, beat)
        resque_redis.set(f"{full}:worker:{wid}", record)
        resque_redis.set(f"{full}:worker:{wid}:started", "2026-11-18 00:00:00 +0000")
    ruby_ns, py_ns = namespaces
    ruby.call("prune", namespace=ruby_ns, queues=["elsewhere"])
    scheduler = Scheduler(redis_url, namespace=py_ns, stuck_worker_timeout=300_000, dialect="ruby")
    cleaned: list[Any] = []
    scheduler.on("cleanStuckWorker", lambda *args: cleaned.append(args))
    await scheduler.poll()
    await scheduler.stop()
    assert [c[0] for c in cleaned] == [wid]
    entries = [resque_redis.lrange(f"{ns}:failed", 0, -1) for ns in (ruby_ns, py_ns)]
    assert len(entries[0]) == len(entries[1]) == 1
    strip = [e[0].split(b'"payload"', 1)[1] for e in entries]  # failed_at comes first
    assert strip[0] == strip[1]
    for ns in (ruby_ns, py_ns):
        assert resque_redis.smembers(f"{ns}:workers") == set()
        assert resque_redis.hgetall(f"{ns}:workers:heartbeat") == {}
        assert resque_redis.get(f"{ns}:stat:failed") is None
