"""The Queue's admin reads when Redis holds what no peer should have written there:
``info()`` and ``stats()`` read as the peers whose calls they are, and ``status()`` /
``queue_lengths()`` read each key on its own, marking what cannot be read."""

from __future__ import annotations

import redis

from pyresque import Queue
from pyresque import sync as blocking
from pyresque.protocol.status import Counts, DelayedStatus, QueueStatus, is_unreadable
from tests.hostile import expected_markers, spoil, spoil_liveness, unreadable


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


async def test_the_status_reads_each_key_alone_so_one_bad_key_hides_nothing_else(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    spoil(resque_redis, ns)
    marks = expected_markers(ns)
    async with Queue(redis_url, namespace=ns, clock=lambda: 1_800_000_000) as queue:
        found = await queue.status()
        lengths = await queue.queue_lengths(["math", "bad", "none"])
    with blocking.Queue(redis_url, namespace=ns, clock=lambda: 1_800_000_000) as twin:
        assert twin.status() == found
        assert twin.queue_lengths(["math", "bad", "none"]) == lengths
    assert lengths == {"math": 1, "bad": marks["bad"], "none": 0}
    assert found.queues == {
        "bad": QueueStatus(marks["bad"]),
        "math": QueueStatus(1),
        "skipme": QueueStatus(marks["skipme"]),
    }
    assert not is_unreadable(found.workers)
    assert found.workers["vm:4"].working_on == marks["vm:4"]
    assert found.workers["vm:1"].skipping == ("bad",)
    assert found.failed == 1
    assert found.stats == Counts(processed=marks["processed"], failed=2)

    # The sets themselves of another type: each section says so, the others still read.
    resque_redis.delete(f"{ns}:queues", f"{ns}:workers")
    resque_redis.set(f"{ns}:queues", "x")
    resque_redis.set(f"{ns}:workers", "x")
    async with Queue(redis_url, namespace=ns) as queue:
        found = await queue.status()
    assert found.queues == unreadable(
        f"WRONGTYPE: {ns}:queues holds a string, not a set", f"{ns}:queues"
    )
    assert found.workers == unreadable(
        f"WRONGTYPE: {ns}:workers holds a string, not a set", f"{ns}:workers"
    )
    assert (found.failed, found.other_stats) == (1, {})


async def test_the_status_marks_liveness_and_times_that_cannot_be_read(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    """A ping that is not JSON, a heartbeats hash of another type, a ``started`` value or a
    ``run_at`` that is no time, a delayed list of another type, a stat per worker that is no
    integer: each is marked where it belongs; the rest of each worker is read."""
    ns = resque_namespace
    spoil_liveness(resque_redis, ns)
    async with Queue(redis_url, namespace=ns, clock=lambda: 1_800_000_000) as queue:
        found = await queue.status()
    assert not is_unreadable(found.workers)
    node, ruby = found.workers["n:1"], found.workers["r:2"]
    assert (node.kind, ruby.kind) == ("node", "ruby")  # ruby: by its ``started`` value
    assert node.seen_at == unreadable(
        f"{ns}:worker:ping:n:1 holds '{{not json', not a ping", f"{ns}:worker:ping:n:1", "{not json"
    )
    assert ruby.seen_at == unreadable(
        f"WRONGTYPE: {ns}:workers:heartbeat holds a string, not a hash", f"{ns}:workers:heartbeat"
    )
    assert node.started_at == unreadable(
        f"{ns}:worker:n:1:q:started holds 'soon', not a time", f"{ns}:worker:n:1:q:started", "soon"
    )
    assert ruby.started_at == 1_796_461_200_000
    assert node.working_on == {"queue": "q", "run_at": "later", "payload": {"class": "J"}}
    assert node.working_since == unreadable(
        f"the run_at in {ns}:worker:n:1:q is not a time: 'later'", f"{ns}:worker:n:1:q", "later"
    )
    assert node.stats == Counts(processed=5, failed=0)
    assert ruby.stats == Counts(
        processed=0,
        failed=unreadable(
            f"{ns}:stat:failed:r:2:q holds 'x', not an integer", f"{ns}:stat:failed:r:2:q", "x"
        ),
    )
    delayed_key = f"{ns}:delayed:1700000000"
    assert found.delayed == DelayedStatus(
        jobs=unreadable(f"WRONGTYPE: {delayed_key} holds a string, not a list", delayed_key),
        timestamps=2,
        due=unreadable(f"WRONGTYPE: {delayed_key} holds a string, not a list", delayed_key),
        earliest_at=1_700_000_000_000,
        overdue_ms=100_000_000_000,
    )


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
