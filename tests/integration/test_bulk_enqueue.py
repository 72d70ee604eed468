"""Bulk enqueue (enqueue_many, enqueue_batch) against a real Redis: the keys and bytes of
as many single enqueue / enqueue_at calls, plugins per job, and nothing half-written."""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyresque import JobDefinition, PayloadEncodeError, Queue
from pyresque.bulk import BulkItem, BulkResult
from pyresque.errors import ArgumentError, WrongTypeError
from pyresque.plugins import Plugin, Veto
from pyresque.protocol.plans import jobs
from pyresque.queue import Enqueueing
from pyresque.sync import Queue as SyncQueue
from pyresque.testing.strategies import job_args
from tests.keys import key

BASE_MS = 1_900_000_000_000

# A mix that touches every write: two queues, odd args, delayed jobs sharing a second,
# an identical delayed job twice in one second, a datetime due time.
MIXED: list[Any] = [
    ("math", "add", [1, 2.0, {"b": 1, "2": "x"}]),
    ("math", "add", 5),
    ("mail", "send", None),
    ("math", "add", [1e21, -0.0, "é\u2028"], BASE_MS),
    ("math", "add", [3], BASE_MS + 400),
    ("math", "add", [3], BASE_MS + 499),
    BulkItem("mail", "send", ["later"], datetime.fromtimestamp(BASE_MS / 1000 + 60, UTC)),
    ("math", "add", [1, 2.0, {"b": 1, "2": "x"}]),
]


def state(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every key of ``namespace`` (name without it) -> its contents, read by type: lists in
    order and with their DUMP, sorted sets with scores, sets as sets, strings."""
    found: dict[str, Any] = {}
    for raw in client.scan_iter(match=f"{namespace}:*"):
        name = raw.decode("utf-8", "surrogateescape")[len(namespace) + 1 :]
        kind = client.type(raw).decode()
        if kind == "list":
            found[name] = (kind, client.lrange(raw, 0, -1), client.dump(raw))
        elif kind == "zset":
            found[name] = (kind, client.zrange(raw, 0, -1, withscores=True))
        elif kind == "set":
            found[name] = (kind, client.smembers(raw))
        else:
            found[name] = (kind, client.get(raw))
    return found


@pytest.fixture
def other_namespace(resque_redis: redis.Redis, resque_namespace: str) -> Iterator[str]:
    """A second namespace beside the test's (for the single calls), cleaned up after."""
    namespace = resque_namespace + "-singles"
    yield namespace
    for raw in resque_redis.scan_iter(match=f"{namespace}:*"):
        resque_redis.delete(raw)


@pytest.fixture
async def queues(
    redis_url: str, resque_namespace: str, other_namespace: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Queue, Queue]]:
    """(bulk queue, singles queue) of the dialect the test is parametrized with."""
    dialect = getattr(request, "param", "node")
    async with (
        Queue(redis_url, namespace=resque_namespace, dialect=dialect) as bulk,
        Queue(redis_url, namespace=other_namespace, dialect=dialect) as singles,
    ):
        yield bulk, singles


async def singly(queue: Queue, items: list[Any]) -> BulkResult:
    """What enqueue_batch does, one single call per item; the same result."""
    from pyresque.plugins import last_veto

    result = BulkResult()
    for index, item in enumerate(items):
        if isinstance(item, BulkItem):
            item = (item.queue, item.job_class, item.args, item.at)
        at = item[3] if len(item) == 4 else None
        if at is None:
            if await queue.enqueue(item[0], item[1], item[2]):
                result.enqueued += 1
            else:
                result.vetoed[index] = last_veto()
            continue
        added = await queue.enqueue_at(at, item[0], item[1], item[2], suppress_duplicate=True)
        if added is None:
            result.duplicates.append(index)
        else:
            result.enqueued += 1
            is_delayed = queue.dialect.is_node or queue.dialect.bucket(
                at.timestamp() * 1000 if isinstance(at, datetime) else at
            ) > math.floor(time.time())
            result.delayed += is_delayed
    return result


# -- the same bytes as single calls ------------------------------------------------------------


