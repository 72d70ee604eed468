"""The built-in plugins against a real Redis: node-resque's keys, values and TTLs, vetoes,
Retry's counting and backoff, and the custom plugin example."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import JobDefinition, Queue, Worker
from pyresque.plugins import BUILTIN_PLUGINS, Plugin, plugin_class, run_plugins
from pyresque.protocol import times
from pyresque.protocol.keys import KeySpace
from pyresque.protocol.plans.locks import retry_args_key, retry_ttl
from pyresque.testing import poll_until
from tests.keys import key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        yield q


def seconds_now() -> int:
    return times.js_bucket(time.time() * 1000)


async def promote(queue: Queue, q: str, job_class: str, args: list[Any]) -> list[int]:
    """Do the scheduler's work now: move a delayed job to its queue; the seconds it sat at."""
    found = await queue.delete_delayed(q, job_class, args)
    assert found, f"{job_class}{args} is not delayed"
    await queue.enqueue(q, job_class, args)
    return found


async def fail(*args: Any) -> None:
    raise RuntimeError("BUSTED")


async def noop(*args: Any) -> None:
    return None


def test_the_five_built_ins_resolve_by_name() -> None:
    assert sorted(BUILTIN_PLUGINS) == ["DelayQueueLock", "JobLock", "Noop", "QueueLock", "Retry"]
    assert all(plugin_class(name).__name__ == name for name in BUILTIN_PLUGINS)


# -- JobLock ---------------------------------------------------------------------------------


