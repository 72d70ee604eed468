"""node-resque 9.7.1 and pyresque's Queue on one Redis: each reads what the other wrote.

Every read here is compared with what node-resque's own Queue returns for the same Redis
state, so these tests fail as soon as either side's bytes or semantics drift.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from interop.harness import Peer, snapshot
from pyresque import Queue
from pyresque.testing import poll_until
from pyresque.testing.plugin import delete_namespace

pytestmark = pytest.mark.interop

BASE_MS = 1_900_000_000_000  # a fixed future second, so nothing here becomes due

JOBS: list[tuple[str, str, list[Any]]] = [
    ("math", "add", [1, 2]),
    ("math", "add", [1.5, -0.0, 1e21, 1e-7, 2.0]),
    ("math", "noop", []),
    ("text", "echo", ["é✓😀", "</script>", "tab\tnew\nline", "\u2028", "\x7f"]),
    ("text", "echo", [{"b": 1, "a": [True, False, None], "10": "x", "2": "y"}]),
    ("nested", "deep", [[[[]]], {}, {"k": {"k": {"k": []}}}]),
]


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace) as q:
        yield q


def node_queue(node: Peer, namespace: str, method: str, *args: Any) -> Any:
    return node.call("queue", namespace=namespace, method=method, args=list(args))


# -- node-resque writes, pyresque reads --------------------------------------------------


async def test_queue_reads_match_node_resque_after_node_enqueues(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    for q, cls, args in JOBS:
        assert node_queue(node, resque_namespace, "enqueue", q, cls, args) is True

    assert await queue.queues() == sorted(node_queue(node, resque_namespace, "queues"))
    for name in ("math", "text", "nested", "missing"):
        assert await queue.length(name) == node_queue(node, resque_namespace, "length", name)
        assert await queue.queued(name) == node_queue(node, resque_namespace, "queued", name, 0, -1)
        assert await queue.queued(name, 1, 1) == node_queue(
            node, resque_namespace, "queued", name, 1, 1
        )


async def test_delayed_reads_match_node_resque_after_node_enqueue_at(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    # .499 rounds down and .500 up (Math.round), and far-apart seconds sort differently
    # as strings than as numbers.
    stamps = [BASE_MS + 499, BASE_MS + 500, BASE_MS + 90_000, BASE_MS + 1_000_000]
    for i, at in enumerate(stamps):
        node_queue(node, resque_namespace, "enqueueAt", at, "later", "add", [i])
    node_queue(node, resque_namespace, "enqueueAt", stamps[0], "later", "add", [9])

    node_stamps = node_queue(node, resque_namespace, "timestamps")
    assert await queue.timestamps() == sorted(node_stamps)  # node sorts them as strings
    assert await queue.all_delayed() == node_queue(node, resque_namespace, "allDelayed")
    for at in stamps:
        tasks, r_timestamp = await queue.delayed_at(at)
        answer = node_queue(node, resque_namespace, "delayedAt", at)
        assert (tasks, r_timestamp) == (answer["tasks"], answer["rTimestamp"])
    for i in range(len(stamps)):
        assert await queue.scheduled_at("later", "add", [i]) == sorted(
            node_queue(node, resque_namespace, "scheduledAt", "later", "add", [i])
        )


async def test_worker_registrations_by_node_resque_read_identically(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    names = [f"host{uuid.uuid4().hex[:6]}:{pid}" for pid in (101, 202)]
    node.call("worker_register", namespace=resque_namespace, name=names[0], queues=["a", "b"])
    node.call("worker_register", namespace=resque_namespace, name=names[1], queues=["c"])
    try:
        assert await queue.workers() == node_queue(node, resque_namespace, "workers")
        assert await queue.all_working_on() == node_queue(node, resque_namespace, "allWorkingOn")
        assert await queue.working_on(names[0], "a,b") is None
        assert (await queue.info())["workers"] == 2
    finally:
        for name in names:
            node.call("worker_end", name=name)
    assert await queue.workers() == {}


async def test_failed_entries_and_stats_written_by_a_node_worker_read_identically(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    node_queue(node, resque_namespace, "enqueue", "jobs", "fail", ["first é"])
    node_queue(node, resque_namespace, "enqueue", "jobs", "add", [1, 2])
    node_queue(node, resque_namespace, "enqueue", "jobs", "fail", [])
    outcomes = node.call("work", namespace=resque_namespace, name="vm:77", queues=["jobs"], count=3)
    assert sorted(o["event"] for o in outcomes) == ["failure", "failure", "success"]

    node_failed = node_queue(node, resque_namespace, "failed", 0, -1)
    assert await queue.failed() == node_failed
    assert await queue.failed_count() == node_queue(node, resque_namespace, "failedCount") == 2
    assert await queue.stats() == node_queue(node, resque_namespace, "stats")
    assert node_failed[0]["payload"]["args"] == ["first é"]


async def test_pyresque_removes_and_retries_failures_node_resque_wrote(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    for arg in ("one", "two"):
        node_queue(node, resque_namespace, "enqueue", "jobs", "fail", [arg])
    node.call("work", namespace=resque_namespace, name="vm:78", queues=["jobs"], count=2)
    first, second = await queue.failed()

    assert await queue.remove_failed(first) == 1
    assert await queue.retry_and_remove_failed(second) is True
    assert await queue.failed_count() == 0
    assert node_queue(node, resque_namespace, "queued", "jobs", 0, -1) == [
        {"class": "fail", "queue": "jobs", "args": ["two"]}
    ]


# -- pyresque writes, node-resque reads --------------------------------------------------


async def test_node_resque_reads_what_pyresque_enqueued(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    for q, cls, args in JOBS:
        assert await queue.enqueue(q, cls, args) is True
    for i, at in enumerate([BASE_MS + 499, BASE_MS + 500, BASE_MS + 90_000]):
        assert await queue.enqueue_at(at, "later", "add", [i]) is True

    assert sorted(node_queue(node, resque_namespace, "queues")) == await queue.queues()
    for name in ("math", "text", "nested"):
        assert node_queue(node, resque_namespace, "queued", name, 0, -1) == await queue.queued(name)
    assert node_queue(node, resque_namespace, "allDelayed") == await queue.all_delayed()
    assert sorted(node_queue(node, resque_namespace, "timestamps")) == await queue.timestamps()
    assert node_queue(node, resque_namespace, "scheduledAt", "later", "add", [1]) == [
        (BASE_MS + 500) // 1000 + 1
    ]
    # node-resque's own delete calls find pyresque's bytes
    assert node_queue(node, resque_namespace, "del", "math", "add", [1, 2]) == 1
    assert node_queue(node, resque_namespace, "delDelayed", "later", "add", [0]) == [
        (BASE_MS + 499) // 1000
    ]
    assert node_queue(node, resque_namespace, "delByFunction", "text", "echo") == 2
    assert await queue.length("math") == 2
    assert await queue.scheduled_at("later", "add", [0]) == []


async def test_node_resque_duplicate_rule_holds_for_pyresque_delayed_jobs(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    assert await queue.enqueue_at(BASE_MS, "later", "add", [1]) is True
    with pytest.raises(Exception, match="already enqueued at this time"):
        node_queue(node, resque_namespace, "enqueueAt", BASE_MS + 100, "later", "add", [1])
    assert (
        node_queue(node, resque_namespace, "enqueueAt", BASE_MS + 100, "later", "add", [1], True)
        is None
    )


async def test_stuck_worker_cleaned_by_pyresque_is_retried_by_node_resque(
    node: Peer, queue: Queue, resque_namespace: str
) -> None:
    name = f"stuck{uuid.uuid4().hex[:6]}:42"
    node_queue(node, resque_namespace, "enqueue", "slow", "hold", [400])
    node.call("work_start", namespace=resque_namespace, name=name, queues=["slow"])
    try:
        record = await poll_until(lambda: queue.working_on(name, "slow"))
        assert record is not None
        assert record["payload"] == {"class": "hold", "args": [400], "queue": "slow"}  # cjson order

        entry = await queue.force_clean_worker(name)
        assert entry is not None
        assert node_queue(node, resque_namespace, "failed", 0, -1) == [entry]
        assert entry["backtrace"][1] == "queue#forceCleanWorker"
        assert entry["exception"] == "Worker Timeout (killed manually)"
        assert name not in node_queue(node, resque_namespace, "workers")
    finally:
        node.call("work_stop", name=name)

    node_queue(node, resque_namespace, "retryStuckJobs")
    assert await queue.failed_count() == 0
    assert await queue.queued("slow") == [{"class": "hold", "queue": "slow", "args": [400]}]


async def test_node_resque_removes_failures_pyresque_wrote(
    node: Peer, queue: Queue, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    name = f"gone{uuid.uuid4().hex[:6]}:7"
    node_queue(node, resque_namespace, "enqueue", "slow", "hold", [300])
    node.call("work_start", namespace=resque_namespace, name=name, queues=["slow"])
    try:
        await poll_until(lambda: queue.working_on(name, "slow"))
        entry = await queue.force_clean_worker(name)
    finally:
        node.call("work_stop", name=name)
    assert entry is not None
    assert node_queue(node, resque_namespace, "removeFailed", entry) == 1
    assert resque_redis.llen(f"{resque_namespace}:failed") == 0


async def test_snapshot_of_one_enqueue_is_identical_to_node_resque(
    node: Peer, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns_node, ns_py = f"n-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    try:
        node_queue(node, ns_node, "enqueue", "q", "add", [1, {"x": [1.0, "y"]}])
        node_queue(node, ns_node, "enqueueAt", BASE_MS + 1234, "q", "add", [2])
        async with Queue(redis_url, namespace=ns_py) as q:
            await q.enqueue("q", "add", [1, {"x": [1.0, "y"]}])
            await q.enqueue_at(BASE_MS + 1234, "q", "add", [2])
        node_state = snapshot(resque_redis, ns_node)
        node_state.pop("connection_test_key")  # node-resque writes it on every connect
        assert snapshot(resque_redis, ns_py) == node_state
    finally:
        delete_namespace(redis_url, ns_node)
        delete_namespace(redis_url, ns_py)


async def test_snapshot_of_a_bulk_enqueue_is_identical_to_node_resques_single_calls(
    node: Peer, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns_node, ns_py = f"n-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    delayed = [(BASE_MS + 499, [7]), (BASE_MS + 100, [7]), (BASE_MS + 90_000, [8])]
    try:
        for q, cls, args in JOBS:
            node_queue(node, ns_node, "enqueue", q, cls, args)
        for at, args in delayed:  # the second one is node's duplicate: suppressed
            node_queue(node, ns_node, "enqueueAt", at, "later", "add", args, True)
        async with Queue(redis_url, namespace=ns_py) as bulk:
            result = await bulk.enqueue_batch(
                [*JOBS, *(("later", "add", args, at) for at, args in delayed)], chunk_size=4
            )
        assert (result.enqueued, result.delayed, result.duplicates) == (8, 2, [len(JOBS) + 1])
        node_state = snapshot(resque_redis, ns_node)
        node_state.pop("connection_test_key")  # node-resque writes it on every connect
        assert snapshot(resque_redis, ns_py) == node_state
    finally:
        delete_namespace(redis_url, ns_node)
        delete_namespace(redis_url, ns_py)
