"""Ruby resque 2.7 + resque-scheduler 4.11 and pyresque's Queue (ruby dialect) on one Redis.

Needs RUBYLIB pointing at resque's and resque-scheduler's sources (interop/README.md);
without it these tests skip and say why.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.harness import Peer, snapshot
from pyresque import Dialect, Queue
from pyresque.protocol.times import parse_peer_time
from pyresque.testing.plugin import delete_namespace

pytestmark = pytest.mark.interop

FUTURE_S = 1_900_000_000  # a fixed future second


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        yield q


def rb(peer: Peer, namespace: str, op: str, **fields: Any) -> Any:
    if "cls" in fields:
        fields["class"] = fields.pop("cls")
    return peer.call(op, namespace=namespace, **fields)


# -- Ruby writes, pyresque reads ---------------------------------------------------------


async def test_pyresque_reads_jobs_ruby_enqueued(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    rb(
        ruby,
        resque_namespace,
        "enqueue",
        queue="default",
        cls="Py::Job",
        args=[1, "two", {"k": "v"}],
    )
    rb(ruby, resque_namespace, "enqueue", queue="default", cls="Deep::Nested::Job", args=[])
    rb(ruby, resque_namespace, "enqueue_class", queue="other", cls="Py::Named", args=[3.5, None])

    assert await queue.queues() == sorted(rb(ruby, resque_namespace, "queues"))
    assert await queue.queued("default") == rb(ruby, resque_namespace, "peek", queue="default")
    assert await queue.queued("default") == [
        {"class": "Py::Job", "args": [1, "two", {"k": "v"}]},
        {"class": "Deep::Nested::Job", "args": []},
    ]
    assert await queue.length("other") == rb(ruby, resque_namespace, "size", queue="other") == 1
    assert await queue.info() == rb(ruby, resque_namespace, "info")
    assert (await queue.info())["pending"] == 3


async def test_pyresque_reads_delayed_jobs_ruby_enqueued_at(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    for args, at in (([1], FUTURE_S + 0.7), ([1], FUTURE_S + 0.2), ([2], FUTURE_S + 99)):
        rb(ruby, resque_namespace, "enqueue_at", queue="later", cls="Py::Job", args=args, at=at)

    assert await queue.timestamps() == [FUTURE_S * 1000, (FUTURE_S + 99) * 1000]
    assert await queue.scheduled_at("later", "Py::Job", [1]) == [FUTURE_S]
    assert await queue.delayed_queue_peek(0, 10) == rb(
        ruby, resque_namespace, "delayed_queue_peek", start=0, count=10
    )
    assert await queue.delayed_queue_schedule_size() == 2
    assert (
        await queue.count_all_scheduled_jobs()
        == rb(ruby, resque_namespace, "count_all_scheduled_jobs")
        == 3
    )
    assert await queue.delayed_timestamp_peek(FUTURE_S, 0, 5) == rb(
        ruby, resque_namespace, "delayed_timestamp_peek", timestamp=FUTURE_S, start=0, count=5
    )
    # Ruby allows the same job twice at one second; both copies are there.
    assert (await queue.delayed_at(FUTURE_S * 1000)).tasks == [
        {"class": "Py::Job", "args": [1], "queue": "later"},
        {"class": "Py::Job", "args": [1], "queue": "later"},
    ]


async def test_pyresque_reads_and_handles_failures_a_ruby_worker_wrote(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    for arg in ("a", "b", "c"):
        rb(ruby, resque_namespace, "fail_job", queue="jobs", cls="Py::Fail", args=[arg])
    ruby_failed = rb(ruby, resque_namespace, "failed", start=0, count=10)
    assert await queue.failed() == ruby_failed
    assert ruby_failed[0]["exception"] == "ArgumentError"

    assert await queue.requeue_failed(0) is True
    assert await queue.remove_failed_at(1) is True
    assert await queue.retry_and_remove_failed(ruby_failed[2]) is True
    left = rb(ruby, resque_namespace, "failed", start=0, count=10)
    assert len(left) == 1 and left[0]["payload"]["args"] == ["a"]
    assert "retried_at" in left[0]
    assert rb(ruby, resque_namespace, "peek", queue="jobs") == [
        {"class": "Py::Fail", "args": ["a"]},
        {"class": "Py::Fail", "args": ["c"]},
    ]


async def test_a_requeue_stamps_retried_at_as_the_running_resque_version_does(
    ruby: Peer, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    major = int(rb(ruby, ns, "version")["resque"].split(".")[0])
    for arg in ("by ruby", "by pyresque"):
        rb(ruby, ns, "fail_job", queue="jobs", cls="Py::Fail", args=[arg])
    rb(ruby, ns, "requeue_failed", index=0)
    dialect = Dialect("ruby", resque_version=3 if major >= 3 else 2)
    async with Queue(redis_url, namespace=ns, dialect=dialect) as q:
        assert await q.requeue_failed(1) is True
    raw = resque_redis.lrange(f"{ns}:failed", 0, -1)
    by_ruby, by_py = (json.loads(entry) for entry in raw)
    # resque 3.0 appends the zone (``%Z``) to retried_at; 2.x writes none.
    shape = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}" + (r" [A-Z][A-Za-z0-9+-]*" if major >= 3 else "")
    assert re.fullmatch(shape, by_ruby["retried_at"]), by_ruby["retried_at"]
    assert re.fullmatch(shape, by_py["retried_at"]), by_py["retried_at"]
    assert list(by_py) == list(by_ruby)  # the same keys in the same order
    stamped = [parse_peer_time(e["retried_at"]) for e in (by_ruby, by_py)]
    assert None not in stamped and abs(stamped[0] - stamped[1]) < 30  # type: ignore[operator]
    assert rb(ruby, ns, "peek", queue="jobs") == [
        {"class": "Py::Fail", "args": ["by ruby"]},
        {"class": "Py::Fail", "args": ["by pyresque"]},
    ]


# -- pyresque writes, Ruby reads -----------------------------------------------------------


async def test_ruby_finds_and_removes_delayed_jobs_pyresque_wrote(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    await queue.enqueue_at(FUTURE_S * 1000 + 900, "later", "Py::Job", [1, {"a": "b"}])
    await queue.enqueue_at((FUTURE_S + 60) * 1000, "later", "Py::Job", [1, {"a": "b"}])
    await queue.enqueue_at((FUTURE_S + 60) * 1000, "later", "Py::Job", [2])

    found = rb(
        ruby, resque_namespace, "scheduled_at", queue="later", cls="Py::Job", args=[1, {"a": "b"}]
    )
    assert sorted(found) == [FUTURE_S, FUTURE_S + 60]
    assert rb(ruby, resque_namespace, "delayed?", queue="later", cls="Py::Job", args=[2]) is True
    assert (
        rb(
            ruby,
            resque_namespace,
            "remove_delayed",
            queue="later",
            cls="Py::Job",
            args=[1, {"a": "b"}],
        )
        == 2
    )
    assert await queue.scheduled_at("later", "Py::Job", [1, {"a": "b"}]) == []
    assert await queue.scheduled_at("later", "Py::Job", [2]) == [FUTURE_S + 60]


async def test_ruby_reads_and_dequeues_jobs_pyresque_enqueued(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    await queue.enqueue("default", "Py::Job", [1, "x"])
    await queue.enqueue("default", "Py::Job", [2])
    await queue.enqueue("default", "Py::Other", [])
    assert rb(ruby, resque_namespace, "peek", queue="default") == await queue.queued("default")
    assert rb(ruby, resque_namespace, "dequeue", queue="default", cls="Py::Job", args=[1, "x"]) == 1
    assert await queue.dequeue("default", "Py::Job") == 1
    assert await queue.queued("default") == [{"class": "Py::Other", "args": []}]


async def test_ruby_dialect_enqueue_at_in_the_past_enqueues_at_once_like_ruby(
    ruby: Peer, queue: Queue, resque_namespace: str
) -> None:
    past = time.time() - 3600
    rb(ruby, resque_namespace, "enqueue_at", queue="now", cls="Py::Job", args=[1], at=past)
    await queue.enqueue_at(past * 1000, "now", "Py::Job", [1])
    assert await queue.queued("now") == [{"class": "Py::Job", "args": [1]}] * 2
    assert await queue.delayed_queue_schedule_size() == 0


# -- byte identity -------------------------------------------------------------------------

ruby_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=10,
)
class_names = st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,6}(::[A-Z][A-Za-z0-9]{0,6})?\Z")
queue_names = st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z")


def _check_identical(
    peer: Peer,
    adapter: str,
    redis_url: str,
    client: redis.Redis,
    namespaces: list[str],
    calls: list[tuple[str, str, str, list[Any], int | None]],
) -> None:
    ns_rb, ns_py = f"br-{uuid.uuid4().hex[:10]}", f"bq-{uuid.uuid4().hex[:10]}"
    namespaces += [ns_rb, ns_py]
    dialect = Dialect("ruby", json_adapter="oj" if adapter == "oj" else "json")

    async def run_pyresque() -> None:
        async with Queue(redis_url, namespace=ns_py, dialect=dialect) as q:
            for op, queue_name, cls, args, at in calls:
                if op == "enqueue":
                    await q.enqueue(queue_name, cls, args)
                else:
                    assert at is not None
                    await q.enqueue_at(at * 1000, queue_name, cls, args)

    asyncio.run(run_pyresque())
    for op, queue_name, cls, args, at in calls:
        if op == "enqueue":
            rb(peer, ns_rb, "enqueue", queue=queue_name, cls=cls, args=args)
        else:
            rb(peer, ns_rb, "enqueue_at", queue=queue_name, cls=cls, args=args, at=at)
    assert snapshot(client, ns_py) == snapshot(client, ns_rb)
    delete_namespace(redis_url, ns_rb)
    delete_namespace(redis_url, ns_py)


ruby_calls = st.lists(
    st.tuples(
        st.sampled_from(["enqueue", "enqueue_at"]),
        queue_names,
        class_names,
        st.lists(ruby_values, max_size=3),
        st.integers(FUTURE_S, FUTURE_S + 5),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=ruby_calls)
def test_ruby_dialect_writes_the_bytes_ruby_resque_writes_json_gem(
    ruby: Peer, redis_url: str, resque_redis: redis.Redis, namespaces: list[str], calls: Any
) -> None:
    _check_identical(ruby, "json_gem", redis_url, resque_redis, namespaces, calls)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=ruby_calls)
def test_ruby_dialect_writes_the_bytes_ruby_resque_writes_oj(
    ruby_oj: Peer, redis_url: str, resque_redis: redis.Redis, namespaces: list[str], calls: Any
) -> None:
    _check_identical(ruby_oj, "oj", redis_url, resque_redis, namespaces, calls)


async def test_snapshot_of_a_ruby_bulk_enqueue_is_identical_to_ruby_resques_single_calls(
    ruby: Peer, redis_url: str, resque_redis: redis.Redis
) -> None:
    ns_rb, ns_py = f"br-{uuid.uuid4().hex[:10]}", f"bq-{uuid.uuid4().hex[:10]}"
    past = int(time.time()) - 3600
    calls: list[tuple[str, str, list[Any], int | None]] = [
        ("default", "Py::Job", [1, "x", 2.0, {"b": 1, "a": None}], None),
        ("default", "Py::Job", [1e21], FUTURE_S),
        ("default", "Py::Job", [1e21], FUTURE_S),  # Ruby keeps both copies
        ("mail", "Py::Other", [], past),  # due already: enqueued at once
        ("mail", "Py::Other", ["é✓"], FUTURE_S + 60),
    ]
    try:
        for q, cls, args, at in calls:
            if at is None:
                rb(ruby, ns_rb, "enqueue", queue=q, cls=cls, args=args)
            else:
                rb(ruby, ns_rb, "enqueue_at", queue=q, cls=cls, args=args, at=at)
        async with Queue(redis_url, namespace=ns_py, dialect="ruby") as bulk:
            result = await bulk.enqueue_batch(
                [(q, cls, args, None if at is None else at * 1000) for q, cls, args, at in calls]
            )
        assert (result.enqueued, result.delayed, result.duplicates) == (5, 3, [])
        assert snapshot(resque_redis, ns_py) == snapshot(resque_redis, ns_rb)
    finally:
        delete_namespace(redis_url, ns_rb)
        delete_namespace(redis_url, ns_py)
