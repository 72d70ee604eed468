"""The boot enqueue of a periodic task (``start_periodic.lua``) on a real Redis: it enqueues
and takes the QueueLock only when no copy exists on any peer, and a wrong-typed key fails
it before anything is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from pyresque import Queue
from pyresque.errors import WrongTypeError
from pyresque.protocol.plans.locks import PeriodicStart, start_periodic

NOW = 1_800_000_000  # unix seconds, the queues' clock
TASK, QUEUE = "tick", "periodic"
NODE = b'{"class":"tick","queue":"periodic","args":[{}]}'
RUBY_QUEUED = b'{"class":"tick","args":[{}]}'
RUBY_DELAYED = b'{"class":"tick","args":[{}],"queue":"periodic"}'


@pytest.fixture(params=["node", "ruby"])
async def queue(
    request: pytest.FixtureRequest, redis_url: str, resque_namespace: str
) -> AsyncIterator[Queue]:
    """A Queue in each dialect whose clock reads NOW."""
    async with Queue(
        redis_url, namespace=resque_namespace, dialect=request.param, clock=lambda: NOW
    ) as q:
        yield q


class Keys:
    def __init__(self, ns: str) -> None:
        self.queues = f"{ns}:queues"
        self.queue = f"{ns}:queue:{QUEUE}"
        self.queue_lock = f"{ns}:lock:{TASK}:{QUEUE}:[{{}}]"
        self.job_lock = f"{ns}:workerslock:{TASK}:{QUEUE}:[{{}}]"
        self.stop = f"{ns}:periodic_stop:{TASK}"
        self.node_timestamps = f"{ns}:timestamps:{NODE.decode()}"
        self.ruby_timestamps = f"{ns}:timestamps:{RUBY_DELAYED.decode()}"

    def all(self) -> list[str]:
        return list(vars(self).values())


def snapshot(client: redis.Redis, ns: str) -> dict[bytes, tuple[bytes | None, int]]:
    """Every key of the namespace: its serialized value and TTL."""
    return {key: (client.dump(key), client.ttl(key)) for key in client.scan_iter(f"{ns}:*")}


async def start(queue: Queue, **options: Any) -> PeriodicStart:
    plan = start_periodic(queue.context, QUEUE, TASK, [{}], lock_timeout=3600, **options)
    return await queue._run(plan)


async def test_with_no_copy_anywhere_it_enqueues_the_dialects_bytes_and_takes_the_queue_lock(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    keys = Keys(resque_namespace)
    assert await start(queue) == "enqueued"
    payload = NODE if queue.context.dialect.name == "node" else RUBY_QUEUED
    assert resque_redis.lrange(keys.queue, 0, -1) == [payload]
    assert resque_redis.smembers(keys.queues) == {QUEUE.encode()}
    # As QueueLock takes it: now + lockTimeout + 1, for lockTimeout seconds.
    assert resque_redis.get(keys.queue_lock) == str(NOW + 3601).encode()
    assert resque_redis.ttl(keys.queue_lock) == 3600
    assert await start(queue) == "queued"  # the copy it enqueued refuses the next
    assert resque_redis.llen(keys.queue) == 1


@pytest.mark.parametrize(
    ("state", "setup"),
    [
        ("queued", lambda r, k: r.rpush(k.queue, b"other", NODE)),
        ("queued", lambda r, k: r.rpush(k.queue, RUBY_QUEUED, b"other")),
        ("delayed", lambda r, k: r.sadd(k.node_timestamps, "delayed:1800000060")),
        ("delayed", lambda r, k: r.sadd(k.ruby_timestamps, "delayed:1800000060")),
        ("running", lambda r, k: r.set(k.job_lock, NOW + 3601, ex=3600)),
        ("locked", lambda r, k: r.set(k.queue_lock, NOW + 3601, ex=3600)),
        ("locked", lambda r, k: r.set(k.queue_lock, NOW)),  # expires this very second
    ],
    ids=[
        "queued-node-bytes",
        "queued-ruby-bytes",
        "delayed-node-encoding",
        "delayed-ruby-encoding",
        "job-lock-held",
        "queue-lock-held",
        "queue-lock-due-now",
    ],
)
async def test_a_copy_queued_delayed_running_or_locked_on_either_peer_refuses_and_writes_nothing(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str, state: str, setup: Any
) -> None:
    keys = Keys(resque_namespace)
    setup(resque_redis, keys)
    before = snapshot(resque_redis, resque_namespace)
    assert await start(queue) == state
    assert snapshot(resque_redis, resque_namespace) == before


@pytest.mark.parametrize("value", [NOW - 1, "", "soon"], ids=["past", "empty", "not-a-number"])
async def test_a_stale_queue_lock_is_taken_over_with_a_fresh_value_and_ttl(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str, value: object
) -> None:
    keys = Keys(resque_namespace)
    resque_redis.set(keys.queue_lock, value)  # left without a TTL, as a crash would
    assert await start(queue) == "enqueued"
    assert resque_redis.get(keys.queue_lock) == str(NOW + 3601).encode()
    assert resque_redis.ttl(keys.queue_lock) == 3600
    assert resque_redis.llen(keys.queue) == 1


async def test_a_run_marked_to_stop_is_unmarked_so_it_continues_the_chain_this_boot_asks_for(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    keys = Keys(resque_namespace)
    resque_redis.set(keys.job_lock, NOW + 3601, ex=3600)
    resque_redis.set(keys.stop, "1", ex=3600)
    assert await start(queue) == "running"
    assert resque_redis.exists(keys.stop) == 0
    assert resque_redis.exists(keys.queue, keys.queue_lock, keys.queues) == 0


async def test_the_locks_own_keys_are_checked_and_taken(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    custom_job_lock, custom_queue_lock = f"{ns}:mine:running", f"{ns}:mine:queued"
    resque_redis.set(Keys(ns).job_lock, "1")  # the default keys are not this task's now
    resque_redis.set(Keys(ns).queue_lock, NOW + 3601)
    options = {"queue_lock": custom_queue_lock, "job_lock": custom_job_lock}
    resque_redis.set(custom_job_lock, NOW + 41, ex=40)
    assert await start(queue, **options) == "running"
    resque_redis.delete(custom_job_lock)
    assert await start(queue, **options) == "enqueued"
    assert resque_redis.get(custom_queue_lock) == str(NOW + 3601).encode()
    assert await start(queue, **options) == "queued"


WRONG = {
    "queues": lambda r, key: r.rpush(key, "periodic"),
    "queue": lambda r, key: r.sadd(key, NODE),
    "queue_lock": lambda r, key: r.hset(key, "value", NOW + 3601),
    "job_lock": lambda r, key: r.rpush(key, "held"),
    "stop": lambda r, key: r.sadd(key, "1"),
    "node_timestamps": lambda r, key: r.set(key, "delayed:1800000060"),
    "ruby_timestamps": lambda r, key: r.zadd(key, {"delayed:1800000060": 1}),
}


@pytest.mark.parametrize("name", sorted(WRONG))
async def test_a_key_of_the_wrong_type_fails_the_script_naming_it_before_any_write(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str, name: str
) -> None:
    keys = Keys(resque_namespace)
    assert len(WRONG) == len(keys.all())  # every key the script is given
    key = getattr(keys, name)
    WRONG[name](resque_redis, key)
    before = snapshot(resque_redis, resque_namespace)
    with pytest.raises(WrongTypeError) as caught:
        await start(queue)
    assert caught.value.key == key
    assert caught.value.operation == "start_periodic script"
    assert snapshot(resque_redis, resque_namespace) == before
