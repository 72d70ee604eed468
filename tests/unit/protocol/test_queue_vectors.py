"""The protocol layer computes exactly the keys and values the real peers wrote.

spec/vectors/queue-node.json and queue-ruby.json hold, for each recorded call, every key
node-resque 9.7.1 or resque 2.7.0 + resque-scheduler 4.11.0 left in an empty Redis.
Here the same writes are derived from pyresque.protocol alone, without Redis.
"""

from __future__ import annotations

from typing import Any

import pytest

from pyresque.protocol.dialect import NODE, RUBY, Dialect, job_args
from pyresque.protocol.keys import KeySpace
from tests.vectors import cases, load


def expected_writes(
    keys: KeySpace, dialect: Dialect, op: str, at_ms: float | None, queue: str, cls: str, args: Any
) -> dict[str, Any]:
    if op == "enqueue":
        return {
            keys.queue(queue): {
                "type": "list",
                "value": [dialect.job(queue, cls, job_args(args)).decode()],
            },
            keys.queues(): {"type": "set", "value": [queue]},
        }
    assert at_ms is not None
    ts = dialect.bucket(at_ms)
    item = dialect.delayed_job(queue, cls, job_args(args))
    return {
        keys.delayed(ts): {"type": "list", "value": [item.decode()]},
        keys.schedule(): {"type": "zset", "value": [[str(ts), float(ts)]]},
        keys.timestamps(item): {"type": "set", "value": [keys.delayed_member(ts)]},
    }


@pytest.mark.parametrize("case", cases("queue-node.json"), ids=lambda c: c["call"]["method"])
def test_node_dialect_derives_the_writes_node_resque_recorded(case: dict[str, Any]) -> None:
    keys = KeySpace(load("queue-node.json")["namespace"])
    call = case["call"]
    if call["method"] == "enqueue":
        queue, cls, args = call["args"]
        expected = expected_writes(keys, NODE, "enqueue", None, queue, cls, args)
    else:
        at_ms, queue, cls, args = call["args"]
        expected = expected_writes(keys, NODE, "enqueue_at", at_ms, queue, cls, args)
    assert expected == case["writes"]


@pytest.mark.parametrize("case", cases("queue-ruby.json"), ids=lambda c: c["call"]["op"])
def test_ruby_dialect_derives_the_writes_ruby_resque_recorded(case: dict[str, Any]) -> None:
    keys = KeySpace(load("queue-ruby.json")["namespace"])
    call = case["call"]
    at_ms = call["at"] * 1000 if "at" in call else None
    op = "enqueue" if call["op"] == "enqueue" else "enqueue_at"
    expected = expected_writes(keys, RUBY, op, at_ms, call["queue"], call["class"], call["args"])
    assert expected == case["writes"]