async def test_job_lock_key_value_and_ttl_are_node_resques_and_go_when_the_job_ends(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    held: list[Any] = []

    async def locked(*args: Any) -> None:
        held.append((resque_redis.get(lock), resque_redis.ttl(lock)))

    lock = key(resque_namespace, 'workerslock:locked:q:[1,{"x":"é"}]')
    jobs = {
        "locked": JobDefinition(
            locked, plugins=("JobLock",), plugin_options={"JobLock": {"lockTimeout": 30}}
        )
    }
    await queue.enqueue("q", "locked", [1, {"x": "é"}])
    before = seconds_now()
    await make_worker(jobs=jobs).run(burst=True)
    after = seconds_now()
    [(value, ttl)] = held
    assert before + 31 <= int(value) <= after + 31 and value == str(int(value)).encode()
    assert 29 <= ttl <= 30
    assert resque_redis.exists(lock) == 0  # after_perform released it
    assert await queue.stats() == {"processed": "1"}


async def test_a_held_job_lock_delays_the_copy_and_counts_nothing(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ran: list[Any] = []

    async def locked(n: int) -> None:
        ran.append(n)

    lock = key(resque_namespace, "workerslock:locked:q:[1]")
    resque_redis.set(lock, b"held", ex=100)
    jobs = {"locked": JobDefinition(locked, plugins=("JobLock",))}
    events: list[str] = []
    worker = make_worker(jobs=jobs)
    for name in ("success", "failure"):
        worker.on(name, lambda *a, name=name: events.append(name))
    await queue.enqueue("q", "locked", [1])
    await queue.enqueue("q", "locked", [1])  # refused in the same second: a second later
    sent = time.time() * 1000
    await worker.run(burst=True)
    assert ran == [] and events == []
    # 1001 ms later; the copy refused in the same second goes one second after it
    first, second = await queue.scheduled_at("q", "locked", [1])
    assert first - times.js_bucket(sent + 1001) in (0, 1) and second == first + 1
    assert await queue.stats() == {}
    assert resque_redis.get(lock) == b"held"  # not released by a job that never held it


async def test_job_lock_options_by_name_re_enqueue_false_and_custom_keys(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    custom = f"{resque_namespace}:custom:lock"
    resque_redis.set(custom, b"x", ex=100)
    jobs = {
        "static": JobDefinition(
            noop,
            plugins=("JobLock",),
            plugin_options={"JobLock": {"key": custom, "reEnqueue": False}},
        ),
        "computed": JobDefinition(
            noop,
            plugins=("JobLock",),
            plugin_options={
                "JobLock": {"key": lambda p: f"{custom}:{p.args[0]}", "enqueueTimeout": 7000}
            },
        ),
        # lower-case keys are not the plugin's name: ignored, as node-resque ignores them
        "unnamed": JobDefinition(
            noop, plugins=("JobLock",), plugin_options={"jobLock": {"key": custom}}
        ),
    }
    resque_redis.set(f"{custom}:5", b"x", ex=100)
    await queue.enqueue("q", "static", [])
    await queue.enqueue("q", "computed", [5])
    await queue.enqueue("q", "unnamed", [])
    sent = time.time() * 1000
    await make_worker(jobs=jobs).run(burst=True)
    assert await queue.scheduled_at("q", "static", []) == []  # reEnqueue: false drops it
    [at] = await queue.scheduled_at("q", "computed", [5])
    assert at - times.js_bucket(sent + 7000) in (0, 1)
    assert await queue.stats() == {"processed": "1"}  # only "unnamed" ran


# -- QueueLock -------------------------------------------------------------------------------


async def test_queue_lock_refuses_duplicates_takes_over_stale_locks_and_frees_before_perform(
    redis_url: str,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    seen: list[Any] = []

    async def job(arg: Any) -> None:
        seen.append(resque_redis.exists(lock))

    lock = key(resque_namespace, 'lock:job:ql:[{"k":"v é"}]')
    jobs = {"job": JobDefinition(job, plugins=("QueueLock",))}
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as queue:
        before = seconds_now()
        assert await queue.enqueue("ql", "job", [{"k": "v é"}]) is True
        after = seconds_now()
        assert before + 3601 <= int(resque_redis.get(lock)) <= after + 3601
        assert 3599 <= resque_redis.ttl(lock) <= 3600
        assert await queue.enqueue("ql", "job", [{"k": "v é"}]) is False
        assert await queue.enqueue("ql", "job", [{"k": "other"}]) is True
        assert await queue.length("ql") == 2

        await make_worker("ql", jobs).run(burst=True)
        assert seen == [0, 0]  # released before the job ran
        assert resque_redis.exists(lock) == 0

        # A lock left without a TTL: its value decides (node's stale-lock branch).
        resque_redis.set(lock, b"100")
        assert await queue.enqueue("ql", "job", [{"k": "v é"}]) is True
        assert int(resque_redis.get(lock)) >= before + 3601 and resque_redis.ttl(lock) > 0
        resque_redis.set(lock, str(seconds_now() + 100).encode())
        assert await queue.enqueue("ql", "job", [{"k": "v é"}]) is False
        assert resque_redis.ttl(lock) == -1  # a refused enqueue does not touch the lock
        resque_redis.set(lock, b"garbage")  # parseInt -> NaN: never blocks
        assert await queue.enqueue("ql", "job", [{"k": "v é"}]) is True


async def test_queue_lock_timeout_option(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    jobs = {
        "job": JobDefinition(
            noop, plugins=("QueueLock",), plugin_options={"QueueLock": {"lockTimeout": 30}}
        )
    }
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as queue:
        before = seconds_now()
        assert await queue.enqueue("q", "job") is True
        lock = key(resque_namespace, "lock:job:q:[]")
        assert int(resque_redis.get(lock)) - before in (31, 32)
        assert 29 <= resque_redis.ttl(lock) <= 30


# -- DelayQueueLock --------------------------------------------------------------------------


async def test_delay_queue_lock_refuses_jobs_delayed_by_either_encoding(
    redis_url: str, queue: Queue, resque_namespace: str
) -> None:
    jobs = {"job": JobDefinition(noop, plugins=("DelayQueueLock",))}
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as locked:
        await queue.enqueue_in(60_000, "q", "job", [1])
        assert await locked.enqueue("q", "job", [1]) is False
        assert await locked.enqueue("q", "job", [2]) is True
        async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as ruby:
            await ruby.enqueue_in(60_000, "q", "job", [3])  # {"class","args","queue"}
        assert await locked.enqueue("q", "job", [3]) is False
        # enqueue_in runs no plugins (as node-resque): a delayed copy may be added
        assert await locked.enqueue_in(120_000, "q", "job", [1]) is True
        assert await queue.length("q") == 1


async def test_a_veto_after_queue_lock_gives_the_lock_back(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    # node-resque keeps QueueLock's lock when DelayQueueLock vetoes: nothing is queued, yet
    # the job is refused for an hour (Actionhero's periodic tasks hit this at every boot).
    jobs = {"job": JobDefinition(noop, plugins=("QueueLock", "DelayQueueLock"))}
    lock = key(resque_namespace, "lock:job:q:[1]")
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as queue:
        await queue.enqueue_in(60_000, "q", "job", [1])
        assert await queue.enqueue("q", "job", [1]) is False
        assert resque_redis.exists(lock) == 0
        await queue.delete_delayed("q", "job", [1])
        assert await queue.enqueue("q", "job", [1]) is True
        assert resque_redis.exists(lock) == 1


async def test_delay_queue_lock_ignores_the_copy_the_scheduler_is_moving(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    # The scheduler runs enqueue hooks before its atomic move, with ``moving_from`` set;
    # node-resque pops the item first. Other copies (later seconds, or a second copy in
    # the same second) still veto.
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue_at(1_000_000_000, "q", "job", [1])
        ts = "1000000"

        async def allowed(moving_from: str | None) -> bool:
            return await run_plugins(
                "before_enqueue", plugins=("DelayQueueLock",), plugin_options={}, owner=queue,
                context=queue.context, runner=queue._run, queue_object=queue, job_class="job",
                queue="q", job=None, args=[1], moving_from=moving_from,
            )  # fmt: skip

        assert await allowed(None) is False
        assert await allowed(ts) is True
        assert await allowed("999") is False  # not the second it sits in
        await queue.enqueue_at(2_000_000_000, "q", "job", [1])
        assert await allowed(ts) is False  # a later copy
        await queue.delete_delayed("q", "job", [1])
        resque_redis.rpush(
            key(resque_namespace, "delayed", ts), b'{"class":"job","queue":"q","args":[1]}'
        )
        resque_redis.rpush(
            key(resque_namespace, "delayed", ts), b'{"class":"job","queue":"q","args":[1]}'
        )
        resque_redis.sadd(
            key(resque_namespace, 'timestamps:{"class":"job","queue":"q","args":[1]}'),
            f"delayed:{ts}",
        )
        assert await allowed(ts) is False  # two copies in the same second: one stays


# -- the runner ------------------------------------------------------------------------------


async def test_hooks_run_in_order_and_the_first_false_stops_them(
    redis_url: str, make_worker: Callable[..., Worker], resque_namespace: str
) -> None:
    calls: list[str] = []

    def recorder(label: str, veto: str = "") -> type[Plugin]:
        class Recorder(Plugin):
            plugin_name = label

            async def before_enqueue(self) -> bool:
                calls.append(f"{label}.before_enqueue:{self.options.get('tag')}")
                return veto != "before_enqueue"

            async def after_enqueue(self) -> bool:
                calls.append(f"{label}.after_enqueue")
                return True

            async def before_perform(self) -> bool:
                calls.append(f"{label}.before_perform")
                return veto != "before_perform"

            async def after_perform(self) -> bool:
                calls.append(f"{label}.after_perform")
                return True

        return Recorder

    async def job() -> None:
        calls.append("perform")

    options = {"A": {"tag": "a"}, "B": {"tag": "b"}}
    jobs = {
        "both": JobDefinition(job, plugins=(recorder("A"), recorder("B")), plugin_options=options),
        "veto_enqueue": JobDefinition(
            job,
            plugins=(recorder("A", "before_enqueue"), recorder("B")),
            plugin_options=options,
        ),
        "veto_perform": JobDefinition(
            job, plugins=(recorder("A", "before_perform"), recorder("B")), plugin_options=options
        ),
    }
    async with Queue(redis_url, namespace=resque_namespace, jobs=jobs) as queue:
        assert await queue.enqueue("q", "both") is True
        assert calls == [
            "A.before_enqueue:a",
            "B.before_enqueue:b",
            "A.after_enqueue",
            "B.after_enqueue",
        ]
        calls.clear()
        assert await queue.enqueue("q", "veto_enqueue") is False
        assert calls == ["A.before_enqueue:a"]
        calls.clear()
        await make_worker(jobs=jobs).run(burst=True)
        assert calls == [
            "A.before_perform",
            "B.before_perform",
            "perform",
            "A.after_perform",
            "B.after_perform",
        ]
        calls.clear()
        await queue.enqueue("q", "veto_perform")
        calls.clear()
        await make_worker(jobs=jobs).run(burst=True)
        assert calls == ["A.before_perform"]
        assert await queue.stats() == {"processed": "1"}  # the vetoed perform counts nothing


# -- Noop ------------------------------------------------------------------------------------


async def test_noop_logs_the_error_and_counts_a_success(
    queue: Queue,
    make_worker: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    logged: list[BaseException] = []
    jobs = {
        "quiet": JobDefinition(
            fail, plugins=("Noop",), plugin_options={"Noop": {"logger": logged.append}}
        ),  # fmt: skip
        "loud": JobDefinition(fail, plugins=("Noop",)),
    }
    await queue.enqueue("q", "quiet")
    await queue.enqueue("q", "loud")
    successes: list[str] = []
    worker = make_worker(jobs=jobs)
    worker.on("success", lambda q, job, *rest: successes.append(job["class"]))
    with caplog.at_level(logging.ERROR, logger="pyresque.worker"):
        await worker.run(burst=True)
    assert [str(e) for e in logged] == ["BUSTED"]
    assert any("loud" in r.getMessage() and r.exc_info for r in caplog.records)
    assert successes == ["quiet", "loud"]
    assert await queue.stats() == {"processed": "2"}
    assert await queue.failed_count() == 0


# -- Retry -----------------------------------------------------------------------------------


def test_retry_keys_follow_node_resques_rules() -> None:
    keys = KeySpace("resque")
    assert retry_args_key([1, "two", {"three": 3}]) == '1-two-{"three":3}'
    assert retry_args_key([None, True, 1.0, [1, 2], 1e21]) == "null-true-1-[1,2]-1e+21"
    assert retry_args_key([]) == ""
    assert keys.retry("backoffJob", "") == "resque:resque-retry:backoffJob"
    assert keys.retry_failure("backoffJob", "") == "resque:failure-resque-retry:backoffJob:"
    # .replace(/\s/, ""): only the first whitespace character of the whole key goes
    assert keys.retry("a job", "x y") == "resque:resque-retry:ajob:x y"
    assert keys.retry_failure("j", "x\u3000y z") == "resque:failure-resque-retry:j:xy z"
    # node's TTL (the delay in ms, as seconds) unless the delay plus an hour is longer
    assert retry_ttl(5000, 3600) == 5000
    assert retry_ttl(100, 3600) == 3601


async def test_retry_counts_attempts_backs_off_and_fails_on_the_last(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    args = [1, "two", {"three": 3}]
    jobs = {
        "broken": JobDefinition(
            fail,
            plugins=("Retry",),
            plugin_options={"Retry": {"retryLimit": 3, "backoffStrategy": [1000, 3000]}},
        )
    }
    count_key = key(resque_namespace, 'resque-retry:broken:1-two-{"three":3}')
    error_key = key(resque_namespace, 'failure-resque-retry:broken:1-two-{"three":3}')
    delays: list[Any] = []
    successes: list[str] = []

    def worker() -> Worker:
        made = make_worker(jobs=jobs)
        made.on("reEnqueue", lambda q, job, detail: delays.append((q, job, detail)))
        made.on("success", lambda q, payload, *rest: successes.append(payload["class"]))
        return made

    await queue.enqueue("q", "broken", args)
    sent = time.time() * 1000
    await worker().run(burst=True)
    assert resque_redis.get(count_key) == b"0"
    # node's TTL: the largest delay (the default retryDelay, 5000 ms) taken as seconds
    assert 4999 <= resque_redis.ttl(count_key) <= 5000
    assert 4999 <= resque_redis.ttl(error_key) <= 5000
    error = json.loads(resque_redis.get(error_key))
    assert list(error) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", error["failed_at"])
    assert error["payload"] == args and error["worker"] == "broken" and error["queue"] == "q"
    assert error["exception"] == error["error"] == "RuntimeError: BUSTED"
    assert error["backtrace"][0] == "RuntimeError: BUSTED"
    assert error["backtrace"][1].startswith("    at fail (")
    [(q, job, detail)] = delays
    assert q == "q" and job is jobs["broken"]
    assert detail["delay"] == 1000 and detail["remainingAttempts"] == 2
    assert str(detail["err"]) == "BUSTED"
    assert successes == ["broken"]  # as node-resque: a retried failure emits success
    # processed +0 (written, as node-resque's DECR after the success's INCR), failed +1
    assert await queue.stats() == {"processed": "0", "failed": "1"}
    assert await queue.failed_count() == 0
    [at] = await promote(queue, "q", "broken", args)
    assert at - times.js_bucket(sent + 1000) in (0, 1)

    sent = time.time() * 1000
    await worker().run(burst=True)
    assert resque_redis.get(count_key) == b"1"
    assert delays[-1][2]["delay"] == 3000 and delays[-1][2]["remainingAttempts"] == 1
    [at] = await promote(queue, "q", "broken", args)
    assert at - times.js_bucket(sent + 3000) in (0, 1)

    await worker().run(burst=True)  # the third and last attempt
    assert len(delays) == 2
    assert resque_redis.exists(count_key, error_key) == 0
    assert await queue.scheduled_at("q", "broken", args) == []
    [failed] = await queue.failed()
    assert failed["payload"] == {"class": "broken", "queue": "q", "args": args}
    assert failed["error"] == "BUSTED"
    assert await queue.stats() == {"processed": "0", "failed": "3"}


async def test_retry_forgets_the_attempts_once_the_job_succeeds(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("")
        return "ok"

    jobs = {
        "flaky": JobDefinition(
            flaky,
            plugins=("Retry",),
            plugin_options={"Retry": {"retry_limit": 2, "retry_delay": 10}},
        )
    }
    count_key = key(resque_namespace, "resque-retry:flaky")
    error_key = key(resque_namespace, "failure-resque-retry:flaky:")
    await queue.enqueue("q", "flaky")
    await make_worker(jobs=jobs).run(burst=True)
    assert resque_redis.get(count_key) == b"0"
    assert 3600 <= resque_redis.ttl(count_key) <= 3601  # 10 ms: node would keep it 10 s
    assert json.loads(resque_redis.get(error_key))["error"] == "ValueError"
    await promote(queue, "q", "flaky", [])
    await make_worker(jobs=jobs).run(burst=True)
    assert attempts == [1, 1]
    assert resque_redis.exists(count_key, error_key) == 0
    assert await queue.stats() == {"processed": "1", "failed": "1"}


async def test_retry_last_failure_still_lets_later_plugins_release_their_locks(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    jobs = {"broken": JobDefinition(fail, plugins=("Retry", "JobLock"))}
    await queue.enqueue("q", "broken", [1])
    await make_worker(jobs=jobs).run(burst=True)
    assert resque_redis.exists(key(resque_namespace, "workerslock:broken:q:[1]")) == 0
    assert await queue.failed_count() == 1


async def test_retry_in_the_ruby_dialect_counts_the_retry_as_processed_too(
    redis_url: str, make_worker: Callable[..., Worker], resque_namespace: str
) -> None:
    options = {"Retry": {"retryLimit": 2}}
    jobs = {"broken": JobDefinition(fail, plugins=("Retry",), plugin_options=options)}
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as queue:
        await queue.enqueue("q", "broken")
        await make_worker(jobs=jobs, dialect="ruby").run(burst=True)
        assert await queue.stats() == {"processed": "1", "failed": "1"}
        assert await queue.failed_count() == 0


# -- a custom plugin -------------------------------------------------------------------------


def _example() -> Any:
    path = ROOT / "examples" / "custom_plugin.py"
    spec = importlib.util.spec_from_file_location("custom_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_custom_plugin_example_records_durations(
    queue: Queue,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    example = _example()

    async def slow(ms: int) -> None:
        import asyncio

        await asyncio.sleep(ms / 1000)

    vetoed: list[str] = []

    class Refuse(Plugin):
        async def before_perform(self) -> bool:
            vetoed.append(self.job_class)
            return False

    jobs = {
        "slow": JobDefinition(
            slow, plugins=(example.Timing,), plugin_options={"Timing": {"keep": 2}}
        ),  # fmt: skip
        "refused": JobDefinition(slow, plugins=(Refuse, example.Timing)),
    }
    for ms in (30, 60, 90):
        await queue.enqueue("q", "slow", [ms])
    await queue.enqueue("q", "refused", [1])
    await make_worker(jobs=jobs).run(burst=True)
    durations = [float(d) for d in resque_redis.lrange(key(resque_namespace, "timing:slow"), 0, -1)]
    assert len(durations) == 2  # keep: 2, newest first
    assert durations[0] >= 90 and 60 <= durations[1] < durations[0]
    assert vetoed == ["refused"] and not resque_redis.exists(
        key(resque_namespace, "timing:refused")
    )
    assert await poll_until(queue.stats) == {"processed": "3"}
