"""``pyresque enqueue``, ``status`` and ``details`` when Redis holds what no peer should have
written there: a refused enqueue changes nothing and says why in one line; every value that
cannot be read is shown marked as unreadable, naming its key, and everything else is shown."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import redis

from pyresque.cli import main
from tests.hostile import dump, expected_markers, spoil


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_failed_enqueue_changes_nothing_says_so_in_one_line_and_status_still_works(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    common = ["--redis", redis_url, "--namespace", ns]
    resque_redis.set(f"{ns}:queue:bad", "x")
    resque_redis.set(f"{ns}:delayed_queue_schedule", "x")
    before = dump(resque_redis, ns)
    attempts = [
        (["bad", "SomeJob", "[1]"], f"{ns}:queue:bad holds a string, not a list (enqueue"),
        (["bad", "SomeJob", "[1]", "--dialect", "ruby"], f"{ns}:queue:bad holds a string"),
        (["ok", "SomeJob", "[1]", "--in", "1000"], f"{ns}:delayed_queue_schedule holds a"),
    ]
    for args, message in attempts:
        code, out, err = run(capsys, "enqueue", *args, *common)
        assert (code, out) == (1, "")
        assert err.startswith("pyresque: WRONGTYPE ") and message in err
        assert err.count("\n") == 1, err
    assert dump(resque_redis, ns) == before

    # A Ruby peer's enqueue adds the queue before its push fails: status reads the rest.
    resque_redis.sadd(f"{ns}:queues", "bad")
    code, out, err = run(capsys, "status", *common)
    assert (code, err) == (0, "")
    assert (
        f"  bad                      unreadable (WRONGTYPE: {ns}:queue:bad holds a string, "
        "not a list)\n" in out
    )
    assert "delayed jobs: unreadable (WRONGTYPE: " in out
    code, out, err = run(capsys, "status", "--json", *common)
    assert (code, err) == (0, "")
    assert json.loads(out)["queues"] == {"bad": {"length": expected_markers(ns)["bad"]}}


def test_status_marks_each_unreadable_value_and_shows_all_the_others(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    spoil(resque_redis, ns)
    common = ["--redis", redis_url, "--namespace", ns]
    marks = expected_markers(ns)

    code, out, err = run(capsys, "status", "--json", *common)
    assert (code, err) == (0, "")
    status = json.loads(out)
    assert status["queues"] == {
        "bad": {"length": marks["bad"]},
        "math": {"length": 1},
        "skipme": {"length": marks["skipme"]},
    }
    assert status["workers"] == expected_workers(ns)
    assert status["stats"] == {"failed": 2, "processed": marks["processed"]}
    assert (status["failed"], status["leader"], status["other_stats"]) == (1, None, {})
    assert status["delayed"] == {
        "jobs": 0,
        "timestamps": 0,
        "due": 0,
        "earliest_at": None,
        "overdue_ms": 0,
    }

    code, out, err = run(capsys, "status", *common)
    assert (code, err) == (0, "")
    assert aged(out.splitlines()[1:]) == expected_text(ns)


def test_status_prints_names_that_are_not_utf8_with_their_bytes_escaped(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    resque_redis.sadd(f"{ns}:queues", b"caf\xe9")
    resque_redis.rpush(f"{ns}:queue:".encode() + b"caf\xe9", b'{"class":"J","args":[]}')
    common = ["--redis", redis_url, "--namespace", ns]
    code, out, err = run(capsys, "status", *common)
    assert (code, err) == (0, "")
    assert "  caf\\xe9                  1\n" in out
    code, out, err = run(capsys, "status", "--json", *common)
    assert (code, err) == (0, "")
    assert json.loads(out)["queues"] == {"caf\udce9": {"length": 1}}  # JSON's escape of that byte


def test_details_marks_each_unreadable_value_in_text_and_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    for name in list(os.environ):
        if name.startswith("PYRESQUE_"):
            monkeypatch.delenv(name)
    ns = resque_namespace
    spoil(resque_redis, ns)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "pyresque.toml").write_text(f'redis = "{redis_url}"\nnamespace = "{ns}"\n')

    code, out, err = run(capsys, "details", "--app", str(tmp_path), "--json")
    assert (code, err) == (0, "")
    found = json.loads(out)
    code, out, err = run(capsys, "status", "--json", "--redis", redis_url, "--namespace", ns)
    assert (code, err) == (0, "")
    status = json.loads(out)
    assert found["read_at"] >= status["read_at"] - 60_000
    found["read_at"] = status["read_at"]
    assert found == status  # one shape
    assert found["workers"] == expected_workers(ns)

    code, out, err = run(capsys, "details", "--app", str(tmp_path), "--max-queue-length", "0")
    assert code == 1  # math holds 1 job, over 0; the unreadable queues are no lengths
    assert err == "pyresque: queue 'math' holds 1 jobs, over 0\n"
    assert out.splitlines()[0].endswith(f" namespace {ns}")
    assert aged(out.splitlines()[1:]) == expected_text(ns)


def aged(lines: list[str]) -> list[str]:
    """``lines`` with the ages they show (measured from now) as ``<age>``."""
    return [re.sub(r"\(\d+[dhms](?: \d+[dhms])?\)", "(<age>)", line) for line in lines]


def expected_workers(ns: str) -> dict[str, object]:
    """The workers of :func:`spoil`'s namespace in the JSON document."""
    marks = expected_markers(ns)
    idle = {
        "kind": None,
        "started_at": None,
        "seen_at": None,
        "working_since": None,
        "runtime": None,
    }
    zero = {"processed": 0, "failed": 0}
    return {
        "vm:1": {
            **idle,
            "id": "vm:1:math,bad",
            "queues": ["math", "bad"],
            "working_on": marks["vm:1"],
            "skipping": ["bad"],
            "stats": zero,
        },
        "vm:2": {
            **idle,
            "id": "vm:2:math",
            "queues": ["math"],
            "working_on": {
                "queue": "math",
                "run_at": "2026-12-05T10:00:00Z",
                "payload": marks["vm:2 job"],
            },
            "working_since": 1796464800000,
            "skipping": [],
            "stats": zero,
        },
        "vm:3": {
            **idle,
            "id": "vm:3:other,skipme",
            "queues": ["other", "skipme"],
            "working_on": None,
            "skipping": ["skipme"],
            "stats": zero,
        },
        "vm:4": {
            **idle,
            "id": "vm:4:math",
            "queues": ["math"],
            "working_on": marks["vm:4"],
            "skipping": [],
            "stats": zero,
        },
    }


def expected_text(ns: str) -> list[str]:
    """The text of ``status`` and ``details`` for :func:`spoil`'s namespace, from its
    second line."""
    marks = expected_markers(ns)
    zero = "processed 0, failed 0"
    return [
        "queues (3):",
        f"  bad                      unreadable ({marks['bad']['unreadable']})",
        "  math                     1",
        f"  skipme                   unreadable ({marks['skipme']['unreadable']})",
        "delayed jobs: 0 at 0 timestamps, 0 due",
        "workers (4):",
        f"  vm:1 [math,bad]: working on <unreadable record> ({marks['vm:1']['unreadable']}); "
        f"{zero}; skips unreadable queue bad",
        f"  vm:2 [math]: working on <unreadable job> from math ({marks['vm:2 job']['unreadable']})"
        f" since 2026-12-05T10:00:00Z (<age>); {zero}",
        f"  vm:3 [other,skipme]: idle; {zero}; skips unreadable queue skipme",
        f"  vm:4 [math]: working on <unreadable record> ({marks['vm:4']['unreadable']}); {zero}",
        "failed jobs: 1",
        f"stats: processed unreadable ({marks['processed']['unreadable']}), failed 2",
        "leader: (none)",
    ]
