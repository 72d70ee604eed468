"""The fleet API's delayed jobs and workers: pages, run now under any lock, every peer's
workers listed with their kind, and cleaned up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from pyresque import Queue, Worker
from pyresque.fleet import Fleet
from pyresque.protocol.keys import KeySpace
from pyresque.protocol.workers import RUNTIME
from pyresque.testing import poll_until

NOW = 1_796_465_100.0  # 2026-12-05T10:05:00Z
NODE_ITEM = b'{"class":"add","queue":"math","args":[1,2]}'
RUBY_ITEM = b'{"class":"Add","args":[3],"queue":"ruby"}'


@pytest.fixture
async def fleet(redis_url: str, resque_namespace: str) -> AsyncIterator[Fleet]:
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        yield Fleet(queue)


def delay(client: redis.Redis, keys: KeySpace, ts: int, *items: bytes) -> None:
    """What both peers' enqueue_at write."""
    for item in items:
        client.rpush(keys.delayed(ts), item)
        client.sadd(keys.timestamps(item), keys.delayed_member(ts))
    client.zadd(keys.schedule(), {str(ts): ts})


async def test_a_delayed_page_lists_seconds_with_their_count_and_first_jobs(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace
) -> None:
    delay(resque_redis, keys, 100, NODE_ITEM, RUBY_ITEM, b"junk")
    delay(resque_redis, keys, 200, NODE_ITEM)
    delay(resque_redis, keys, 300, RUBY_ITEM)

    page = await fleet.delayed.page(limit=2, per_second=2)

    assert page.total == 3 and [s.timestamp for s in page.slots] == [100, 200]
    first = page.slots[0]
    assert first.count == 3 and first.at == 100_000
    assert [(j.peer, j.queue, j.job_class, j.args) for j in first.jobs] == [
        ("node", "math", "add", [1, 2]),
        ("ruby", "ruby", "Add", [3]),
    ]
    rest = await fleet.delayed.page(offset=2, per_second=5)
    assert [s.timestamp for s in rest.slots] == [300]
    junk = (await fleet.delayed.page(limit=1)).slots[0].jobs[2]
    assert junk.job is None and junk.unreadable is not None and junk.unreadable["raw"] == "junk"
    due = await fleet.delayed.page(due_by=250_000)
    assert due.total == 2 and [s.timestamp for s in due.slots] == [100, 200]


@pytest.mark.parametrize("lock", ["resque_scheduler_leader_lock", "resque_scheduler_master_lock"])
async def test_run_now_moves_one_job_while_a_scheduler_holds_the_lock(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, lock: str
) -> None:
    held = keys.leader_lock() if lock.endswith("leader_lock") else keys.master_lock()
    resque_redis.set(held, "other-host:1")
    delay(resque_redis, keys, 100, NODE_ITEM, RUBY_ITEM, RUBY_ITEM)
    node_job, ruby_job, _copy = (await fleet.delayed.page()).slots[0].jobs

    assert await fleet.delayed.run_now(node_job) is True
    assert await fleet.delayed.run_now(ruby_job) is True

    # Each peer's own payload; the Ruby copy left keeps its timestamps entry.
    assert resque_redis.lrange(keys.queue("math"), 0, -1) == [NODE_ITEM]
    assert resque_redis.lrange(keys.queue("ruby"), 0, -1) == [b'{"class":"Add","args":[3]}']
    assert resque_redis.smembers(keys.queues()) == {b"math", b"ruby"}
    assert resque_redis.lrange(keys.delayed(100), 0, -1) == [RUBY_ITEM]
    assert resque_redis.exists(keys.timestamps(NODE_ITEM)) == 0
    assert resque_redis.smembers(keys.timestamps(RUBY_ITEM)) == {b"delayed:100"}
    assert await fleet.delayed.run_now(node_job) is False  # gone: nothing written
    assert await fleet.delayed.run_now(ruby_job) is True
    assert resque_redis.exists(keys.delayed(100), keys.timestamps(RUBY_ITEM)) == 0
    assert resque_redis.zcard(keys.schedule()) == 0
    assert resque_redis.get(held) == b"other-host:1"


async def test_remove_and_run_due_empty_the_schedule_as_asked(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace
) -> None:
    delay(resque_redis, keys, 100, NODE_ITEM, RUBY_ITEM)
    delay(resque_redis, keys, 200, NODE_ITEM)
    delay(resque_redis, keys, 300, RUBY_ITEM)
    (removed,) = [j for j in (await fleet.delayed.page()).slots[0].jobs if j.peer == "ruby"]

    assert await fleet.delayed.remove(removed) == 1
    assert await fleet.delayed.run_due(due_by=250_000) == 2
    assert resque_redis.lrange(keys.queue("math"), 0, -1) == [NODE_ITEM, NODE_ITEM]
    assert [int(m) for m in resque_redis.zrange(keys.schedule(), 0, -1)] == [300]
    assert await fleet.delayed.run_due() == 1
    assert resque_redis.llen(keys.queue("ruby")) == 1
    assert (await fleet.delayed.page()).total == 0


