"""pyresque.protocol.cjson's model of Redis' Lua cjson against the session's real Redis:
thousands of generated documents and working-on records (Hypothesis shrinks the ones that
differ), errors included. The golden vectors are in ``tests/unit/protocol/test_cjson.py``.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyresque.protocol.cjson import cjson_reencode, cjson_working_on
from tests.vectors import Outcome, load, outcome

RECORDED_WITH = load("cjson.json")["recorded_with"]
REENCODE_SCRIPT: str = RECORDED_WITH["reencode_script"]
WORKING_ON_SCRIPT: str = RECORDED_WITH["working_on_script"]
_LUA_ERROR = re.compile(r"user_script:\d+: (.*) script: [0-9a-f]+, on @user_script:\d+\.", re.S)
COMPARED: dict[str, int] = {}  # documents checked against Redis, per test (for the log)


class Oracle:
    """Asks Redis, many documents per round trip."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def reencode(self, raws: list[bytes]) -> list[Outcome]:
        pipe = self.client.pipeline(transaction=False)
        for raw in raws:
            pipe.eval(REENCODE_SCRIPT, 0, raw)
        return [_outcome(reply) for reply in pipe.execute(raise_on_error=False)]

    def working_on(self, cases: list[tuple[str, str, bytes, str]]) -> list[Outcome]:
        pipe = self.client.pipeline(transaction=False)
        for i, (run_at, queue, payload, worker) in enumerate(cases):
            queue_key, working_key = f"{self.prefix}q{i}", f"{self.prefix}w{i}"
            pipe.delete(working_key)
            pipe.rpush(queue_key, payload)
            pipe.eval(WORKING_ON_SCRIPT, 2, queue_key, working_key, run_at, queue, worker)
            pipe.get(working_key)
        replies = pipe.execute(raise_on_error=False)
        outcomes = []
        for i in range(len(cases)):
            popped, stored = replies[4 * i + 2], replies[4 * i + 3]
            outcomes.append(_outcome(popped if isinstance(popped, Exception) else stored))
        return outcomes

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=1000))
        if keys:
            self.client.delete(*keys)


def _outcome(reply: object) -> Outcome:
    if isinstance(reply, redis.ResponseError):
        match = _LUA_ERROR.fullmatch(str(reply))
        return match.group(1) if match else str(reply)
    assert isinstance(reply, bytes), reply
    return reply


@pytest.fixture(scope="module")
def oracle(redis_url: str) -> Iterator[Oracle]:
    client = redis.Redis.from_url(redis_url)
    version = client.info("server")["redis_version"]
    # deps/lua's hash, table and cjson code is the same from 7.0 through 7.4.
    if not version.startswith("7."):
        client.close()
        pytest.skip(f"the model is of Redis 7's Lua; this Redis is {version}")
    ask = Oracle(client, f"pyresque-test-cjson-{uuid.uuid4().hex[:10]}:")
    yield ask
    ask.cleanup()
    client.close()
    print(f"\ncjson documents compared with Redis: {COMPARED}")


def _compare(oracle: Oracle, raws: list[bytes], test: str) -> None:
    expected = oracle.reencode(raws)
    for raw, want in zip(raws, expected, strict=True):
        assert outcome(cjson_reencode, raw) == want, raw
    COMPARED[test] = COMPARED.get(test, 0) + len(raws)


def _compare_working_on(
    oracle: Oracle, cases: list[tuple[str, str, bytes, str]], test: str
) -> None:
    expected = oracle.working_on(cases)
    for case, want in zip(cases, expected, strict=True):
        assert outcome(cjson_working_on, *case) == want, case
    COMPARED[test] = COMPARED.get(test, 0) + len(cases)


# Documents are built as JSON text, so objects may repeat keys and numbers keep the exact
# spelling chosen; the seeded generator makes thousands quickly, Hypothesis shrinks.

_KEY_ALPHABETS = ["abcdefghijklmnopqrstuvwxyz", "ab", "_-0123456789", 'é日😀/"\\\n\x00\x7f']


def _random_key(rng: random.Random) -> str:
    length = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 31, 32, 33, 40, 63, 64, 80])
    alphabet = rng.choice(_KEY_ALPHABETS[:3] * 3 + _KEY_ALPHABETS[3:])
    return "".join(rng.choices(alphabet, k=length))


def _random_number(rng: random.Random) -> str:
    pick = rng.randrange(6)
    if pick == 0:
        return str(rng.randint(-(2**70), 2**70))
    if pick == 1:
        return str(rng.randint(-1000, 1000))
    if pick == 2:
        return repr(rng.uniform(-1, 1) * 10 ** rng.randint(-320, 308))
    if pick == 3:
        return repr(rng.random())
    if pick == 4:
        return rng.choice(["-0", "-0.0", "1E5", "1e+2", "0.5e-3", "2.50", "1e22", "1e21"])
    return repr(float(rng.randint(0, 2**60)))


