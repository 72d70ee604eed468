"""The status plan, driven by scripted replies (no Redis), and the model's JSON document."""

from __future__ import annotations

import json
from typing import Any

from pyresque.protocol.context import Context
from pyresque.protocol.plan import Batch, Call
from pyresque.protocol.plans.overview import status
from pyresque.protocol.status import (
    Counts,
    DelayedStatus,
    QueueStatus,
    Status,
    Unreadable,
    WorkerStatus,
    is_unreadable,
)
from tests.unit.protocol.test_plans import drive

CTX = Context.create("ns", "ruby", clock=lambda: 1_800_000_000.0)
NOTHING_DELAYED = DelayedStatus(jobs=0, timestamps=0, due=0, earliest_at=None, overdue_ms=0)


def test_an_empty_namespace_is_two_round_trips_and_all_zeros() -> None:
    found, steps = drive(status(CTX), [[set(), set(), 0, [], 0, None, None], [b"0", []]])
    assert found == Status(
        namespace="ns",
        read_at=1_800_000_000_000,
        queues={},
        delayed=NOTHING_DELAYED,
        workers={},
        failed=0,
        stats=Counts(processed=0, failed=0),
        other_stats={},
        leader=None,
    )
    first, scan = steps
    assert isinstance(first, Batch)
    # The ruby dialect reads resque-scheduler's lock first, then node-resque's.
    assert first.steps[5:] == (
        Call("GET", "ns:ns:resque_scheduler_master_lock"),
        Call("GET", "ns:resque_scheduler_leader_lock"),
    )
    assert scan == Call("SCAN", 0, "MATCH", "ns:stat:*", "COUNT", 1000)


def test_a_worker_is_read_in_one_batch_with_the_heartbeats_in_one_command() -> None:
    replies: list[Any] = [
        [{b"q"}, {b"h:1:q"}, 0, [], 0, None, b"h:9"],
        7,  # LLEN q (one command: no batch)
        [b"0", [b"ns:stat:processed:h:1:q", b"ns:stat:processed"]],
        [b"12", b"4"],  # the stats in key order: processed, processed:h:1:q
        [
            None,
            None,
            b"2026-12-05 09:00:00 +0000",
            None,
            {b"h:1:q": b"2026-12-05T10:04:10+00:00"},
        ],  # fmt: skip
    ]
    found, steps = drive(status(CTX), replies)
    assert steps[-1] == Batch.of(
        [
            Call("GET", "ns:worker:h:1:q"),
            Call("GET", "ns:worker:ping:h:1"),
            Call("GET", "ns:worker:h:1:q:started"),
            Call("GET", "ns:worker:h:1:q:runtime"),
            Call("HGETALL", "ns:workers:heartbeat"),
        ]
    )
    assert found.queues == {"q": QueueStatus(7)}
    assert found.workers == {
        "h:1": WorkerStatus(
            id="h:1:q",
            queues=("q",),
            kind="ruby",
            started_at=1_796_461_200_000,
            seen_at=1_796_465_050_000,
            working_on=None,
            working_since=None,
            skipping=(),
            stats=Counts(processed=4, failed=0),
        )
    }
    assert (found.stats, found.other_stats, found.leader) == (Counts(12, 0), {}, "h:9")


def test_the_document_is_plain_json_with_the_attribute_names_as_keys() -> None:
    marker = Unreadable(unreadable="WRONGTYPE: ns:workers holds a string", key="ns:workers")
    found = Status(
        namespace="ns",
        read_at=1,
        queues={"q": QueueStatus(0)},
        delayed=NOTHING_DELAYED,
        workers=marker,
        failed=0,
        stats=Counts(),
        other_stats={},
        leader=None,
    )
    document = found.as_dict()
    assert json.loads(json.dumps(document)) == document
    assert list(document) == [
        "namespace",
        "read_at",
        "queues",
        "delayed",
        "workers",
        "failed",
        "stats",
        "other_stats",
        "leader",
    ]
    assert document["queues"] == {"q": {"length": 0}}
    assert document["workers"] == marker and document["workers"] is not marker
    assert document["stats"] == {"processed": 0, "failed": 0}


def test_a_ping_or_heartbeat_that_is_no_time_is_marked() -> None:
    replies: list[Any] = [
        [set(), {b"n:1:q", b"r:2:q"}, 0, [], 0, None, None],
        0,  # LLEN q (both workers name it)
        [b"0", []],
        [
            None,
            b'{"time":1e400}',
            None,
            None,
            None,
            None,
            None,
            b"pyresque/0.1.0",
            {b"r:2:q": b"soon"},
        ],  # fmt: skip
    ]
    found, _ = drive(status(CTX), replies)
    assert not is_unreadable(found.workers)
    node, ruby = found.workers["n:1"], found.workers["r:2"]
    assert (node.kind, ruby.kind) == ("node", "ruby")
    assert (node.runtime, ruby.runtime) == (None, "pyresque/0.1.0")  # a pyresque worker
    assert node.seen_at == Unreadable(
        unreadable="""ns:worker:ping:n:1 holds '{"time":1e400}', not a ping""",
        key="ns:worker:ping:n:1",
        raw='{"time":1e400}',
    )
    assert ruby.seen_at == Unreadable(
        unreadable="ns:workers:heartbeat[r:2:q] holds 'soon', not a time",
        key="ns:workers:heartbeat",
        raw="soon",
    )
