"""The Queue's admin reads when Redis holds what no peer should have written there:
``info()`` and ``stats()`` read as the peers whose calls they are, and ``overview()`` /
``queue_lengths()`` read each key on its own, marking what cannot be read."""

from __future__ import annotations

import redis

from pyresque import Queue
from pyresque import sync as blocking
from tests.hostile import expected_markers, spoil, unreadable


async def test_queue_admin_reads_take_a_non_integer_stat_as_ruby_resque_does(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    """``info()`` is Ruby's ``Resque.info``, which reads stats with ``String#to_i``;
    ``stats()`` is node-resque's, which hands the raw strings back."""
    ns = resque_namespace
    resque_redis.set(f"{ns}:stat:failed", "3")
    for raw, counted in (("abc", 0), ("12abc", 12), (" -4", -4), ("", 0)):
        resque_redis.set(f"{ns}:stat:processed", raw)
        async with Queue(redis_url, namespace=ns, dialect="ruby") as queue:
            assert (await queue.info())["processed"] == counted
            assert await queue.stats() == {"failed": "3", "processed": raw}
        with blocking.Queue(redis_url, namespace=ns, dialect="ruby") as twin:
            assert twin.info()["processed"] == counted
            assert twin.stats() == {"failed": "3", "processed": raw}


async def test_the_overview_reads_each_key_alone_so_one_bad_key_hides_nothing_else(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    spoil(resque_redis, ns)
    marks = expected_markers(ns)
    async with Queue(redis_url, namespace=ns) as queue:
        found = await queue.overview()
        lengths = await queue.queue_lengths(["math", "bad", "none"])
    with blocking.Queue(redis_url, namespace=ns) as twin:
        assert twin.overview() == found
        assert twin.queue_lengths(["math", "bad", "none"]) == lengths
    assert lengths == {"math": 1, "bad": marks["bad"], "none": 0}
    assert found["queues"] == {"bad": marks["bad"], "math": 1, "skipme": marks["skipme"]}
    assert found["working"]["vm:4"] == marks["vm:4"]
    assert found["failed"] == 1

    # The sets themselves of another type: each section says so, the others still read.
    resque_redis.delete(f"{ns}:queues", f"{ns}:workers")
    resque_redis.set(f"{ns}:queues", "x")
    resque_redis.set(f"{ns}:workers", "x")
    async with Queue(redis_url, namespace=ns) as queue:
        found = await queue.overview()
    assert found["queues"] == unreadable(
        f"WRONGTYPE: {ns}:queues holds a string, not a set", f"{ns}:queues"
    )
    assert found["workers"] == unreadable(
        f"WRONGTYPE: {ns}:workers holds a string, not a set", f"{ns}:workers"
    )
    assert (found["working"], found["skipping"], found["failed"]) == ({}, {}, 1)


async def test_delayed_queue_peek_reads_a_member_that_is_no_integer_as_ruby_does(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    """resque-scheduler's ``delayed_queue_peek`` maps the members with ``to_i``."""
    ns = resque_namespace
    resque_redis.zadd(f"{ns}:delayed_queue_schedule", {"1700000000": 1, "soon": 2})
    async with Queue(redis_url, namespace=ns, dialect="ruby") as queue:
        assert await queue.delayed_queue_peek(0, 5) == [1700000000, 0]
    with blocking.Queue(redis_url, namespace=ns, dialect="ruby") as twin:
        assert twin.delayed_queue_peek(0, 5) == [1700000000, 0]
