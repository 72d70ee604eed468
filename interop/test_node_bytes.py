"""Property: for any sequence of queue calls, pyresque in the node dialect leaves Redis
byte-identical to node-resque 9.7.1 making the same calls, and answers the same.

Hypothesis draws the calls; one long-lived node process makes them in one namespace,
pyresque in another, and the two namespaces are compared key by key, byte by byte.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.harness import Peer, PeerError, snapshot
from pyresque import DuplicateJobError, Queue
from pyresque.testing.plugin import delete_namespace

pytestmark = pytest.mark.interop

SAFE_INT = 2**53 - 1

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-SAFE_INT, SAFE_INT),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
index_keys = st.integers(0, 99).map(str)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), index_keys), inner, max_size=4),
    ),
    max_leaves=10,
)
names = st.text(min_size=1, max_size=10).filter(lambda s: s.strip() != "")

BASE_MS = 1_900_000_000_000


@st.composite
def call_sequences(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    # Small pools so deletes and duplicates hit what was enqueued.
    queues = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    classes = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    arg_lists = draw(st.lists(st.lists(json_values, max_size=3), min_size=1, max_size=3))
    stamps = draw(
        st.lists(
            st.integers(-2_000_000, 5_000).map(lambda d: BASE_MS + d)
            | st.sampled_from([499, -1500]),
            min_size=1,
            max_size=3,
        )
    )
    job = st.tuples(st.sampled_from(queues), st.sampled_from(classes), st.sampled_from(arg_lists))
    call = st.one_of(
        job.map(lambda j: ("enqueue", *j)),
        job.map(lambda j: ("enqueue", *j)),
        st.tuples(st.sampled_from(stamps), job).map(lambda t: ("enqueueAt", t[0], *t[1])),
        st.tuples(job, st.integers(-2, 2)).map(lambda t: ("del", *t[0], t[1])),
        st.tuples(st.sampled_from(queues), st.sampled_from(classes)).map(
            lambda t: ("delByFunction", *t)
        ),
        job.map(lambda j: ("delDelayed", *j)),
        st.sampled_from(queues).map(lambda q: ("delQueue", q)),
    )
    return draw(st.lists(call, min_size=1, max_size=8))


async def _apply_pyresque(queue: Queue, call: tuple[Any, ...]) -> Any:
    name, *args = call
    try:
        if name == "enqueue":
            return await queue.enqueue(*args)
        if name == "enqueueAt":
            return await queue.enqueue_at(*args)
        if name == "del":
            return await queue.delete(*args)
        if name == "delByFunction":
            return await queue.delete_by_function(*args)
        if name == "delDelayed":
            return sorted(await queue.delete_delayed(*args))
        if name == "delQueue":
            return await queue.delete_queue(*args)
    except DuplicateJobError as exc:
        return ("error", str(exc))
    raise AssertionError(name)


def _apply_node(node: Peer, namespace: str, call: tuple[Any, ...]) -> Any:
    name, *args = call
    try:
        result = node.call("queue", namespace=namespace, method=name, args=args)
    except PeerError as exc:
        return ("error", exc.message)
    return sorted(result) if name == "delDelayed" else result


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=call_sequences())
def test_node_dialect_writes_the_bytes_node_resque_writes(
    node: Peer,
    redis_url: str,
    resque_redis: redis.Redis,
    namespaces: list[str],
    calls: list[tuple[Any, ...]],
) -> None:
    ns_node, ns_py = f"bn-{uuid.uuid4().hex[:10]}", f"bp-{uuid.uuid4().hex[:10]}"
    namespaces += [ns_node, ns_py]

    async def run_pyresque() -> list[Any]:
        async with Queue(redis_url, namespace=ns_py) as queue:
            return [await _apply_pyresque(queue, call) for call in calls]

    py_answers = asyncio.run(run_pyresque())
    node_answers = [_apply_node(node, ns_node, call) for call in calls]
    assert py_answers == node_answers

    node_state = snapshot(resque_redis, ns_node)
    node_state.pop("connection_test_key", None)
    assert snapshot(resque_redis, ns_py) == node_state
    delete_namespace(redis_url, ns_node)
    delete_namespace(redis_url, ns_py)