async def test_every_peers_worker_is_listed_with_its_kind_and_staleness(
    fleet: Fleet,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
    resque_namespace: str,
) -> None:
    now = int(fleet.queue.context.clock())
    # node-resque's registration and ping, busy; Ruby resque's, idle, its heartbeat long ago.
    resque_redis.sadd(keys.workers(), "vm1:4242:math", "vm2:77:reports")
    resque_redis.set(keys.worker_started("vm1:4242:math"), str(now - 60))
    resque_redis.set(keys.worker_ping("vm1:4242"), json.dumps({"time": now - 1}))
    record = {"run_at": "Sat Dec 05 2026 10:04:30 GMT+0000 (Coordinated Universal Time)",
              "queue": "math", "worker": "vm1:4242",
              "payload": {"class": "add", "queue": "math", "args": [1, 2]}}  # fmt: skip
    resque_redis.set(keys.worker("vm1:4242:math"), json.dumps(record))
    resque_redis.set(keys.worker_started("vm2:77:reports"), "2026-12-05 08:00:00 +0000")
    resque_redis.hset(keys.heartbeats(), "vm2:77:reports", "2026-12-05T08:00:00+00:00")
    node_py = make_worker("py", name="box:11")
    ruby_py = make_worker("rb", name="box:12", dialect="ruby")
    await node_py.start()
    await ruby_py.start()

    listed = {w.id: w for w in await fleet.workers.list()}

    assert set(listed) == {"vm1:4242:math", "vm2:77:reports", "box:11:py", "box:12:rb"}
    node, ruby = listed["vm1:4242:math"], listed["vm2:77:reports"]
    assert (node.kind, node.dialect, node.host, node.pid) == ("node", "node", "vm1", 4242)
    assert (node.job_class, node.job_queue, node.job_args) == ("add", "math", [1, 2])
    assert node.job_since == 1_796_465_070_000 and node.stale is False
    assert (ruby.kind, ruby.dialect, ruby.job, ruby.runtime) == ("ruby", "ruby", None, None)
    assert ruby.stale is True  # last heartbeat at 08:00, an hour ago and more
    for member, dialect in (("box:11:py", "node"), ("box:12:rb", "ruby")):
        python = listed[member]
        assert (python.kind, python.dialect, python.runtime) == ("python", dialect, RUNTIME)
        assert python.stale is False and python.as_dict()["kind"] == "python"
    fresh = {w.id: w.stale for w in await fleet.workers.list(stale_after_ms=10**12)}
    assert fresh["vm2:77:reports"] is False


async def test_the_runtime_mark_expires_is_refreshed_and_goes_with_the_worker(
    resque_redis: redis.Redis, keys: KeySpace, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker("q", name="box:21", timeout=50)
    await worker.start()
    runtime = keys.worker_runtime("box:21:q")
    assert resque_redis.get(runtime) == RUNTIME.encode()
    assert 0 < resque_redis.ttl(runtime) <= 60
    resque_redis.expire(runtime, 5)
    await poll_until(lambda: _ttl_above(resque_redis, runtime, 5))  # a ping refreshed it
    await worker.stop()
    assert resque_redis.exists(runtime) == 0


async def _ttl_above(client: redis.Redis, key: str, seconds: int) -> bool:
    return bool(client.ttl(key) > seconds)


@pytest.mark.parametrize(("dialect", "exception"), [("node", None), ("ruby", "Resque::DirtyExit")])
async def test_cleaning_a_worker_fails_its_job_as_its_peer_would_and_leaves_no_keys(
    fleet: Fleet,
    resque_redis: redis.Redis,
    keys: KeySpace,
    make_worker: Callable[..., Worker],
    resque_namespace: str,
    dialect: str,
    exception: str | None,
) -> None:
    hold: dict[str, Any] = {}

    async def stuck(*args: Any) -> None:
        hold["running"] = True
        await asyncio.Event().wait()

    worker = make_worker("q", {"stuck": stuck}, name="box:31", dialect=dialect, timeout=50)
    await worker.start()
    await fleet.queue.enqueue("q", "stuck", [7])
    (busy,) = await poll_until(lambda: _busy(fleet))

    entry = await fleet.workers.clean(busy)

    assert entry is not None and entry["payload"]["args"] == [7]
    if exception is None:
        assert entry["exception"] == "Worker Timeout (killed manually)"
    else:
        assert entry["exception"] == exception and entry["worker"] == "box:31:q"
    assert await fleet.workers.list() == [] or all(
        w.id != "box:31:q" for w in await fleet.workers.list()
    )
    left = {k.decode() for k in resque_redis.scan_iter(match=f"{resque_namespace}:worker:*")}
    assert keys.worker_runtime("box:31:q") not in left
    (failed,) = (await fleet.failed.page()).entries
    assert failed.peer == dialect and failed.job_class == "stuck"
    await worker.stop(grace=0)


async def _busy(fleet: Fleet) -> list[Any]:
    return [w for w in await fleet.workers.list() if w.job is not None]
