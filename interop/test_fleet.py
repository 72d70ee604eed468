"""The fleet API against the real peers: node-resque's, Ruby resque's and pyresque's workers
listed with their kind; failures each peer wrote found and retried by pyresque, then run by
that peer; delayed jobs each peer enqueued run now by pyresque (while a scheduler lock is
held) and worked by that peer.

The Ruby tests need RUBYLIB (interop/README.md); they skip with the reason otherwise.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from interop.harness import Peer
from pyresque import Queue, Worker
from pyresque.fleet import FailedFilter, Fleet
from pyresque.protocol.keys import KeySpace

pytestmark = pytest.mark.interop


@pytest.fixture
async def fleet(redis_url: str, resque_namespace: str) -> AsyncIterator[Fleet]:
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        yield Fleet(queue)


def node_queue(node: Peer, namespace: str, method: str, *args: Any) -> Any:
    return node.call("queue", namespace=namespace, method=method, args=list(args))


def rb(peer: Peer, namespace: str, op: str, **fields: Any) -> Any:
    if "cls" in fields:
        fields["class"] = fields.pop("cls")
    return peer.call(op, namespace=namespace, **fields)


async def test_node_and_pyresque_workers_are_listed_with_their_kind(
    node: Peer, fleet: Fleet, redis_url: str, resque_namespace: str
) -> None:
    ns = resque_namespace
    node.call("worker_register", namespace=ns, name="nodehost:41", queues=["nq"])
    worker = Worker(redis_url, "pq", {}, namespace=ns, name="pyhost:42", timeout=60_000)
    await worker.start()
    try:
        listed = {w.id: w for w in await fleet.workers.list()}
        assert (listed["nodehost:41:nq"].kind, listed["nodehost:41:nq"].runtime) == ("node", None)
        assert listed["nodehost:41:nq"].stale is False
        python = listed["pyhost:42:pq"]
        assert (python.kind, python.dialect, python.host, python.pid) == (
            "python", "node", "pyhost", 42,
        )  # fmt: skip
        # node-resque still sees the pyresque worker as one of its own.
        assert node_queue(node, ns, "workers") == {"nodehost:41": "nq", "pyhost:42": "pq"}
    finally:
        node.call("worker_end", name="nodehost:41")
        await worker.stop()
    assert await fleet.workers.list() == []


async def test_ruby_and_pyresque_ruby_workers_are_listed_with_their_kind(
    ruby: Peer, fleet: Fleet, redis_url: str, resque_namespace: str
) -> None:
    ns = resque_namespace
    ruby_id = rb(ruby, ns, "register_worker", queues=["rq"])
    worker = Worker(redis_url, "pq", {}, namespace=ns, name="pyhost:43", dialect="ruby")
    await worker.start()
    try:
        listed = {w.id: w for w in await fleet.workers.list()}
        assert (listed[ruby_id].kind, listed[ruby_id].dialect) == ("ruby", "ruby")
        assert (listed["pyhost:43:pq"].kind, listed["pyhost:43:pq"].dialect) == ("python", "ruby")
        # Ruby lists the pyresque worker as its own, and its pruning spares it.
        assert "pyhost:43:pq" in rb(ruby, ns, "workers")
    finally:
        await worker.stop()
    entry = await fleet.workers.clean(listed[ruby_id])
    assert entry is None  # it held no job
    assert await fleet.workers.list() == []


async def test_a_node_failure_is_found_retried_and_run_again_by_node(
    node: Peer, fleet: Fleet, resque_namespace: str
) -> None:
    ns = resque_namespace
    node_queue(node, ns, "enqueue", "nq", "fail", ["from node 1"])
    node_queue(node, ns, "enqueue", "nq", "add", [1, 2])
    node.call("work", namespace=ns, name="nodehost:51", queues=["nq"], count=2)

    page = await fleet.failed.search(FailedFilter(queue="nq", job_class="fail", text="node 1"))
    (found,) = page.entries
    assert (found.peer, found.exception, found.error) == ("node", "Error", "from node 1")

    assert await fleet.failed.retry(found) == 1
    assert node_queue(node, ns, "failedCount") == 0
    assert node_queue(node, ns, "queued", "nq", 0, -1) == [
        {"class": "fail", "queue": "nq", "args": ["from node 1"]}
    ]
    (outcome,) = node.call("work", namespace=ns, name="nodehost:51", queues=["nq"], count=1)
    assert outcome["event"] == "failure" and outcome["job"]["args"] == ["from node 1"]


async def test_a_ruby_failure_is_found_retried_and_run_again_by_ruby(
    ruby: Peer, fleet: Fleet, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    rb(ruby, ns, "fail_job", queue="rq", cls="Fleet::Fail", args=[5])
    rb(ruby, ns, "fail_job", queue="other", cls="Fleet::OtherFail", args=[6])

    where = FailedFilter(exception="ArgumentError", job_class="Fleet::Fail")
    (found,) = (await fleet.failed.search(where)).entries
    assert found.peer == "ruby" and found.queue == "rq" and found.error == "boom [5]"

    assert await fleet.failed.retry(found) == 1
    assert rb(ruby, ns, "peek", queue="rq") == [{"class": "Fleet::Fail", "args": [5]}]
    assert rb(ruby, ns, "failed_count") == 1
    rb(ruby, ns, "work", queues=["rq"], classes=["Fleet::Fail"])
    errors = [e["error"] for e in rb(ruby, ns, "failed", start=0, count=10)]
    assert sorted(errors) == ["boom [5]", "boom [6]"]  # Ruby ran it (and it failed again)
    assert rb(ruby, ns, "size", queue="rq") == 0


async def test_a_node_delayed_job_is_run_now_under_a_held_lock_and_worked_by_node(
    node: Peer, fleet: Fleet, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    keys = KeySpace(ns)
    resque_redis.set(keys.leader_lock(), "some-scheduler:1")
    node_queue(node, ns, "enqueueAt", int(time.time() * 1000) + 3_600_000, "nq", "mark", [9])
    ((job,),) = [slot.jobs for slot in (await fleet.delayed.page()).slots]
    assert (job.peer, job.job_class, job.args) == ("node", "mark", [9])

    assert await fleet.delayed.run_now(job) is True

    assert node_queue(node, ns, "timestamps") == []
    assert node_queue(node, ns, "scheduledAt", "nq", "mark", [9]) == []
    (outcome,) = node.call("work", namespace=ns, name="nodehost:61", queues=["nq"], count=1)
    assert outcome["event"] == "success"
    assert resque_redis.lrange(f"{ns}:done", 0, -1) == [b"9:node"]


async def test_a_ruby_delayed_job_is_run_now_under_a_held_lock_and_worked_by_ruby(
    ruby: Peer, fleet: Fleet, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    keys = KeySpace(ns)
    resque_redis.set(keys.master_lock(), "some-scheduler:1")
    at = int(time.time()) + 3600
    rb(ruby, ns, "enqueue_at", queue="rq", at=at, cls="Fleet::Mark", args=[7])
    ((job,),) = [slot.jobs for slot in (await fleet.delayed.page()).slots]
    assert (job.peer, job.timestamp, job.args) == ("ruby", at, [7])

    assert await fleet.delayed.run_now(job) is True

    assert rb(ruby, ns, "delayed_queue_schedule_size") == 0
    assert rb(ruby, ns, "count_all_scheduled_jobs") == 0
    assert rb(ruby, ns, "peek", queue="rq") == [{"class": "Fleet::Mark", "args": [7]}]
    rb(ruby, ns, "work", queues=["rq"], classes=["Fleet::Mark"])
    assert resque_redis.lrange(f"{ns}:done", 0, -1) == [b"7:ruby"]