def _random_value(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth < 3 and roll < 0.12:
        return _random_object(rng, depth + 1)
    if depth < 3 and roll < 0.24:
        items = [_random_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 5]))]
        return "[" + ",".join(items) + "]"
    if roll < 0.55:
        return _random_number(rng)
    if roll < 0.9:
        return json.dumps(_random_key(rng), ensure_ascii=rng.random() < 0.5)
    return rng.choice(["true", "false", "null"])


def _random_object(rng: random.Random, depth: int) -> str:
    count = rng.randint(0, 40) if depth == 0 else rng.choice([0, 1, 2, 3, 5])
    keys = [_random_key(rng) for _ in range(count)]
    if keys and rng.random() < 0.2:
        keys.append(rng.choice(keys))  # a repeated key
    pairs = [
        json.dumps(key, ensure_ascii=rng.random() < 0.5) + ":" + _random_value(rng, depth)
        for key in keys
    ]
    return "{" + ",".join(pairs) + "}"


def test_random_documents_match_redis(oracle: Oracle) -> None:
    rng = random.Random(20240607)
    for _batch in range(4):
        raws = [_random_object(rng, 0).encode("utf-8") for _ in range(500)]
        _compare(oracle, raws, "random documents")


def test_random_working_on_records_match_redis(oracle: Oracle) -> None:
    rng = random.Random(97)
    cases = []
    for _ in range(600):
        args = ",".join(_random_value(rng, 1) for _ in range(rng.randint(0, 4)))
        job = f'{{"class":{json.dumps(_random_key(rng))},"queue":"q","args":[{args}]}}'
        payload = job if rng.random() < 0.7 else _random_value(rng, 0)
        cases.append((_random_key(rng), _random_key(rng), payload.encode(), _random_key(rng)))
    _compare_working_on(oracle, cases, "random records")


def test_many_keys_and_big_arrays_match_redis(oracle: Oracle) -> None:
    raws = [
        ("{" + ",".join(f'"k{i}":{i}' for i in range(n)) + "}").encode() for n in range(0, 300, 7)
    ]
    raws.append(("{" + ",".join(f'"{i:x}":[]' for i in range(20000)) + "}").encode())
    raws.append(("[" + ",".join(str(i / 7) for i in range(50000)) + "]").encode())
    _compare(oracle, raws, "big")


_KEYS = st.one_of(
    st.text(alphabet="abcdefghij", max_size=6),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=28, max_size=70),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
)
_NUMBERS = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["-0", "-0.0", "1e-7", "1E+300", "5e-324", "1.7976931348623157e308"]),
)
_SCALARS = st.one_of(
    _NUMBERS,
    _KEYS.map(json.dumps),
    _KEYS.map(lambda text: json.dumps(text, ensure_ascii=False)),
    st.sampled_from(["true", "false", "null"]),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(_KEYS, inner), max_size=40).map(
            lambda pairs: "{" + ",".join(json.dumps(k) + ":" + v for k, v in pairs) + "}"
        ),
    ),
    max_leaves=60,
)
_PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(_PROPERTY, max_examples=80)
@given(docs=st.lists(_DOCUMENTS, min_size=1, max_size=6))
def test_generated_documents_match_redis(oracle: Oracle, docs: list[str]) -> None:
    _compare(oracle, [doc.encode("utf-8") for doc in docs], "hypothesis documents")


@_PROPERTY
@given(doc=_DOCUMENTS, edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=2))))
def test_damaged_documents_fail_like_redis(
    oracle: Oracle, doc: str, edits: list[tuple[int, bytes]]
) -> None:
    raw = bytearray(doc.encode("utf-8"))
    for position, replacement in edits[:4]:
        at = position % (len(raw) + 1)
        raw[at : at + 1] = replacement
    _compare(oracle, [bytes(raw)], "damaged documents")


@_PROPERTY
@given(raws=st.lists(st.binary(max_size=12), min_size=1, max_size=8))
def test_junk_bytes_fail_like_redis(oracle: Oracle, raws: list[bytes]) -> None:
    _compare(oracle, raws, "junk")


_ARGV = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@_PROPERTY
@given(cases=st.lists(st.tuples(_ARGV, _ARGV, _DOCUMENTS.map(str.encode), _ARGV), max_size=6))
def test_generated_working_on_records_match_redis(
    oracle: Oracle, cases: list[tuple[str, str, bytes, str]]
) -> None:
    _compare_working_on(oracle, cases, "hypothesis records")
