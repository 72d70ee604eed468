"""Whatever bytes sit in a queue, a worker never exits because of them: each payload runs,
or fails with its bytes recoverable from its failure entry, and the jobs behind it run."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyresque import Worker
from pyresque.errors import PayloadDecodeError
from pyresque.protocol.jsjson import loads
from pyresque.protocol.keys import KeySpace, to_bytes

# Texts other writers may leave: numbers past the float range, lone surrogate escapes,
# nesting past Lua cjson's limit (1000) or Python's, control characters, huge values.
SPECIAL = [
    b'{"class":"record","args":[1e400]}',
    b'{"class":"record","args":[-1e400, 1e-400]}',
    b'{"class":"unknown","args":[1e400]}',
    b'{"class":"record","args":["\\ud800"]}',
    b'{"class":"unknown","args":["\\udfff\\ud800x"]}',
    b'{"class":"record","args":[' + b"[" * 1200 + b"]" * 1200 + b"]}",
    b'{"class":"unknown","args":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"class":"record","args":["' + b"x" * 2_000_000 + b'"]}',
    b'{"class":"record","args":[{}, [], {"a": {}}]}',
    b'{"class":"record","args":[12345678901234567890123, 0.1]}',
    b'{"class":"record","args":"not a list"}',
    b'{"class":"record"}',
    b'{"class":["record"],"args":[]}',
    b'{"class":"unknown","args":["\xff\xfe"]}',
    b"\xff\xfe\x00",
    b"",
    b"null",
    b'"a string"',
    b"[1,2]",
    b"1e400",
    b'{"class":"record","args":[1],"class":"unknown"}',
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_texts(draw: st.DrawFn) -> bytes:
    value = draw(json_values)
    shape = draw(st.sampled_from(["job", "unknown", "bare"]))
    if shape == "job":
        value = {"class": "record", "args": [value]}
    elif shape == "unknown":
        value = {"class": draw(st.text(max_size=8)), "args": value}
    text = json.dumps(
        value, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )
    return text.encode("utf-8", "surrogatepass")


payloads = st.one_of(st.sampled_from(SPECIAL), json_texts(), st.binary(max_size=64))


def runs(raw: bytes) -> bool:
    """Would a worker with only ``record`` run it (rather than fail it)?"""
    try:
        value = loads(raw)
    except PayloadDecodeError:
        return False
    return isinstance(value, dict) and value.get("class") == "record"


def recovered(entry: dict[str, Any], raw: bytes) -> bool:
    """The failure entry gives the job back: its value, or its exact bytes as text."""
    kept = entry["payload"]
    if isinstance(kept, str):
        return to_bytes(kept) == raw or (kept.encode("utf-8", "surrogatepass") == raw)
    return _same(kept, loads(raw))


def _same(a: Any, b: Any) -> bool:
    """JSON-equal, numbers as the doubles JavaScript and Ruby read (node writes the double
    3.955693918957258e16 as 39556939189572580: the same double, another Python int)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and float in (type(a), type(b)):
        return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_every_special_payload_in_one_queue(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str, dialect: str
) -> None:
    await _check_batch(redis_url, resque_redis, resque_namespace, dialect, SPECIAL)


@pytest.mark.parametrize("dialect", ["node", "ruby"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(payloads, min_size=1, max_size=6))
async def test_a_worker_survives_any_payload_and_loses_none(
    redis_url: str,
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
    batch: list[bytes],
) -> None:
    await _check_batch(redis_url, resque_redis, resque_namespace, dialect, batch)


async def _check_batch(
    redis_url: str, resque_redis: redis.Redis, namespace: str, dialect: str, batch: list[bytes]
) -> None:
    keys = KeySpace(namespace)
    resque_redis.delete(keys.queue("q"), keys.failed())
    for n, raw in enumerate(batch):
        resque_redis.rpush(keys.queue("q"), raw)
        resque_redis.rpush(keys.queue("q"), b'{"class":"record","args":["after-%d"]}' % n)
    ran: list[tuple[Any, ...]] = []
    worker = Worker(
        redis_url, "q", {"record": lambda *args: ran.append(args)},
        namespace=namespace, dialect=dialect,
    )  # fmt: skip
    await worker.run(burst=True)  # returns: nothing in the queue ended the worker
    assert resque_redis.llen(keys.queue("q")) == 0
    assert [a for a in ran if a and a[0] == f"after-{len(batch) - 1}"]
    sentinels = [a[0] for a in ran if len(a) == 1 and str(a[0]).startswith("after-")]
    assert sentinels == [f"after-{n}" for n in range(len(batch))]
    failed = [json.loads(e) for e in resque_redis.lrange(keys.failed(), 0, -1)]
    expected_failures = [raw for raw in batch if not runs(raw)]
    assert len(failed) == len(expected_failures)
    for entry, raw in zip(failed, expected_failures, strict=True):
        assert recovered(entry, raw), (entry["payload"], raw[:200])
    assert len(ran) == len(batch) + sum(1 for raw in batch if runs(raw))
    assert resque_redis.keys(f"{namespace}:worker:*") == []
