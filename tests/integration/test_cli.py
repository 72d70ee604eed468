"""The pyresque command line: enqueue, status, demo."""

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
    assert code == 0 and "delayed by 60000 ms" in out
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
    assert code == 1
    assert "ARGS_JSON is not valid JSON" in err
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


def test_demo_uses_the_given_redis_and_shows_both_peers_views(
    capsys: pytest.CaptureFixture[str], redis_url: str, resque_redis: redis.Redis
) -> None:
    try:
        code, out, _ = run(capsys, "demo", "--redis", redis_url)
        assert code == 0
        assert "As node-resque's Queue reports it" in out
        assert "As Ruby resque and resque-scheduler report it" in out
        assert "Resque.info          pending=4" in out
        assert_demo_worked_its_jobs(out)
        assert resque_redis.llen("pyresque-demo:queue:math") == 0
        assert resque_redis.zcard("pyresque-demo:delayed_queue_schedule") == 3
        assert resque_redis.smembers("pyresque-demo:workers") == set()
        assert_demo_ran_the_example_app(out)
        app = "pyresque-demo-app"
        assert resque_redis.llen(f"{app}:failed") == 1
        assert resque_redis.smembers(f"{app}:workers") == set()  # stopped and unregistered
        assert resque_redis.get(f"{app}:resque_scheduler_leader_lock") is None  # released
    finally:
        for pattern in ("pyresque-demo:*", "pyresque-demo-app:*"):
            for key in resque_redis.scan_iter(match=pattern):
                resque_redis.delete(key)


def test_demo_starts_a_private_redis_when_none_is_configured_or_running(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyresque.demo

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(pyresque.demo, "redis_answers", lambda *a, **k: False)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "started a private redis-server" in out
    assert_demo_worked_its_jobs(out)
    assert_demo_ran_the_example_app(out)
    assert out.rstrip().endswith("stopped the private redis-server")


def test_demo_without_the_example_app_shows_the_protocol_part_and_says_why(
    capsys: pytest.CaptureFixture[str], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyresque.demo

    monkeypatch.setattr(pyresque.demo, "example_app", lambda: None)  # an installed wheel
    code, out, _ = run(capsys, "demo", "--redis", redis_url)
    assert code == 0
    assert_demo_worked_its_jobs(out)
    assert "Part 2" in out and "needs a source checkout" in out
    assert "Running (" not in out


def test_the_demo_finds_the_example_app_of_the_source_checkout() -> None:
    import pyresque.demo

    found = pyresque.demo.example_app()
    assert found is not None and (found / "pyresque.toml").is_file()


def assert_demo_worked_its_jobs(out: str) -> None:
    """Each job due now ran once (its own line, then the worker's success line), in the
    dialect's worker; afterwards the queues are empty and the delayed jobs still wait."""
    _, _, worked = out.partition("Working the jobs due now")
    assert worked, out
    finished = [line.split() for line in worked.splitlines() if line.startswith("  finished")]
    assert sorted((f[1], f[2], f[-2]) for f in finished) == [
        ("email", "SendWelcome", "(node"),
        ("math", "add", "(node"),
        ("math", "add", "(node"),
        ("reports", "Reports::Daily", "(ruby"),
    ]
    assert "    add: 1 + 2 = 3\n" in worked and "-> 7.5" in worked
    assert "Reports::Daily: would build the report for 2026-11-28" in worked
    _, _, after = worked.partition("After the workers:")
    assert "queue.length('math')     0" in after
    assert 'queue.stats()        {"processed": "4"}' in after
    assert "Resque.info          pending=0, processed=4, queues=3, workers=0" in after
    assert "delayed jobs         3 still waiting" in after


# A progress line, "   0.1s  tick 2    heartbeat      periodic  -> ...": label, task.
_PROGRESS = re.compile(r"\s+[\d.]+s  (tick \d+|\S+)\s+(\S*)")


def assert_demo_ran_the_example_app(out: str) -> None:
    """Part 2 booted the example app: the inputs it refused, every task run (the periodic
    one at least 3 times, the delayed one after the scheduler moved it), the failure
    recorded, then a summary with what is still delayed."""
    _, _, part = out.partition("Part 2: an Actionhero-style app")
    assert part, out
    assert 'refused   signup         {"email": "not-an-email"}: not-an-email is not an' in part
    _, _, running = part.partition("Running (")
    matches = (_PROGRESS.match(line) for line in running.splitlines())
    runs = [(found[1].split()[0], found[2]) for found in matches if found]
    assert runs.count(("ran", "signup")) == 2
    assert ("ran", "send_reminder") in runs
    assert ("due", "send_reminder") in runs  # the scheduler moved it when it was due
    assert ("FAILED", "import_feed") in runs
    assert ("ran", "minute_report") in runs  # cron: the leader's tick for the current minute
    ticks = [task for label, task in runs if label == "tick"]
    assert ticks.count("heartbeat") >= 3, running
    assert "vetoed" not in [label for label, _ in runs]
    _, _, summary = running.partition("After ")
    assert "(stopped after" not in summary  # it saw everything before its time was up
    assert (
        "failed list  import_feed on default: FeedUnreachableError: "
        "https://feeds.example.invalid/partners.xml did not answer"
    ) in summary
    assert '"failed": "1"' in summary
    # Its next run waits in the schedule, or had just been moved to its queue at the stop.
    assert "still delayed  heartbeat on periodic" in summary or "periodic 1" in summary
