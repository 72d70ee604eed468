"""Dialects decide what pyresque writes."""

from __future__ import annotations

import math

import pytest

from pyresque.errors import ConfigurationError, PayloadEncodeError
from pyresque.protocol.dialect import NODE, RUBY, Dialect, get_dialect, job_args


def test_node_and_ruby_queue_payloads_differ_in_fields_and_numbers() -> None:
    assert NODE.job("q", "J", [1.0, 2.5]) == b'{"class":"J","queue":"q","args":[1,2.5]}'
    assert RUBY.job("q", "J", [1.0, 2.5]) == b'{"class":"J","args":[1.0,2.5]}'


def test_delayed_items_put_queue_where_each_peer_does() -> None:
    assert NODE.delayed_job("q", "J", []) == b'{"class":"J","queue":"q","args":[]}'
    assert RUBY.delayed_job("q", "J", []) == b'{"class":"J","args":[],"queue":"q"}'


@pytest.mark.parametrize(
    ("ms", "node", "ruby"),
    [
        (1_700_000_000_499, 1_700_000_000, 1_700_000_000),
        (1_700_000_000_500, 1_700_000_001, 1_700_000_000),
        (1_700_000_000_999.9, 1_700_000_001, 1_700_000_000),
        (-1500, -1, -2),
        (-1501, -2, -2),
        (0.4999999999, 0, 0),
    ],
)
def test_delayed_seconds_round_like_math_round_or_truncate_like_to_i(
    ms: float, node: int, ruby: int
) -> None:
    assert NODE.bucket(ms) == node
    assert RUBY.bucket(ms) == ruby


def test_job_args_follows_node_resque_arrayify_with_none_as_no_args() -> None:
    assert job_args(None) == []
    assert job_args((1, 2)) == [1, 2]
    assert job_args([1]) == [1]
    assert job_args({"a": 1}) == [{"a": 1}]
    assert job_args("x") == ["x"]


def test_other_swaps_dialects_and_get_dialect_validates() -> None:
    assert NODE.other is RUBY and RUBY.other is NODE
    assert get_dialect("node") is NODE and get_dialect(RUBY) is RUBY
    with pytest.raises(ConfigurationError):
        get_dialect("perl")


def test_non_finite_numbers_refused_by_default_and_nulled_on_request() -> None:
    with pytest.raises(PayloadEncodeError):
        NODE.job("q", "J", [math.nan])
    assert Dialect("node", non_finite="null").job("q", "J", [math.inf]) == (
        b'{"class":"J","queue":"q","args":[null]}'
    )


def test_oj_adapter_writes_large_integral_floats_in_full() -> None:
    assert Dialect("ruby", json_adapter="oj").job("q", "J", [1e16]) == (
        b'{"class":"J","args":[10000000000000000.0]}'
    )
    assert RUBY.job("q", "J", [1e16]) == b'{"class":"J","args":[1.0e+16]}'


TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def test_extra_fields_follow_the_standard_ones_in_each_dialects_order() -> None:
    extra = {**TRACE, "tracestate": "congo=t61rcWkgMzE"}
    tail = (
        b'"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",'
        b'"tracestate":"congo=t61rcWkgMzE"}'
    )
    assert NODE.job("q", "J", [1.0], extra=extra) == b'{"class":"J","queue":"q","args":[1],' + tail
    assert RUBY.job("q", "J", [1.0], extra=extra) == b'{"class":"J","args":[1.0],' + tail
    assert NODE.delayed_job("q", "J", [], extra=extra) == (
        b'{"class":"J","queue":"q","args":[],' + tail
    )
    assert RUBY.delayed_job("q", "J", [], extra=extra) == (
        b'{"class":"J","args":[],"queue":"q",' + tail
    )


@pytest.mark.parametrize("dialect", [NODE, RUBY], ids=["node", "ruby"])
@pytest.mark.parametrize("extra", [None, {}], ids=["none", "empty"])
def test_no_extra_fields_leave_the_bytes_unchanged(dialect: Dialect, extra: object) -> None:
    assert dialect.job("q", "J", [1], extra=extra) == dialect.job("q", "J", [1])
    assert dialect.delayed_job("q", "J", [1], extra=extra) == dialect.delayed_job("q", "J", [1])


@pytest.mark.parametrize(
    "extra",
    [
        {"class": "Other"},
        {"args": "[]"},
        {"queue": "x"},
        {"": "v"},
        {"n": 1},
        {"n": None},
        {1: "v"},
    ],
)
def test_extra_fields_may_not_replace_standard_ones_or_hold_non_strings(extra: object) -> None:
    with pytest.raises(PayloadEncodeError):
        NODE.job("q", "J", [], extra=extra)
    with pytest.raises(PayloadEncodeError):
        RUBY.delayed_job("q", "J", [], extra=extra)
