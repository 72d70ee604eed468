"""The pyresque command line: enqueue, status (the demo: test_demo.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import redis

from pyresque.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_enqueue_now_later_and_in_the_ruby_dialect(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    common = ["--redis", redis_url, "--namespace", resque_namespace]
    assert run(capsys, "enqueue", "math", "add", "[1, 2]", *common)[0] == 0
    assert run(capsys, "enqueue", "math", "add", "[3]", "--at", "1900000000500", *common)[0] == 0
    code, out, _ = run(
        capsys, "enqueue", "math", "Add", '["x"]', "--in", "60000", "--dialect", "ruby", *common
    )
    assert code == 0 and re.search(r"Add delayed until \S+Z \(in 1m0s\) on queue 'math'", out)
    assert resque_redis.lrange(f"{resque_namespace}:queue:math", 0, -1) == [
        b'{"class":"add","queue":"math","args":[1,2]}'
    ]
    assert resque_redis.zcard(f"{resque_namespace}:delayed_queue_schedule") == 2


@pytest.mark.parametrize("bad", ["[1, 2", "[NaN]", "{'a': 1}"])
def test_enqueue_rejects_invalid_json_args_without_writing(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    bad: str,
) -> None:
    code, _, err = run(
        capsys, "enqueue", "q", "J", bad, "--redis", redis_url, "--namespace", resque_namespace
    )
    assert code == 2
    assert err == f"pyresque: ARGS_JSON {bad!r} is not valid JSON: {err.split('JSON: ', 1)[1]}"
    assert err.count("not valid JSON") == 1
    assert list(resque_redis.scan_iter(match=f"{resque_namespace}:*")) == []


def test_enqueue_at_and_in_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["enqueue", "q", "J", "--at", "1", "--in", "1"])
    assert exit_info.value.code == 2


def test_status_reports_queues_delayed_workers_failed_and_leader(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    common = ["--redis", redis_url, "--namespace", ns]
    run(capsys, "enqueue", "math", "add", "[1]", *common)
    run(capsys, "enqueue", "math", "add", "[1]", "--at", "1900000000000", *common)
    resque_redis.sadd(f"{ns}:workers", "vm:1:math")
    resque_redis.rpush(
        f"{ns}:failed", b'{"worker":"vm:1","queue":"math","payload":{"class":"a","args":[]}}'
    )
    resque_redis.set(f"{ns}:resque_scheduler_leader_lock", "sched-1")

    resque_redis.set(f"{ns}:stat:processed", "7")
    resque_redis.set(f"{ns}:stat:failed", "1")

    code, out, _ = run(capsys, "status", *common, "--json")
    assert code == 0
    status = json.loads(out)
    assert status["queues"] == {"math": {"length": 1}}
    assert status["delayed"] == {
        "jobs": 1,
        "timestamps": 1,
        "due": 0,
        "earliest_at": 1900000000000,
        "overdue_ms": 0,
    }
    assert status["workers"] == {
        "vm:1": {
            "id": "vm:1:math",
            "queues": ["math"],
            "kind": None,
            "started_at": None,
            "seen_at": None,
            "working_on": None,
            "working_since": None,
            "skipping": [],
            "stats": {"processed": 0, "failed": 0},
            "runtime": None,
        }
    }
    assert status["failed"] == 1
    assert status["stats"] == {"processed": 7, "failed": 1}
    assert status["leader"] == "sched-1"

    code, out, _ = run(capsys, "status", *common)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Redis ") and lines[0].endswith(f"/0 namespace {ns}")
    assert lines[1:] == [
        "queues (1):",
        "  math                     1",
        "delayed jobs: 1 at 1 timestamps, 0 due; the earliest due 2030-03-17T17:46:40Z",
        "workers (1):",
        "  vm:1 [math]: idle; processed 0, failed 0",
        "failed jobs: 1",
        "stats: processed 7, failed 1",
        "leader: sched-1",
    ]


def test_status_against_an_unreachable_redis_exits_1_with_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "status", "--redis", "redis://127.0.0.1:1/0")
    assert code == 1
    assert "cannot connect to Redis at 127.0.0.1:1/0" in err


def test_module_entry_point_runs_the_cli(redis_url: str, resque_namespace: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyresque",
            "status",
            "--redis",
            redis_url,
            "--namespace",
            resque_namespace,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "queues (0)" in done.stdout


def test_enqueue_at_refuses_epoch_seconds_naming_the_date_and_the_value_meant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["enqueue", "q", "J", "--at", "1765000000"])
    err = capsys.readouterr().err
    assert "1765000000 is 1970-01-21T10:16:40.000Z in milliseconds; did you mean seconds?" in err
    assert "use --at 1765000000000 (2025-12-06T05:46:40.000Z)" in err


@pytest.mark.parametrize("command", [["enqueue", "q", "J"], ["task", "enqueue", "t"]])
def test_a_negative_delay_is_refused_and_zero_is_not(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit, match="2"):
        main([*command, "--in", "-5"])
    assert "argument --in: -5 is negative: a delay is 0 or more ms" in capsys.readouterr().err
    from pyresque.cli.parser import build_parser

    assert build_parser().parse_args([*command, "--in", "0"]).delay == 0


def test_enqueue_at_an_iso_time_says_when_in_utc_and_from_now(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    common = ["--redis", redis_url, "--namespace", resque_namespace]
    code, out, _ = run(
        capsys, "enqueue", "q", "Hello", "--at", "2099-12-06T10:00:00+01:00", *common
    )
    assert code == 0
    assert re.fullmatch(
        r"Hello delayed until 2099-12-06T09:00:00\.000Z \(in \d+d\d+h\) on queue 'q'\n", out
    )
    assert resque_redis.zrange(f"{resque_namespace}:delayed_queue_schedule", 0, -1) == [
        b"4100230800"
    ]


def test_enqueue_says_args_that_are_no_array_are_sent_as_one_argument(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    common = ["--redis", redis_url, "--namespace", resque_namespace]
    code, _, err = run(capsys, "enqueue", "q", "J", '{"a": 1}', *common)
    assert code == 0
    assert err == 'pyresque: note: ARGS_JSON is not a JSON array; the job gets [{"a": 1}]\n'
    assert resque_redis.lrange(f"{resque_namespace}:queue:q", 0, -1) == [
        b'{"class":"J","queue":"q","args":[{"a":1}]}'
    ]


def test_relative_times_show_their_two_largest_units() -> None:
    from pyresque.cli.when import relative, when

    assert [relative(ms) for ms in (450, 200_000, 7_500_000, 90_061_000)] == [
        "450ms", "3m20s", "2h5m", "1d1h"
    ]  # fmt: skip
    assert when(1_796_551_200_000, 1_796_551_000_000) == "until 2026-12-06T10:00:00.000Z (in 3m20s)"
    assert when(0, 12_000).endswith("(12s ago)")