@pytest.mark.parametrize("queues", ["node", "ruby"], indirect=True)
async def test_enqueue_batch_leaves_the_keys_and_bytes_of_single_calls_in_order(
    queues: tuple[Queue, Queue], resque_redis: redis.Redis, resque_namespace: str,
    other_namespace: str,
) -> None:  # fmt: skip
    bulk, singles = queues
    items = [*MIXED, ("math", "add", [3], BASE_MS + 450)]  # a duplicate in node's second
    result = await bulk.enqueue_batch(items)
    expected = await singly(singles, items)
    assert result == expected
    if bulk.dialect.is_node:
        assert result == BulkResult(enqueued=7, delayed=3, duplicates=[5, 8])
    else:
        assert result == BulkResult(enqueued=9, delayed=5)  # resque-scheduler keeps copies
    assert state(resque_redis, resque_namespace) == state(resque_redis, other_namespace)


@pytest.mark.parametrize("queues", ["node", "ruby"], indirect=True)
async def test_enqueue_many_leaves_the_bytes_of_single_enqueues_across_chunks(
    queues: tuple[Queue, Queue], resque_redis: redis.Redis, resque_namespace: str,
    other_namespace: str,
) -> None:  # fmt: skip
    bulk, singles = queues
    args: list[object] = [[i, {"n": "x", "0": i / 3}] for i in range(2600)]
    args[7], args[8], args[9] = None, "one", (1, 2)
    result = await bulk.enqueue_many("bench", "add", iter(args), chunk_size=1300)
    for a in args:
        await singles.enqueue("bench", "add", a)
    assert result == BulkResult(enqueued=2600)
    assert state(resque_redis, resque_namespace) == state(resque_redis, other_namespace)


@pytest.mark.parametrize("queues", ["node", "ruby"], indirect=True)
async def test_a_ruby_due_time_in_the_past_enqueues_at_once_and_node_delays_it(
    queues: tuple[Queue, Queue], resque_redis: redis.Redis, resque_namespace: str,
    other_namespace: str,
) -> None:  # fmt: skip
    bulk, singles = queues
    items = [("q", "late", [1], 1_000_000_000_000), ("q", "now", [2])]
    result = await bulk.enqueue_batch(items)
    assert result == await singly(singles, items)
    assert result.delayed == (1 if bulk.dialect.is_node else 0)
    assert state(resque_redis, resque_namespace) == state(resque_redis, other_namespace)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            job_args(max_size=3),
            st.one_of(st.none(), st.integers(0, 3).map(lambda s: BASE_MS + s * 700)),
        ),
        max_size=12,
    ),
    st.sampled_from(["node", "ruby"]),
    st.integers(1, 5),
)
def test_any_batch_leaves_what_the_same_single_calls_leave(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str,
    jobs: list[tuple[str, list[Any], int | None]], dialect: str, chunk_size: int,
) -> None:  # fmt: skip
    bulk_ns, singles_ns = f"{resque_namespace}-p", f"{resque_namespace}-s"
    items = [(q, "job", args, at) for q, args, at in jobs]
    with (
        SyncQueue(redis_url, namespace=bulk_ns, dialect=dialect) as bulk,
        SyncQueue(redis_url, namespace=singles_ns, dialect=dialect) as singles,
    ):
        try:
            result = bulk.enqueue_batch(items, chunk_size=chunk_size)
            duplicates = []
            for index, (q, _cls, args, at) in enumerate(items):
                if at is None:
                    singles.enqueue(q, "job", args)
                elif singles.enqueue_at(at, q, "job", args, suppress_duplicate=True) is None:
                    duplicates.append(index)
            assert result.duplicates == duplicates
            assert result.enqueued == len(items) - len(duplicates)
            assert state(resque_redis, bulk_ns) == state(resque_redis, singles_ns)
        finally:
            for raw in [*resque_redis.scan_iter(match=f"{resque_namespace}-*")]:
                resque_redis.delete(raw)


# -- plugins, as with single calls -------------------------------------------------------------


