"""The text of ``pyresque status`` and ``pyresque details`` for what a live Redis rarely
holds: whole sections that cannot be read, a ``run_at`` that is no time, and ages."""

from __future__ import annotations

import pytest

from pyresque.cli.status import _at, _span, format_status, where
from pyresque.protocol.status import Counts, DelayedStatus, Status, Unreadable, WorkerStatus


def marker(key: str) -> Unreadable:
    return Unreadable(unreadable=f"WRONGTYPE: {key} holds a string", key=key)


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0s"),
        (999, "0s"),
        (45_000, "45s"),
        (303_000, "5m 3s"),
        (300_000, "5m"),
        (7_500_000, "2h 5m"),
        (273_600_000, "3d 4h"),
        (-5_000, "0s"),
    ],
)
def test_spans_show_their_two_largest_units(ms: int, shown: str) -> None:
    assert _span(ms) == shown


def test_times_past_the_calendar_are_shown_in_ms() -> None:
    assert _at(1_796_464_800_000) == "2026-12-05T10:00:00Z"
    assert _at(10**23) == f"{10**23} ms"


def test_the_first_line_names_the_redis_without_credentials() -> None:
    assert where("redis://app:secret@cache.example:6380/2", "jobs") == (
        "cache.example:6380/2 namespace jobs"
    )
    assert where("rediss://:secret@h/0?password=x", "resque") == "h:6379/0 namespace resque"


def test_sections_that_cannot_be_read_are_one_line_each() -> None:
    text = format_status(
        Status(
            namespace="ns",
            read_at=1_800_000_000_000,
            queues=marker("ns:queues"),
            delayed=DelayedStatus(marker("ns:s"), 0, marker("ns:s"), None, 0),
            workers=marker("ns:workers"),
            failed=marker("ns:failed"),
            stats=Counts(processed=marker("ns:stat:processed")),
            other_stats={"failed:gone:1": 2},
            leader=marker("ns:resque_scheduler_leader_lock"),
        ),
        "h:6379/0 namespace ns",
    )
    assert text.splitlines() == [
        "Redis h:6379/0 namespace ns",
        "queues: unreadable (WRONGTYPE: ns:queues holds a string)",
        "delayed jobs: unreadable (WRONGTYPE: ns:s holds a string)",
        "workers: unreadable (WRONGTYPE: ns:workers holds a string)",
        "failed jobs: unreadable (WRONGTYPE: ns:failed holds a string)",
        "stats: processed unreadable (WRONGTYPE: ns:stat:processed holds a string), failed 0",
        "other stats: failed:gone:1 2",
        "leader: unreadable (WRONGTYPE: ns:resque_scheduler_leader_lock holds a string)",
    ]


def test_a_worker_line_says_what_it_cannot_read_of_its_job() -> None:
    busy = WorkerStatus(
        id="h:1:a,b",
        queues=("a", "b"),
        kind="node",
        started_at=None,
        seen_at=None,
        working_on={"queue": "a", "run_at": "later", "payload": {"args": []}},
        working_since=marker("ns:worker:h:1:a,b"),
        skipping=("a", "b"),
        stats=Counts(processed=1, failed=2),
    )
    text = format_status(
        Status(
            namespace="ns",
            read_at=0,
            queues={},
            delayed=DelayedStatus(0, 0, 0, None, 0),
            workers={"h:1": busy},
            failed=0,
            stats=Counts(),
            other_stats={},
            leader=None,
        ),
        "h:6379/0 namespace ns",
    )
    assert text.splitlines()[4:6] == [
        "workers (1):",
        "  h:1 [a,b] node: working on <a job without a class> from a since unreadable "
        "(WRONGTYPE: ns:worker:h:1:a,b holds a string); processed 1, failed 2; "
        "skips unreadable queues a, b",
    ]
