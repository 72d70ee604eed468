"""The Hypothesis strategies pyresque ships for users' property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from pyresque.protocol.dialect import NODE, RUBY
from pyresque.protocol.jsjson import loads
from pyresque.testing.strategies import class_names, job_args, queue_names


def _equal(a: Any, b: Any) -> bool:
    # -0.0 reads back as 0 (equal in Python); every other value reads back equal.
    return bool(a == b)


@settings(max_examples=200)
@given(job_args(), queue_names(), class_names())
def test_node_args_survive_an_enqueue_round_trip(args: list[Any], queue: str, cls: str) -> None:
    payload = loads(NODE.job(queue, cls, args))
    assert isinstance(payload, dict)
    assert _equal(payload["args"], args)
    assert (payload["queue"], payload["class"]) == (queue, cls)


@settings(max_examples=200)
@given(job_args(dialect="ruby"), class_names(ruby=True))
def test_ruby_args_survive_an_enqueue_round_trip(args: list[Any], cls: str) -> None:
    payload = loads(RUBY.job("q", cls, args))
    assert isinstance(payload, dict)
    assert _equal(payload["args"], args)
    assert cls[0].isupper() and ".." not in cls