class Recorder(Plugin):
    """Notes each hook with the queue length it sees; vetoes args [13]."""

    log: list[tuple[str, list[Any], int]] = []

    async def _length(self) -> int:
        return await self.run(jobs.length(self.context, self.queue))

    async def before_enqueue(self) -> bool:
        self.log.append(("before", self.args, await self._length()))
        return self.args != [13]

    async def after_enqueue(self) -> bool:
        self.log.append(("after", self.args, await self._length()))
        return True


JOBS = {
    "locked": JobDefinition(lambda *a: None, plugins=["QueueLock"]),
    "delay_locked": JobDefinition(lambda *a: None, plugins=["DelayQueueLock"]),
    "job_locked": JobDefinition(lambda *a: None, plugins=["JobLock"]),
    "recorded": JobDefinition(lambda *a: None, plugins=[Recorder]),
}

PLUGGED: list[Any] = [
    ("q", "plain", [0]),
    ("q", "locked", [1]),
    ("q", "locked", [1]),  # QueueLock: the lock the first one took vetoes it
    ("q", "delay_locked", [2], BASE_MS),
    ("q", "delay_locked", [2]),  # DelayQueueLock: delayed just before, so vetoed
    ("q", "delay_locked", [3]),
    ("q", "job_locked", [4]),
    ("q", "job_locked", [4]),  # JobLock has no enqueue hooks: written twice
    ("q", "recorded", [5]),
    ("q", "plain", [6]),
    ("q", "recorded", [13]),  # vetoed by Recorder
    ("q", "recorded", [7]),
]


async def test_plugins_veto_and_hook_each_job_as_they_do_single_enqueues(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str, other_namespace: str
) -> None:
    async with (
        Queue(redis_url, namespace=resque_namespace, jobs=JOBS) as bulk,
        Queue(redis_url, namespace=other_namespace, jobs=JOBS) as singles,
    ):
        Recorder.log = []
        result = await bulk.enqueue_batch(PLUGGED, chunk_size=50)
        bulk_log, Recorder.log = Recorder.log, []
        assert result == await singly(singles, PLUGGED)
        assert Recorder.log == bulk_log
    assert {index: veto and veto.by for index, veto in result.vetoed.items()} == {
        2: "QueueLock",
        4: "DelayQueueLock",
        10: "Recorder",
    }
    assert result.enqueued == 9
    assert bulk_log == [
        ("before", [5], 5),  # the jobs before it were written first
        ("after", [5], 6),
        ("before", [13], 7),
        ("before", [7], 7),
        ("after", [7], 8),
    ]
    bulk_state = state(resque_redis, resque_namespace)
    singles_state = state(resque_redis, other_namespace)
    # QueueLock's lock holds an expiry time: the same key, another moment.
    lock = next(name for name in bulk_state if name.startswith("lock:"))
    assert bulk_state.pop(lock)[0] == singles_state.pop(lock)[0] == "string"
    assert bulk_state == singles_state


