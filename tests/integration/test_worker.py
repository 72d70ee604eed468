"""pyresque.Worker against a real Redis: taking, running, bookkeeping, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from pyresque import ConnectionFailedError, JobDefinition, Queue, Worker, current_job
from pyresque.connection import LeanDriver, Settings
from pyresque.protocol import times
from pyresque.protocol.plan import Eval
from pyresque.testing import poll_until
from tests.keys import key

NODE_HOST = socket.gethostname()


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        yield q


async def test_worker_runs_node_and_ruby_payloads_with_their_args(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    seen: list[Any] = []

    async def record(*args: Any) -> str:
        seen.append(args)
        return "ok"

    await queue.enqueue("q", "record", [1, {"a": [2]}])
    resque_redis.rpush(key(resque_namespace, "queue", "q"), b'{"class":"record","args":["ruby"]}')
    resque_redis.rpush(key(resque_namespace, "queue", "q"), b'{"class":"record","args":5}')
    resque_redis.rpush(key(resque_namespace, "queue", "q"), b'{"class":"record"}')
    await make_worker(jobs={"record": record}).run(burst=True)
    assert seen == [(1, {"a": [2]}), ("ruby",), (5,), ()]
    assert await queue.stats() == {"processed": "4"}
    assert await queue.length("q") == 0


async def test_blocking_jobs_run_in_threads_and_never_stall_the_loop(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    threads: list[str] = []

    def blocking(ms: int) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(ms / 1000)

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await queue.enqueue("q", "blocking", [300])
    await make_worker(jobs={"blocking": blocking}).run(burst=True)
    ticker.cancel()
    assert threads and threads[0] != threading.current_thread().name
    assert ticks >= 10  # the loop kept turning while the job slept


async def test_node_dialect_failure_entry_is_what_node_resque_writes(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    def explode(x: str) -> None:
        raise ValueError(f"bad {x}")

    await queue.enqueue("q", "explode", ["é"])
    await make_worker(jobs={"explode": explode}, name="host:7").run(burst=True)
    (entry,) = await queue.failed()
    assert list(entry) == [
        "worker",
        "queue",
        "payload",
        "exception",
        "error",
        "backtrace",
        "failed_at",
    ]
    assert entry["worker"] == "host:7"
    assert entry["payload"] == {"class": "explode", "queue": "q", "args": ["é"]}
    assert (entry["exception"], entry["error"]) == ("ValueError", "bad é")
    assert entry["backtrace"] is not None
    assert (
        entry["backtrace"][0].startswith("    at explode (") and __file__ in entry["backtrace"][0]
    )
    assert times.parse_peer_time(entry["failed_at"]) is not None
    assert await queue.stats() == {"failed": "1"}  # per-worker stats go when it unregisters


async def test_ruby_dialect_failure_counts_processed_too_and_uses_ruby_fields(
    redis_url: str, resque_namespace: str, make_worker: Callable[..., Worker]
) -> None:
    def explode() -> None:
        raise KeyError("k")

    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        await q.enqueue("q", "Explode")
        await make_worker(jobs={"Explode": explode}, dialect="ruby", name="h:9").run(burst=True)
        (entry,) = await q.failed()
        assert list(entry) == [
            "failed_at",
            "payload",
            "exception",
            "error",
            "backtrace",
            "worker",
            "queue",
        ]
        assert entry["worker"] == "h:9:q"
        assert entry["exception"] == "KeyError"
        assert entry["backtrace"][0].endswith("in `explode'")
        assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S+", entry["failed_at"])
        assert await q.stats() == {"failed": "1", "processed": "1"}


async def test_unknown_class_becomes_a_failure_and_the_worker_goes_on(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    done: list[int] = []
    await queue.enqueue("q", "missing", [1])
    await queue.enqueue("q", "known", [2])
    await make_worker(jobs={"known": done.append}).run(burst=True)
    (entry,) = await queue.failed()
    assert (entry["exception"], entry["error"]) == ("Error", 'No job defined for class "missing"')
    assert done == [2]


async def test_undecodable_payload_is_kept_as_a_failure_not_dropped(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    resque_redis.rpush(key(resque_namespace, "queue", "q"), b'{"class":"x","args":[1]', b"\xff\xfe")
    await queue.enqueue("q", "ok")
    ran: list[bool] = []
    await make_worker(jobs={"ok": lambda: ran.append(True)}).run(burst=True)
    failed = await queue.failed()
    assert [f["payload"] for f in failed] == ['{"class":"x","args":[1]', "\udcff\udcfe"]
    assert {f["exception"] for f in failed} == {"PayloadDecodeError"}
    assert ran == [True]


async def test_node_registration_matches_node_resque_while_running(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    worker = make_worker(["b", "a"], name="box:42")
    await worker.start()
    try:
        assert resque_redis.smembers(key(ns, "workers")) == {b"box:42:b,a"}
        started = int(resque_redis.get(key(ns, "worker", "box:42", "b,a", "started")) or 0)
        assert abs(started - time.time()) < 5
        ping = json.loads(resque_redis.get(key(ns, "worker", "ping", "box:42")) or b"{}")
        assert list(ping) == ["time", "name", "queues"]
        assert ping["name"] == "box:42" and ping["queues"] == "b,a"
        assert await queue.all_working_on() == {"box:42": "started"}
    finally:
        await worker.stop()
    assert list(resque_redis.scan_iter(match=f"{ns}:worker*")) == []


async def test_ruby_registration_has_heartbeat_and_started_as_resque_writes_them(
    make_worker: Callable[..., Worker], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    worker = make_worker(["high", "low"], dialect="ruby")
    member = f"{NODE_HOST}:{os.getpid()}:high,low"
    await worker.start()
    try:
        assert resque_redis.smembers(key(ns, "workers")) == {member.encode()}
        started = (resque_redis.get(key(ns, "worker", member, "started")) or b"").decode()
        assert times.parse_peer_time(started) is not None and started[-5] in "+-"
        beat = (resque_redis.hget(key(ns, "workers:heartbeat"), member) or b"").decode()
        assert beat[10] == "T" and beat[-6] in "+-" and beat[-3] == ":"
    finally:
        await worker.stop()
    assert resque_redis.hgetall(key(ns, "workers:heartbeat")) == {}
    assert list(resque_redis.scan_iter(match=f"{ns}:worker*")) == []


async def test_working_on_record_is_node_resques_cjson_record(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    from pyresque.protocol.cjson import cjson_working_on

    gate = asyncio.Event()

    async def hold(*args: Any) -> None:
        await gate.wait()

    await queue.enqueue("q", "hold", [[], {"b": 1, "a": 0.1}, "a/b"])
    raw = resque_redis.lindex(key(resque_namespace, "queue", "q"), 0)
    worker = make_worker(jobs={"hold": hold}, name="box:1")
    await worker.start()
    try:
        record_key = key(resque_namespace, "worker", "box:1", "q")
        record = await poll_until(lambda: asyncio.to_thread(resque_redis.get, record_key))
        run_at = json.loads(record)["run_at"]
        assert record == cjson_working_on(run_at, "q", raw or b"", "box:1")
        assert b'"args":[{},{"a":0.1,"b":1},"a\\/b"]' in record
    finally:
        gate.set()
        await worker.stop()


async def test_queues_are_tried_in_priority_order_after_every_job(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    order: list[str] = []

    async def job(name: str) -> None:
        order.append(name)
        if name == "low-1":
            await queue.enqueue("high", "job", ["high-2"])

    await queue.enqueue("low", "job", ["low-1"])
    await queue.enqueue("low", "job", ["low-2"])
    await queue.enqueue("high", "job", ["high-1"])
    await make_worker(["high", "low"], jobs={"job": job}).run(burst=True)
    assert order == ["high-1", "low-1", "high-2", "low-2"]


async def test_wildcard_worker_follows_new_queues_without_losing_its_ping(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    done: list[Any] = []
    await queue.enqueue("b", "job", [1])
    worker = make_worker("*", jobs={"job": done.append}, name="wild:1", timeout=100)
    await worker.start()
    try:
        await poll_until(lambda: asyncio.sleep(0, done == [1]))
        assert resque_redis.smembers(key(ns, "workers")) == {b"wild:1:b"}
        await queue.enqueue("a", "job", [2])
        await poll_until(lambda: asyncio.sleep(0, done == [1, 2]))
        await poll_until(
            lambda: asyncio.to_thread(
                lambda: resque_redis.smembers(key(ns, "workers")) == {b"wild:1:a,b"}
            )
        )
        assert resque_redis.exists(key(ns, "worker", "ping", "wild:1"))
        assert resque_redis.exists(key(ns, "worker", "wild:1", "a,b", "started"))
        assert resque_redis.get(key(ns, "stat", "processed", "wild:1")) == b"2"
    finally:
        await worker.stop()


async def test_an_idle_worker_starts_a_new_job_without_waiting_for_its_poll_interval(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    started = asyncio.Event()
    worker = make_worker(jobs={"go": started.set}, timeout=600_000)
    await worker.start()
    try:
        await asyncio.sleep(0.05)  # let it go idle on the empty queue
        await queue.enqueue("q", "go")
        await asyncio.wait_for(started.wait(), 5)  # the poll interval is ten minutes
    finally:
        await worker.stop()


async def test_stop_lets_the_running_job_finish_within_the_grace_period(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    finished = asyncio.Event()
    begun = asyncio.Event()

    async def slow() -> None:
        begun.set()
        await asyncio.sleep(0.3)
        finished.set()

    await queue.enqueue("q", "slow")
    await queue.enqueue("q", "slow")
    worker = make_worker(jobs={"slow": slow})
    await worker.start()
    await begun.wait()
    await worker.stop(grace=5)
    assert finished.is_set()
    assert await queue.stats() == {"processed": "1"}
    assert await queue.length("q") == 1  # the second job was never taken
    assert await queue.workers() == {}


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_a_job_cut_off_by_stop_is_recorded_for_retry_stuck_jobs(
    redis_url: str, resque_namespace: str, make_worker: Callable[..., Worker], dialect: str
) -> None:
    begun = asyncio.Event()

    async def forever(n: int) -> None:
        begun.set()
        await asyncio.sleep(3600)

    async with Queue(redis_url, namespace=resque_namespace, dialect=dialect) as q:
        await q.enqueue("q", "Forever", [1])
        worker = make_worker(jobs={"Forever": forever}, dialect=dialect)
        await worker.start()
        await begun.wait()
        await worker.stop(grace=0.05)
        (entry,) = await q.failed()
        assert entry["payload"]["args"] == [1]
        assert await q.retry_stuck_jobs() == 1
        assert [j["class"] for j in await q.queued("q")] == ["Forever"]
        assert await q.workers() == {}


async def test_unfinished_requeue_puts_the_job_back_at_the_head(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    begun = asyncio.Event()

    async def forever(n: int) -> None:
        begun.set()
        await asyncio.sleep(3600)

    await queue.enqueue("q", "forever", [1])
    await queue.enqueue("q", "forever", [2])
    raw_first = resque_redis.lindex(key(resque_namespace, "queue", "q"), 0)
    worker = make_worker(jobs={"forever": forever}, unfinished="requeue")
    await worker.start()
    await begun.wait()
    await worker.stop(grace=0)
    assert resque_redis.lrange(key(resque_namespace, "queue", "q"), 0, -1)[0] == raw_first
    assert await queue.length("q") == 2
    assert await queue.failed_count() == 0


async def test_job_timeout_fails_a_job_that_runs_too_long(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    async def slow() -> None:
        await asyncio.sleep(10)

    await queue.enqueue("q", "slow")
    await make_worker(jobs={"slow": slow}, job_timeout=100).run(burst=True)
    (entry,) = await queue.failed()
    assert entry["exception"] == "JobTimeoutError"


async def test_a_jobs_own_timeout_error_is_its_failure_not_the_time_limit(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    async def gives_up() -> None:
        raise TimeoutError("the payment service took too long")

    await queue.enqueue("q", "gives_up")
    await make_worker(jobs={"gives_up": gives_up}, job_timeout=60_000).run(burst=True)
    (entry,) = await queue.failed()
    assert (entry["exception"], entry["error"]) == (
        "TimeoutError",
        "the payment service took too long",
    )


async def test_events_fire_in_node_resques_order_and_async_listeners_are_awaited(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    seen: list[str] = []
    await queue.enqueue("q", "ok")
    await queue.enqueue("q", "bad")
    worker = make_worker(jobs={"ok": lambda: 1, "bad": lambda: 1 / 0})
    for event in ("start", "job", "success", "failure", "end"):
        worker.on(event, lambda *a, e=event: seen.append(e))

    async def on_success(q: str, job: dict[str, Any], result: Any, ms: float) -> None:
        seen.append(f"async-success:{result}")

    worker.on("success", on_success)
    await worker.run(burst=True)
    assert seen == ["start", "job", "success", "async-success:1", "job", "failure", "end"]


async def test_current_job_is_visible_from_async_and_thread_jobs(
    queue: Queue, make_worker: Callable[..., Worker]
) -> None:
    seen: list[tuple[str, str, list[Any]]] = []

    def sync_job(n: int) -> None:
        job = current_job()
        assert job is not None
        seen.append((job.queue, job.job_class, job.args))

    async def async_job(n: int) -> None:
        job = current_job()
        assert job is not None
        seen.append((job.queue, job.job_class, job.args))

    await queue.enqueue("q", "sync_job", [1])
    await queue.enqueue("q", "async_job", [2])
    await make_worker(jobs={"sync_job": sync_job, "async_job": async_job}).run(burst=True)
    assert seen == [("q", "sync_job", [1]), ("q", "async_job", [2])]
    assert current_job() is None


async def test_perform_inline_runs_without_redis(make_worker: Callable[..., Worker]) -> None:
    worker = Worker("redis://127.0.0.1:1/0", "q", {"add": JobDefinition(lambda a, b: a + b)})
    assert await worker.perform_inline("add", [2, 3]) == 5
    with pytest.raises(ZeroDivisionError):
        await Worker("redis://127.0.0.1:1/0", "q", {"div": lambda: 1 / 0}).perform_inline("div")


async def test_ruby_dialect_honours_pause_all_workers(
    redis_url: str,
    resque_namespace: str,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
) -> None:
    ran: list[int] = []
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        await q.enqueue("q", "Job", [1])
        resque_redis.set(key(resque_namespace, "pause-all-workers"), " TRUE ")
        await make_worker(jobs={"Job": ran.append}, dialect="ruby").run(burst=True)
        assert ran == [] and await q.length("q") == 1
        resque_redis.delete(key(resque_namespace, "pause-all-workers"))
        await make_worker(jobs={"Job": ran.append}, dialect="ruby").run(burst=True)
        assert ran == [1]


class LosesOneReply(LeanDriver):
    """A real connection that, once armed, runs one worker step and then reports the
    connection lost, as if the reply never came back."""

    def __init__(self, url: str) -> None:
        super().__init__(Settings.from_url(url))
        self.armed = False
        self.fail_before_sending = False

    async def execute(self, step: Any) -> Any:
        if self.armed and isinstance(step, Eval) and step.script.name == "work":
            self.armed = False
            if self.fail_before_sending:
                raise ConnectionFailedError("lost before sending", maybe_sent=False)
            await super().execute(step)
            raise ConnectionFailedError("lost the reply", maybe_sent=True)
        return await super().execute(step)


@pytest.mark.parametrize("before_sending", [False, True])
async def test_a_step_whose_reply_is_lost_is_neither_repeated_nor_dropped(
    redis_url: str, resque_namespace: str, queue: Queue, before_sending: bool
) -> None:
    ran: list[int] = []
    driver = LosesOneReply(redis_url)
    driver.fail_before_sending = before_sending

    def job(n: int) -> None:
        ran.append(n)
        driver.armed = True  # the step after this job (settle + take) loses its reply

    for n in range(3):
        await queue.enqueue("q", "job", [n])
    worker = Worker(driver, "q", {"job": job}, namespace=resque_namespace, timeout=60_000)
    await worker.run(burst=True)
    await driver.aclose()
    assert ran == [0, 1, 2]
    assert await queue.stats() == {"processed": "3"}
    assert await queue.failed_count() == 0


@pytest.mark.parametrize(
    ("args", "runs"), [([], True), ([1, "x", {"k": [True, None]}], True), ([0.5], False)]
)
async def test_a_job_taken_by_a_lost_step_runs_if_its_record_is_exact_else_fails_with_why(
    redis_url: str, resque_namespace: str, queue: Queue, args: list[Any], runs: bool
) -> None:
    ran: list[Any] = []
    driver = LosesOneReply(redis_url)

    def first() -> None:
        driver.armed = True

    await queue.enqueue("q", "first")
    await queue.enqueue("q", "second", args)
    worker = Worker(
        driver, "q", {"first": first, "second": lambda *a: ran.append(a)},
        namespace=resque_namespace, timeout=60_000,
    )  # fmt: skip
    await worker.run(burst=True)
    await driver.aclose()
    if runs:
        assert ran == [tuple(args)]
        assert await queue.failed_count() == 0
    else:
        (entry,) = await queue.failed()
        assert ran == []
        assert entry["exception"] == "ConnectionFailedError"
        assert entry["payload"]["args"] == args
        assert await queue.retry_and_remove_failed(entry) is True


async def test_a_dropped_connection_during_a_job_settles_it_exactly_once(
    redis_url: str, resque_namespace: str, queue: Queue, resque_redis: redis.Redis
) -> None:
    driver = LeanDriver(Settings.from_url(redis_url))

    async def job() -> None:
        conn = await driver.connection()
        client_id = await conn.call("CLIENT", "ID")
        resque_redis.client_kill_filter(_id=client_id)

    await queue.enqueue("q", "job")
    await queue.enqueue("q", "job")
    worker = Worker(driver, "q", {"job": job}, namespace=resque_namespace, timeout=60_000)
    errors: list[Any] = []
    worker.on("error", lambda *a: errors.append(a[0]))
    await worker.run(burst=True)
    await driver.aclose()
    assert await queue.stats() == {"processed": "2"}
    assert await queue.length("q") == 0
    assert await queue.failed_count() == 0


async def test_a_script_error_part_way_is_not_counted_twice(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    ran: list[int] = []

    def job(n: int) -> None:
        ran.append(n)
        if n == 1:  # the next step settles this job, then trips over a key of the wrong type
            resque_redis.set(key(ns, "queue", "bad"), "not a list")

    await queue.enqueue("q", "job", [1])
    worker = make_worker(["q", "bad"], jobs={"job": job}, timeout=100)
    errors: list[Any] = []
    worker.on("error", lambda *a: errors.append(a[0]))
    await worker.start()
    try:
        await poll_until(lambda: asyncio.sleep(0, bool(errors)))
        resque_redis.delete(key(ns, "queue", "bad"))
        await queue.enqueue("q", "job", [2])
        await poll_until(lambda: asyncio.sleep(0, ran == [1, 2]))
        await poll_until(lambda: queue.stats())
        assert resque_redis.get(key(ns, "stat", "processed")) == b"1" or ran == [1, 2]
    finally:
        await worker.stop()
    assert await queue.stats() == {"processed": "2"}
    assert "WRONGTYPE" in str(errors[0])
