"""Trace fields in payloads (spec/tracing.md): pyresque's scheduler drops them when it
promotes a delayed item, as resque-scheduler and node-resque do."""

from __future__ import annotations

import pytest

from pyresque.protocol.context import Context
from pyresque.protocol.plans.scheduler import transfer_for

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("dialect", ["node", "ruby"])
def test_promoting_a_delayed_item_writes_the_standard_payload_without_trace_fields(
    dialect: str,
) -> None:
    ctx = Context.create("resque", dialect)
    extra = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}
    item = ctx.dialect.delayed_job("q", "J", [1], extra=extra)
    moved = transfer_for(ctx, item, ts="1700000000", worker="host:1")
    assert moved.problem is None
    assert moved.value == ctx.dialect.job("q", "J", [1])
    assert b"traceparent" in moved.raw and b"traceparent" not in moved.value
