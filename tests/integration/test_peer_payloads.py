"""The peer payload strategies (pyresque.testing.strategies): what they draw is what
pyresque's own encoders write for the same job, and a pyresque worker runs it with the
arguments the peer was given (byte-equality with the real peers: interop/test_peer_strategies.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyresque import Queue
from pyresque.activejob import ActiveJobs
from pyresque.protocol.activejob import WRAPPER, deserialize_arguments
from pyresque.protocol.dialect import NODE, Dialect
from pyresque.testing import drain
from pyresque.testing.strategies import (
    ActiveJobPayload,
    PeerPayload,
    activejob_payloads,
    node_payloads,
    ruby_payloads,
)

RUN = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
QUEUE = st.just("peer")

# Rails 6.1's job data keys, in the order its resque adapter writes them (spec/vectors).
RAILS_KEYS = [
    "job_class",
    "job_id",
    "provider_job_id",
    "queue_name",
    "priority",
    "arguments",
    "executions",
    "exception_executions",
    "locale",
    "timezone",
    "enqueued_at",
]


@given(node_payloads())
def test_node_payloads_are_what_pyresque_writes_in_the_node_dialect(payload: PeerPayload) -> None:
    assert payload.raw == NODE.job(payload.queue, payload.job_class, payload.args)
    assert payload.value == {
        "class": payload.job_class,
        "queue": payload.queue,
        "args": payload.args,
    }


@pytest.mark.parametrize("adapter", ["json", "oj"])
def test_ruby_payloads_are_what_pyresque_writes_in_the_ruby_dialect(adapter: Any) -> None:
    dialect = Dialect("ruby", json_adapter=adapter)

    @given(ruby_payloads(adapter))
    def check(payload: PeerPayload) -> None:
        assert payload.raw == dialect.job(payload.queue, payload.job_class, payload.args)
        assert list(payload.value) == ["class", "args"]
        assert payload.value["class"] == payload.job_class

    check()


@given(activejob_payloads())
def test_activejob_payloads_carry_rails_job_data_in_its_key_order(
    payload: ActiveJobPayload,
) -> None:
    assert payload.value["class"] == WRAPPER
    [data] = payload.value["args"]
    assert list(data) == RAILS_KEYS
    assert data == json.loads(json.dumps(payload.data))
    assert (data["job_class"], data["job_id"], data["queue_name"]) == (
        payload.job_class,
        payload.job_id,
        payload.queue,
    )
    assert (data["executions"], data["exception_executions"]) == (0, {})
    assert deserialize_arguments(data["arguments"]) == (payload.args, payload.kwargs)


def _push(client: redis.Redis, namespace: str, payload: Any) -> None:
    client.sadd(f"{namespace}:queues", payload.queue)
    client.rpush(f"{namespace}:queue:{payload.queue}", payload.raw)


@RUN
@given(payload=node_payloads(queues=QUEUE))
async def test_a_pyresque_worker_runs_node_payloads_with_their_args(
    payload: PeerPayload, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    _push(resque_redis, resque_namespace, payload)

    async def record(*args: Any) -> list[Any]:
        return list(args)

    # A Queue per example, closed in it: Hypothesis runs each example on its own loop.
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        done = await drain(queue, {payload.job_class: record})
    assert done.results(payload.job_class) == [payload.args]


@RUN
@given(payload=ruby_payloads("oj", queues=QUEUE))
async def test_a_pyresque_worker_runs_ruby_payloads_with_their_args(
    payload: PeerPayload, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    _push(resque_redis, resque_namespace, payload)

    async def record(*args: Any) -> list[Any]:
        return list(args)

    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as queue:
        done = await drain(queue, {payload.job_class: record})
    assert done.results(payload.job_class) == [payload.args]


@RUN
@given(payload=activejob_payloads(queues=QUEUE))
async def test_a_pyresque_worker_runs_activejob_payloads_with_their_ruby_values(
    payload: ActiveJobPayload, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    _push(resque_redis, resque_namespace, payload)
    active = ActiveJobs()
    seen: list[Any] = []

    @active.handler(payload.job_class)
    async def perform(*args: Any, **kwargs: Any) -> None:
        seen.append((list(args), kwargs))

    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as queue:
        done = await drain(queue, active.jobs)
    assert [r.ok for r in done.ran] == [True]
    assert seen == [(payload.args, payload.kwargs)]
