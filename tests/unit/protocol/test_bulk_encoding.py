"""Bulk enqueue's encoder writes exactly the bytes of the single-call encoders."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.errors import PayloadEncodeError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import NODE, RUBY, Dialect
from pyresque.protocol.plans.bulk import Encoder
from pyresque.testing.strategies import class_names, job_args, queue_names

DIALECTS = [NODE, RUBY, Dialect("node", non_finite="null"), Dialect("ruby", json_adapter="oj")]


def encoder(dialect: Dialect) -> Encoder:
    return Encoder(Context.create("ns", dialect, clock=lambda: 1_800_000_000.0))


@settings(max_examples=300)
@given(
    st.sampled_from(DIALECTS),
    queue_names(),
    class_names(),
    st.lists(job_args(max_size=4), max_size=5),
    st.booleans(),
)
def test_templated_payloads_are_the_dialects_own_bytes(
    dialect: Dialect, queue: str, cls: str, args_list: list[list[Any]], delayed: bool
) -> None:
    enc = encoder(dialect)
    single = dialect.delayed_job if delayed else dialect.job
    for args in args_list:
        assert enc.payload(queue, cls, args, delayed) == single(queue, cls, args)
    if not delayed:
        assert enc.payloads(queue, cls, args_list) == [
            dialect.job(queue, cls, a) for a in args_list
        ]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: f"{d.name}-{d.non_finite}")
def test_names_with_quotes_brackets_and_surrogates_template_exactly(dialect: Dialect) -> None:
    enc = encoder(dialect)
    for queue, cls in [('q"]', '["x"]'), ("\ud800", "a\\"), ("q", '"pyresque-bulk-args-3f9c1e"')]:
        assert enc.payload(queue, cls, [1, "\udfff"], True) == dialect.delayed_job(
            queue, cls, [1, "\udfff"]
        )
        assert enc.payloads(queue, cls, [None, 5, (1,)]) == [
            dialect.job(queue, cls, a) for a in ([], [5], [1])
        ]


def test_dumps_each_names_the_first_value_it_cannot_encode() -> None:
    with pytest.raises(PayloadEncodeError) as caught:
        encoder(NODE).payloads("q", "c", [[1], [2], [math.inf], [{1, 2}]])
    assert caught.value.index == 2
    assert encoder(Dialect("node", non_finite="null")).payloads("q", "c", [[math.nan]]) == [
        b'{"class":"c","queue":"q","args":[null]}'
    ]


def test_due_times_bucket_as_each_dialect_does() -> None:
    assert encoder(NODE).due(None) is None
    assert encoder(NODE).due(1_000_000_000_500) == 1_000_000_001  # Math.round, even if past
    assert encoder(RUBY).due(1_000_000_000_500) is None  # past: enqueued at once
    assert encoder(RUBY).due(1_900_000_000_999) == 1_900_000_000  # floor
