"""Worker plans without Redis: queue patterns, identities, the step's arguments."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pyresque.errors import ConfigurationError
from pyresque.protocol.context import Context, ruby_hostname
from pyresque.protocol.failures import stuck_entry
from pyresque.protocol.plan import Eval, Segment, flatten, run_plan_sync
from pyresque.protocol.plans import scheduler, work
from pyresque.protocol.plans.work import Settle
from pyresque.protocol.workers import Identity, pool_worker_name, process_owns
from pyresque.worker.events import Events

NODE = Context.create("ns", "node", clock=lambda: 1_800_000_000.0)
RUBY = Context.create("ns", "ruby", clock=lambda: 1_800_000_000.0)
KNOWN = [b"zeta", b"alpha", b"critical", b"Beta", b"10", b"9", b"mail_high", b"mail_low"]


def expand(ctx: Context, patterns: list[str]) -> list[str]:
    result: list[str] = run_plan_sync(work.expand_queues(ctx, patterns), lambda step: KNOWN)
    return result


def test_node_wildcard_is_every_queue_in_javascript_sort_order() -> None:
    assert expand(NODE, ["*"]) == [
        "10",
        "9",
        "Beta",
        "alpha",
        "critical",
        "mail_high",
        "mail_low",
        "zeta",
    ]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (
            ["critical", "*"],
            ["critical", "10", "9", "Beta", "alpha", "mail_high", "mail_low", "zeta"],
        ),
        (["*", "!zeta", "!mail_*"], ["10", "9", "Beta", "alpha", "critical"]),
        (["mail_*", "critical"], ["mail_high", "mail_low", "critical"]),
        (["missing", "alpha?"], []),  # dynamic lists only keep queues that exist
        (["[a-c]*"], ["alpha", "critical"]),
    ],
)
def test_ruby_patterns_match_like_resque_worker_queues(
    patterns: list[str], expected: list[str]
) -> None:
    assert expand(RUBY, patterns) == expected


def test_which_queue_lists_are_dynamic() -> None:
    assert work.is_dynamic(NODE, ["*"]) and not work.is_dynamic(NODE, ["a", "b"])
    assert work.is_dynamic(RUBY, ["a*"]) and work.is_dynamic(RUBY, ["a", "!b"])
    assert not work.is_dynamic(RUBY, ["a", "b"])


def test_identities_follow_each_peer() -> None:
    node = Identity.create(NODE, "host:1", ["a", "b"])
    ruby = Identity.create(RUBY, "host:1", ["a", "b"])
    assert (node.member, node.stats) == ("host:1:a,b", "host:1")
    assert (ruby.member, ruby.stats) == ("host:1:a,b", "host:1:a,b")


def test_a_step_sends_constant_segments_and_the_settle_in_order() -> None:
    who = Identity.create(NODE, "host:1", ["a", "b"])
    spec = work.work_spec(NODE, who, ["a", "b"])
    steps: list[Any] = []
    entry = b'{"worker":"host:1"}'
    run_plan_sync(
        work.work_step(
            NODE, spec, settle=Settle("done", failed=True, entry=entry), take=True, started="T"
        ),
        lambda step: steps.append(step),
    )
    (step,) = steps
    assert isinstance(step, Eval) and step.script.name == "work"
    assert any(isinstance(k, Segment) for k in step.keys)
    assert flatten(step.keys) == (
        b"ns:worker:host:1:a,b", b"ns:stat:processed", b"ns:stat:processed:host:1",
        b"ns:stat:failed", b"ns:stat:failed:host:1", b"ns:failed", b"ns:failed",
        b"ns:pause-all-workers", b"ns:queue:a", b"ns:queue:b",
    )  # fmt: skip
    assert flatten(step.args) == (
        "done", b"0", b"1", entry, b"", b"1", b"cjson", "T", b"0", b"host:1", b"a", b"b",
    )  # fmt: skip


def test_event_log_levels_can_be_changed_per_event(caplog: pytest.LogCaptureFixture) -> None:
    events = Events("worker w", log_levels={"success": "debug", "failure": None})
    caplog.set_level(logging.DEBUG, logger="pyresque.worker")
    events.emit("success", job="a")
    events.emit("failure", error="b")
    events.emit("start")
    assert [(r.levelname, r.pyresque_event) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("DEBUG", "success"),
        ("INFO", "start"),
    ]


def test_a_pools_workers_are_named_as_each_dialects_peers_parse_them() -> None:
    node = Context(NODE.keys, NODE.dialect, NODE.clock, "box")
    ruby = Context(RUBY.keys, RUBY.dialect, RUBY.clock, "box")
    assert pool_worker_name(node, None, 1234, 2) == "box:1234+2"  # node-resque's
    assert pool_worker_name(ruby, None, 1234, 2) == "box+2:1234"  # a host Ruby does not prune
    assert pool_worker_name(node, "billing", 1234, 1) == "billing:1234+1"
    for ctx in (node, ruby):
        for bad in ("billing:eu", "a,b", " box", ""):
            with pytest.raises(ConfigurationError):
                pool_worker_name(ctx, bad, 1234, 1)


def test_a_dead_process_owns_its_worker_and_its_pools_workers_in_either_dialect() -> None:
    ctx = Context(NODE.keys, NODE.dialect, NODE.clock, "box")
    for name in ("box:1234", "box:1234+1", "box:1234+12", "box+2:1234"):
        assert process_owns(ctx, None, 1234, name), name
    for name in ("box:12345", "box:123", "box:1234+", "box:1234+x", "boxer:1234", "box+:1234",
                 "other:1234", "box+1:12345", "box"):  # fmt: skip
        assert not process_owns(ctx, None, 1234, name), name
    assert process_owns(ctx, "billing", 1234, "billing+3:1234")
    assert not process_owns(ctx, "billing", 1234, "box:1234")


def test_a_forced_clean_with_a_reason_keeps_each_peers_exception_and_marker() -> None:
    record = {"queue": "q", "run_at": "x", "payload": {"class": "slow", "args": [1]}}
    why = "Child process received unhandled signal pid 7 SIGKILL (signal 9)"
    node = stuck_entry(NODE, worker_name="h:7", member="h:7:q", record=record, reason=why)
    assert (node["exception"], node["error"]) == ("Worker Timeout (killed manually)", why)
    assert node["backtrace"][1] == "queue#forceCleanWorker"
    ruby = stuck_entry(RUBY, worker_name="h:7", member="h:7:q", record=record, reason=why)
    assert (ruby["exception"], ruby["error"], ruby["worker"]) == ("Resque::DirtyExit", why, "h:7:q")
    plain = stuck_entry(RUBY, worker_name="h:7", member="h:7:q", record=record)
    assert plain["error"] == "Job still being processed"


def test_scheduler_lock_values_are_the_name_or_each_peers_host_and_pid() -> None:
    both = (NODE.keys.leader_lock(), NODE.keys.master_lock())
    assert scheduler.lock_values(NODE, both, "lead-1", 1234) == ("lead-1", "lead-1")
    leader, master = scheduler.lock_values(NODE, both, None, 1234)
    assert leader == f"{NODE.hostname}:1234"  # node-resque's os.hostname()
    assert master == f"{ruby_hostname()}:1234"  # resque-scheduler's lookup of it
