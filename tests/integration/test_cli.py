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
