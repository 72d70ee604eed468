"""Plans are sans-IO: driven here by scripted replies, no Redis involved."""

from __future__ import annotations

from typing import Any

import pytest

from pyresque.errors import PayloadEncodeError
from pyresque.protocol.context import Context
from pyresque.protocol.plan import Batch, Call, Eval, Plan, as_pairs, as_scan, run_plan_sync
from pyresque.protocol.plans import delayed, jobs, stats


def drive(plan: Plan[Any], replies: list[Any]) -> tuple[Any, list[Any]]:
    """Run ``plan`` answering each step with the next reply; returns (result, steps)."""
    steps: list[Any] = []
    answers = iter(replies)

    def execute(step: Any) -> Any:
        steps.append(step)
        return next(answers)

    return run_plan_sync(plan, execute), steps


CTX = Context.create("ns", "node", clock=lambda: 1_800_000_000.0)


def test_enqueue_is_one_script_call_with_the_encoded_payload() -> None:
    result, steps = drive(jobs.enqueue(CTX, "q", "J", [1]), [1])
    assert result is True
    (step,) = steps
    assert isinstance(step, Eval)
    assert step.keys == ("ns:queues", "ns:queue:q")
    assert step.args == ("q", b'{"class":"J","queue":"q","args":[1]}')


def test_bad_args_fail_before_any_command_is_sent() -> None:
    plan = jobs.enqueue(CTX, "q", "J", [object()])
    with pytest.raises(PayloadEncodeError):
        next(plan)
    delayed_plan = delayed.enqueue_at(CTX, 1.9e12, "q", "J", [float("nan")])
    with pytest.raises(PayloadEncodeError):
        next(delayed_plan)


def test_plans_accept_resp3_shaped_replies() -> None:
    result, _ = drive(jobs.queues(CTX), [{b"b", b"a"}])
    assert result == ["a", "b"]
    assert as_pairs({b"f": b"v"}) == [(b"f", b"v")]
    assert as_pairs([b"f", b"v"]) == [(b"f", b"v")]
    assert as_scan([b"0", [b"k"]]) == (0, [b"k"])


def test_scan_follows_the_cursor_until_zero() -> None:
    result, steps = drive(
        stats.scan(CTX, "stat:*"), [[b"7", [b"ns:stat:a"]], [b"0", [b"ns:stat:b"]]]
    )
    assert result == [b"ns:stat:a", b"ns:stat:b"]
    assert [s.args[1] for s in steps] == [0, 7]
    assert all(isinstance(s, Call) and s.args[3] == "ns:stat:*" for s in steps)


def test_scheduled_at_reads_both_peers_timestamp_sets_in_one_round_trip() -> None:
    result, steps = drive(
        delayed.scheduled_at(CTX, "q", "J", [1]), [[[b"delayed:20", b"delayed:3"], [b"delayed:3"]]]
    )
    assert result == [3, 20]
    (batch,) = steps
    assert isinstance(batch, Batch)
    assert [c.args[1] for c in batch.steps] == [
        'ns:timestamps:{"class":"J","queue":"q","args":[1]}',
        'ns:timestamps:{"class":"J","args":[1],"queue":"q"}',
    ]


def test_enqueue_in_adds_whole_milliseconds_to_the_clock() -> None:
    _, steps = drive(delayed.enqueue_in(CTX, 1499.9, "q", "J"), [1])
    assert steps[0].keys[0] == "ns:delayed:1800000001"
