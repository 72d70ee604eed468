"""pyresque workers beside node-resque 9.7.1: node-resque's tools treat them as their own."""

from __future__ import annotations

import asyncio
import collections
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from interop import jobs
from interop.harness import Peer
from pyresque import Queue, Worker
from pyresque.testing import poll_until, wait_until

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[1]


def node_queue(node: Peer, namespace: str, method: str, *args: Any) -> Any:
    return node.call("queue", namespace=namespace, method=method, args=list(args))


@pytest.fixture(autouse=True)
def _jobs_use_the_session_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    jobs._client.cache_clear()


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        yield q


async def test_pyresque_worker_runs_node_jobs_and_node_manages_its_failures(
    node: Peer, queue: Queue, resque_namespace: str, redis_url: str
) -> None:
    ns = resque_namespace
    node_queue(node, ns, "enqueue", "q", "mark", [1])
    node_queue(node, ns, "enqueue", "q", "fail", ["from python"])
    await Worker(redis_url, "q", jobs.JOBS, namespace=ns, name="py:1").run(burst=True)

    failed = node_queue(node, ns, "failed", 0, -1)
    assert len(failed) == 1
    assert failed[0]["worker"] == "py:1" and failed[0]["error"] == "from python"
    assert failed[0]["exception"] == "RuntimeError"
    # node-resque finds the entry by re-stringifying it: our bytes must be exactly that.
    assert node_queue(node, ns, "retryAndRemoveFailed", failed[0]) is True
    assert node_queue(node, ns, "failedCount") == 0
    assert node_queue(node, ns, "queued", "q", 0, -1) == [
        {"class": "fail", "queue": "q", "args": ["from python"]}
    ]
    assert node_queue(node, ns, "stats") == {"processed": "1", "failed": "1"}


async def test_node_resque_sees_a_live_pyresque_worker_as_its_own(
    node: Peer, queue: Queue, resque_namespace: str, redis_url: str
) -> None:
    ns = resque_namespace
    gate = asyncio.Event()

    async def hold(*args: Any) -> None:
        await gate.wait()

    worker = Worker(redis_url, ["q", "r"], {"hold": hold}, namespace=ns, name="host:99")
    await worker.start()
    try:
        assert node_queue(node, ns, "workers") == {"host:99": "q,r"}
        assert node_queue(node, ns, "allWorkingOn") == {"host:99": "started"}
        node_queue(node, ns, "enqueue", "r", "hold", [[1, 2]])
        doing = await poll_until(lambda: _working(node, ns, "host:99"))
        assert doing["queue"] == "r" and doing["worker"] == "host:99"
        assert doing["payload"] == {"class": "hold", "args": [[1, 2]], "queue": "r"}
    finally:
        gate.set()
        await worker.stop()
    assert node_queue(node, ns, "workers") == {}


async def _working(node: Peer, ns: str, name: str) -> Any:
    record = node_queue(node, ns, "allWorkingOn").get(name)
    return record if isinstance(record, dict) else None


async def test_a_node_worker_and_a_pyresque_worker_share_2000_jobs_exactly_once(
    node: Peer, queue: Queue, resque_namespace: str, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    total = 2000
    node.call(
        "enqueue_many", namespace=ns, queue="shared", jobClass="mark",
        argsList=[[i] for i in range(total)],
    )  # fmt: skip
    node.call("work_start", namespace=ns, name="node:1", queues=["shared"], timeout=20)
    worker = Worker(redis_url, "shared", jobs.JOBS, namespace=ns, name="py:2", timeout=50)
    await worker.start()
    try:
        done_key = f"{ns}:done"
        await poll_until(
            lambda: asyncio.to_thread(lambda: resque_redis.llen(done_key) >= total), timeout=60
        )
        # The last job marks itself done just before its worker settles (counts) it.
        await poll_until(
            lambda: asyncio.to_thread(
                lambda: resque_redis.get(f"{ns}:stat:processed") == str(total).encode()
            ),
            timeout=10,
        )
        stats = node_queue(node, ns, "stats")
    finally:
        await worker.stop()
        node.call("work_stop", name="node:1")

    runs = [item.decode() for item in resque_redis.lrange(done_key, 0, -1)]
    by_id = collections.Counter(int(r.split(":")[0]) for r in runs)
    assert sorted(by_id) == list(range(total))
    assert set(by_id.values()) == {1}
    by_side = collections.Counter(r.split(":")[1] for r in runs)
    assert by_side["py"] > 0 and by_side["node"] > 0
    assert stats["processed"] == str(total)
    assert int(stats["processed:py:2"]) + int(stats["processed:node:1"]) == total
    assert await queue.length("shared") == 0


async def test_node_scheduler_cleans_a_killed_pyresque_worker_and_spares_a_live_one(
    node: Peer, queue: Queue, resque_namespace: str, redis_url: str, spawn_worker: Any
) -> None:
    ns = resque_namespace
    doomed = f"doomed{uuid.uuid4().hex[:6]}:1"
    alive = f"alive{uuid.uuid4().hex[:6]}:2"
    node_queue(node, ns, "enqueue", "slow", "hold", [60_000])
    victim = spawn_worker("slow", "--name", doomed, "--timeout", "200")
    await poll_until(lambda: queue.working_on(doomed, "slow"), timeout=30)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    survivor = spawn_worker("other", "--name", alive, "--timeout", "200")
    await poll_until(lambda: _registered(queue, alive), timeout=30)

    node.call("scheduler_start", namespace=ns, name="sched", timeout=200, stuckWorkerTimeout=1000)
    try:
        await poll_until(queue.failed_count, timeout=30)
        cleaned = node.call("scheduler_cleaned", name="sched")
    finally:
        node.call("scheduler_stop", name="sched")
    (entry,) = await queue.failed()
    assert entry["worker"] == doomed
    assert entry["backtrace"][1] == "queue#forceCleanWorker"
    assert entry["payload"] == {"class": "hold", "args": [60_000], "queue": "slow"}
    assert [c["workerName"] for c in cleaned] == [doomed]
    workers = await queue.workers()
    assert alive in workers and doomed not in workers
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(30) == 0
    assert await queue.workers() == {}


async def _registered(queue: Queue, name: str) -> bool:
    return name in await queue.workers()


def test_node_resque_worker_runs_jobs_a_pyresque_queue_enqueued(
    node: Peer, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    async def enqueue() -> None:
        async with Queue(redis_url, namespace=resque_namespace) as q:
            for i in range(5):
                await q.enqueue("q", "mark", [i])

    asyncio.run(enqueue())
    outcomes = node.call("work", namespace=resque_namespace, name="node:5", queues=["q"], count=5)
    assert [o["event"] for o in outcomes] == ["success"] * 5
    wait_until(lambda: resque_redis.llen(f"{resque_namespace}:done") == 5)
