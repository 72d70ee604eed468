"""The decisions a worker makes after a lost reply, driven by scripted replies (no Redis)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pyresque.protocol.context import Context
from pyresque.protocol.keys import to_bytes
from pyresque.protocol.plan import Eval, run_plan_sync
from pyresque.protocol.plans.work import Settle, Taken
from pyresque.protocol.recovery import (
    UNREADABLE,
    WorkerState,
    adopt,
    step_ran,
    stopped_entry,
    worker_state,
)
from pyresque.protocol.workers import Identity

NODE = Context.create("ns", "node", clock=lambda: 1_800_000_000.0)
RUBY = Context.create("ns", "ruby", clock=lambda: 1_800_000_000.0)
WHO = Identity.create(NODE, "host:1", ["q"])
RUBY_WHO = Identity.create(RUBY, "host:1", ["q"])


def read(ctx: Context, who: Identity, reply: list[Any]) -> tuple[WorkerState, Eval]:
    steps: list[Any] = []

    def execute(step: Any) -> Any:
        steps.append(step)
        return reply

    state = run_plan_sync(worker_state(ctx, who), execute)
    (step,) = steps
    return state, step


def test_worker_state_reads_the_record_and_both_counts_in_one_script() -> None:
    state, step = read(NODE, WHO, [b"{}", 1, 7, 2])
    assert state == WorkerState(b"{}", 7, 2)
    assert step.script.name == "worker_state"
    assert step.keys == ("ns:worker:host:1:q", "ns:stat:processed:host:1", "ns:stat:failed:host:1")
    ruby_state, ruby_step = read(RUBY, RUBY_WHO, [b"", 0, UNREADABLE, 0])
    assert ruby_state == WorkerState(None, UNREADABLE, 0)
    assert ruby_step.keys[1] == "ns:stat:processed:host:1:q"  # Ruby counts per full id


SUCCESS = Settle("done", processed=True)
FAILURE = Settle("done", failed=True, entry=b"{}")
REQUEUE = Settle("requeue", queue="q", payload=b"{}")
KNOWN = WorkerState(None, 10, 3)


@pytest.mark.parametrize(
    ("settle", "state", "ran"),
    [
        (SUCCESS, WorkerState(None, 11, 3), True),  # the counter moved
        (SUCCESS, WorkerState(b"job", 11, 3), True),  # ... and took the next job
        (SUCCESS, WorkerState(b"old", 10, 3), False),  # nothing moved: send it again
        (FAILURE, WorkerState(None, 10, 4), True),
        (FAILURE, WorkerState(b"old", 10, 3), False),
        (None, WorkerState(b"job", 10, 3), True),  # a take: the record tells
        (None, WorkerState(None, 10, 3), False),
        (REQUEUE, WorkerState(None, 10, 3), True),  # uncounted: the record went
        (REQUEUE, WorkerState(b"old", 10, 3), False),
        (SUCCESS, WorkerState(None, UNREADABLE, 3), True),  # counter unreadable: record
        (SUCCESS, WorkerState(b"x", UNREADABLE, 3), True),  # can't tell: run what is there
    ],
)
def test_step_ran_from_the_counters_else_the_record(
    settle: Settle | None, state: WorkerState, ran: bool
) -> None:
    assert step_ran(settle, state, KNOWN) is ran


def test_a_ruby_record_runs_the_job_as_ruby_wrote_it() -> None:
    record = b'{"queue":"q","run_at":"x","payload":{"class":"J","args":[1.5,[]]}}'
    adopted = adopt(RUBY, RUBY_WHO, record)
    assert adopted == Taken("q", b'{"class":"J","args":[1.5,[]]}', True)


def test_a_lossless_node_record_runs_the_job_in_node_key_order() -> None:
    record = b'{"worker":"host:1","payload":{"args":{},"queue":"q","class":"J"},"queue":"q"}'
    adopted = adopt(NODE, WHO, record)
    assert adopted == Taken("q", b'{"class":"J","queue":"q","args":[]}', True)


@pytest.mark.parametrize(
    "payload",
    ['{"class":"J","args":[0.1]}', '{"class":"J","args":[[]]}', '{"class":"J","args":[{}]}'],
)
def test_a_node_record_cjson_may_have_changed_is_failed_untouched(payload: str) -> None:
    record = ('{"queue":"q","payload":' + payload + ',"worker":"host:1"}').encode()
    adopted = adopt(NODE, WHO, record)
    assert isinstance(adopted, Settle) and adopted.failed and not adopted.processed
    entry = json.loads(adopted.entry)
    assert entry["payload"] == json.loads(payload)
    assert entry["exception"] == "ConnectionFailedError" and "not run" in entry["error"]


def test_an_undecodable_record_is_failed_with_its_bytes_kept() -> None:
    record = b'{"queue":"q","payload":"\xff not json'
    adopted = adopt(RUBY, RUBY_WHO, record)
    assert isinstance(adopted, Settle)
    entry = json.loads(adopted.entry)
    assert to_bytes(entry["payload"]) == record


def test_a_ruby_record_no_dialect_can_write_again_is_failed_not_run() -> None:
    record = b'{"queue":"q","run_at":"x","payload":{"class":"J","args":[1e400]}}'
    adopted = adopt(RUBY, RUBY_WHO, record)
    assert isinstance(adopted, Settle)
    assert to_bytes(json.loads(adopted.entry)["payload"]) == record


def test_stopped_entries_are_what_each_peers_retry_of_stuck_jobs_finds() -> None:
    node = stopped_entry(NODE, WHO, "q", {"class": "J", "args": []})
    assert node["backtrace"][1] == "queue#forceCleanWorker" and node["worker"] == "host:1"
    ruby = stopped_entry(RUBY, RUBY_WHO, "q", {"class": "J", "args": []})
    assert ruby["exception"] == "Resque::DirtyExit" and ruby["worker"] == "host:1:q"
