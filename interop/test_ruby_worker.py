"""pyresque workers (ruby dialect) beside Ruby resque 2.7: listed, pruned and read as its own.

Needs RUBYLIB (interop/README.md); skips with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from interop import jobs
from interop.harness import Peer
from pyresque import Queue, Worker
from pyresque.testing import poll_until

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()


def rb(peer: Peer, namespace: str, op: str, **fields: Any) -> Any:
    if "cls" in fields:
        fields["class"] = fields.pop("cls")
    return peer.call(op, namespace=namespace, **fields)


@pytest.fixture(autouse=True)
def _jobs_use_the_session_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    jobs._client.cache_clear()


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        yield q


async def test_pyresque_worker_runs_jobs_ruby_enqueued(
    ruby: Peer, queue: Queue, resque_namespace: str, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    for i in range(3):
        rb(ruby, ns, "enqueue_class", queue="default", cls="Py::Mark", args=[i])
    rb(ruby, ns, "enqueue", queue="default", cls="Py::Fail", args=["from ruby"])
    await Worker(redis_url, "default", jobs.JOBS, namespace=ns, dialect="ruby").run(burst=True)

    assert resque_redis.lrange(f"{ns}:done", 0, -1) == [b"0:py", b"1:py", b"2:py"]
    (entry,) = rb(ruby, ns, "failed", start=0, count=10)
    assert entry["exception"] == "RuntimeError" and entry["error"] == "from ruby"
    assert entry["worker"] == f"{HOST}:{os.getpid()}:default"
    assert rb(ruby, ns, "info") == {
        "pending": 0, "processed": 4, "queues": 1, "workers": 0, "working": 0, "failed": 1,
    }  # fmt: skip
    # Ruby requeues the entry pyresque wrote.
    assert rb(ruby, ns, "requeue_failed", index=0) is True
    assert rb(ruby, ns, "peek", queue="default") == [{"class": "Py::Fail", "args": ["from ruby"]}]


async def test_a_live_pyresque_worker_is_listed_and_survives_ruby_pruning_a_killed_one_does_not(
    ruby: Peer, queue: Queue, resque_namespace: str, resque_redis: redis.Redis, spawn_worker: Any
) -> None:
    ns = resque_namespace
    live = spawn_worker("work", "--timeout", "200", dialect="ruby")
    live_id = f"{HOST}:{live.pid}:work"
    await poll_until(lambda: _listed(ruby, ns, live_id), timeout=30)

    rb(ruby, ns, "enqueue", queue="work", cls="Py::Hold", args=[60_000])
    await poll_until(lambda: asyncio.to_thread(lambda: rb(ruby, ns, "working")), timeout=30)
    assert rb(ruby, ns, "working") == [live_id]
    assert rb(ruby, ns, "worker_job", id=live_id)["payload"] == {
        "class": "Py::Hold",
        "args": [60_000],
    }

    # A Ruby worker on the same queue starting up prunes dead workers: this one is alive.
    resque_redis.delete(f"{ns}:pruning_dead_workers_in_progress")
    assert live_id in rb(ruby, ns, "prune", queues=["work"])

    live.send_signal(signal.SIGKILL)
    live.wait()
    resque_redis.delete(f"{ns}:pruning_dead_workers_in_progress")
    assert rb(ruby, ns, "prune", queues=["work"]) == []
    (entry,) = rb(ruby, ns, "failed", start=0, count=10)
    assert entry["exception"] == "Resque::DirtyExit"
    assert entry["worker"] == live_id
    assert entry["payload"] == {"class": "Py::Hold", "args": [60_000]}
    assert await queue.retry_stuck_jobs() == 1


async def _listed(ruby: Peer, ns: str, worker_id: str) -> bool:
    return worker_id in await asyncio.to_thread(rb, ruby, ns, "workers")


async def test_a_ruby_worker_runs_jobs_pyresque_enqueued_in_either_dialect(
    ruby: Peer, resque_namespace: str, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    async with Queue(redis_url, namespace=ns, dialect="ruby") as q:
        await q.enqueue("jobs", "Py::Mark", [1])
    async with Queue(redis_url, namespace=ns, dialect="node") as q:
        await q.enqueue("jobs", "Py::Mark", [2])
    assert rb(ruby, ns, "work", queues=["jobs"], classes=["Py::Mark"]) is True
    assert resque_redis.lrange(f"{ns}:done", 0, -1) == [b"1:ruby", b"2:ruby"]
    assert rb(ruby, ns, "stat", name="processed") == 2


async def test_pyresque_and_ruby_workers_stats_add_up_on_a_shared_queue(
    ruby: Peer, queue: Queue, resque_namespace: str, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    for i in range(40):
        await queue.enqueue("shared", "Py::Mark", [i])
    worker = Worker(redis_url, "shared", jobs.JOBS, namespace=ns, dialect="ruby", timeout=50)
    await worker.start()
    try:
        rb(ruby, ns, "work", queues=["shared"], classes=["Py::Mark"])
        await poll_until(lambda: asyncio.to_thread(lambda: resque_redis.llen(f"{ns}:done") == 40))
    finally:
        await worker.stop()
    done = sorted(int(x.split(b":")[0]) for x in resque_redis.lrange(f"{ns}:done", 0, -1))
    assert done == list(range(40))
    assert rb(ruby, ns, "stat", name="processed") == 40


async def test_ruby_dialect_multiworker_children_survive_ruby_pruning(
    ruby: Peer, resque_namespace: str, redis_url: str, resque_redis: redis.Redis
) -> None:
    from pyresque import MultiWorker

    ns = resque_namespace
    pool = MultiWorker(
        redis_url, "pool", jobs.JOBS, namespace=ns, dialect="ruby",
        min_task_processors=2, max_task_processors=2, check_timeout=20,
    )  # fmt: skip
    await pool.start()
    try:
        expected = sorted(f"{HOST}+{i}:{os.getpid()}:pool" for i in (1, 2))
        await poll_until(lambda: asyncio.sleep(0, sorted(rb(ruby, ns, "workers")) == expected))
        resque_redis.delete(f"{ns}:pruning_dead_workers_in_progress")
        assert sorted(rb(ruby, ns, "prune", queues=["pool"])) == expected
    finally:
        await pool.stop()
    assert rb(ruby, ns, "workers") == []


@pytest.mark.parametrize(
    "payload",
    [
        b'{"class":"Py::Hold","args":[1,"two",{"k":"v"}]}',
        b'{"class":"Py::Hold","queue":"work","args":[1.5,1e+21,"a/b","\\u00e9"]}',  # node bytes
        b'{"class":"Py::Hold","args":[],"extra":{"b":1,"a":2}}',
    ],
)
async def test_ruby_dialect_working_on_record_is_what_a_ruby_worker_writes(
    ruby: Peer, resque_namespace: str, redis_url: str, resque_redis: redis.Redis, payload: bytes
) -> None:
    ns = resque_namespace
    gate = asyncio.Event()
    running = asyncio.Event()

    async def hold(*args: Any) -> None:
        running.set()
        await gate.wait()

    resque_redis.rpush(f"{ns}:queue:work", payload)
    worker = Worker(redis_url, "work", {"Py::Hold": hold}, namespace=ns, dialect="ruby")
    await worker.start()
    try:
        key = f"{ns}:worker:{worker.identity.member}"
        # The record is final once the job runs: a payload another encoder wrote is spliced
        # in first, then rewritten in Ruby's bytes just before the job starts.
        await asyncio.wait_for(running.wait(), 30)
        record = await poll_until(lambda: asyncio.to_thread(resque_redis.get, key))
        run_at = json.loads(record)["run_at"]
        expected = rb(ruby, ns, "working_on", queue="work", payload=payload.decode(), run_at=run_at)
        assert record == expected.encode()
    finally:
        gate.set()
        await worker.stop()