def test_the_blocking_twin_runs_the_same_plugins(
    make_sync_queue: Callable[..., SyncQueue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    q = make_sync_queue(jobs=JOBS)
    Recorder.log = []
    result = q.enqueue_many("q", "locked", [[1], [1], [2]])
    assert list(result.vetoed) == [1] and result.enqueued == 2
    result = q.enqueue_many("q", "recorded", [[13], [8]])
    assert result.vetoed == {0: Veto("Recorder")}
    assert q.enqueue("q", "recorded", [13]) is False
    assert Recorder.log[:3] == [("before", [13], 2), ("before", [8], 2), ("after", [8], 3)]
    assert [j["args"] for j in q.queued("q")] == [[1], [2], [8]]


async def test_enqueue_wrappers_see_each_job_in_a_context_of_its_own(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str, other_namespace: str
) -> None:
    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")
    seen: list[tuple[str, str, str]] = []

    def wrapper(call: Enqueueing) -> contextlib.AbstractContextManager[object]:
        @contextlib.contextmanager
        def around() -> Iterator[None]:
            seen.append(("enter", str(call.args), current.get()))
            token = current.set(str(call.args))
            call.extra["trace"] = f"t-{call.args[0]}"
            try:
                yield
            finally:
                current.reset(token)
                seen.append(("exit", str(call.args), current.get()))

        return around()

    items: list[Any] = [("q", "a", [1]), ("q", "a", [2], BASE_MS), ("r", "b", [3])]
    async with (
        Queue(redis_url, namespace=resque_namespace) as bulk,
        Queue(redis_url, namespace=other_namespace) as singles,
    ):
        bulk.around_enqueue.append(wrapper)
        singles.around_enqueue.append(wrapper)
        await bulk.enqueue_batch(items)
        assert all(outer == "none" for _, _, outer in seen)  # siblings, not nested
        assert [s[:2] for s in seen] == [
            ("enter", "[1]"), ("enter", "[2]"), ("enter", "[3]"),
            ("exit", "[3]"), ("exit", "[2]"), ("exit", "[1]"),
        ]  # fmt: skip
        await singly(singles, items)
    assert resque_redis.lrange(key(resque_namespace, "queue", "q"), 0, -1) == [
        b'{"class":"a","queue":"q","args":[1],"trace":"t-1"}'
    ]
    assert state(resque_redis, resque_namespace) == state(resque_redis, other_namespace)


# -- nothing half-written ----------------------------------------------------------------------


async def test_an_item_that_cannot_be_encoded_stops_before_its_chunk_is_written(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    args: list[object] = [[i] for i in range(8)]
    args[4] = [1, {"x": math.nan}]
    with pytest.raises(PayloadEncodeError, match=r"item 4: .*\$\[1\]\[\"x\"\]") as caught:
        await queue.enqueue_many("q", "job", args, chunk_size=3)
    assert caught.value.index == 4
    assert [j["args"] for j in await queue.queued("q")] == [[0], [1], [2]]  # chunk 1 only

    items: list[Any] = [("r", "job", [0]), ("r", "job", [1], BASE_MS), ("r", "job", {1, 2})]
    with pytest.raises(PayloadEncodeError, match="item 2: ") as caught:
        await queue.enqueue_batch(items)
    assert caught.value.index == 2
    assert resque_redis.keys(f"{resque_namespace}:*:r") == []
    assert await queue.timestamps() == []


async def test_an_item_of_another_shape_or_a_bad_due_time_is_refused_naming_its_index(
    queue: Queue,
) -> None:
    with pytest.raises(ArgumentError, match=r"item 1: expected a BulkItem"):
        await queue.enqueue_batch([("q", "job", [1]), ("q", "job")])  # type: ignore[list-item]
    with pytest.raises(ArgumentError, match=r"item 1: a naive datetime"):
        await queue.enqueue_batch([("q", "job", [1]), ("q", "job", [], datetime(2030, 1, 1))])
    with pytest.raises(PayloadEncodeError, match=r"item 0: queue must be a non-empty"):
        await queue.enqueue_many("", "job", [[1]])
    with pytest.raises(ArgumentError, match="chunk_size"):
        await queue.enqueue_many("q", "job", [[1]], chunk_size=0)
    assert await queue.length("q") == 0


async def test_a_wrong_typed_key_fails_its_chunk_naming_the_key_and_writes_none_of_it(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    bad = key(resque_namespace, "queue", "bad")
    resque_redis.set(bad, "not a list")
    items: list[Any] = [("good", "job", [1]), ("good", "job", [2]), ("good", "job", [3])]
    items += [("good", "job", [4], BASE_MS), ("bad", "job", [5])]
    with pytest.raises(WrongTypeError) as caught:
        await queue.enqueue_batch(items, chunk_size=3)
    assert caught.value.key == bad
    assert [j["args"] for j in await queue.queued("good")] == [[1], [2], [3]]
    assert await queue.timestamps() == []  # the delayed job shared the failed chunk
    assert resque_redis.get(bad) == b"not a list"


async def test_a_large_chunk_keeps_order_across_queues(queue: Queue) -> None:
    items = [("even" if i % 2 == 0 else "odd", "job", [i]) for i in range(5000)]
    result = await queue.enqueue_batch(items, chunk_size=5000)
    assert result.enqueued == 5000
    assert [j["args"][0] for j in await queue.queued("odd")] == list(range(1, 5000, 2))
    assert [j["args"][0] for j in await queue.queued("even")] == list(range(0, 5000, 2))
    assert await queue.queues() == ["even", "odd"]
