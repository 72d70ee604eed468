"""``pyresque failed``, ``pyresque delayed`` and ``pyresque workers``: the repair commands
on the fleet layer, against both peers' bytes."""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyresque.cli import main
from pyresque.testing import wait_until
from tests.keys import key
from tests.processes import LoggedProcess

NODE_ENTRY = {
    "worker": "box:1",
    "queue": "mail",
    "payload": {"class": "Welcome", "queue": "mail", "args": [1]},
    "exception": "Error",
    "error": "boom\non two lines",
    "backtrace": ["at welcome.js:3"],
    "failed_at": "Tue Dec 01 2026 10:00:00 GMT+0000",
}
RUBY_ENTRY = {
    "failed_at": "2026/12/01 10:00:00 UTC",
    "payload": {"class": "Charge", "args": [2]},
    "exception": "Resque::DirtyExit",
    "error": "Job still being processed",
    "backtrace": [],
    "worker": "rb:2:mail",
    "queue": "billing",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def common(redis_url: str, resque_namespace: str) -> list[str]:
    return ["--redis", redis_url, "--namespace", resque_namespace]


@pytest.fixture
def failed(resque_redis: redis.Redis, resque_namespace: str) -> list[bytes]:
    """A node-resque entry, a Ruby entry and one that is no JSON, in that order."""
    raws = [json.dumps(NODE_ENTRY).encode(), json.dumps(RUBY_ENTRY).encode(), b"garbage"]
    resque_redis.rpush(key(resque_namespace, "failed"), *raws)
    return raws


def test_failed_list_prints_one_line_per_entry_and_a_footer(
    capsys: pytest.CaptureFixture[str], common: list[str], failed: list[bytes]
) -> None:
    code, out, _ = run(capsys, "failed", "list", *common)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == (
        "0  mail  Welcome  Error: boom on two lines  Tue Dec 01 2026 10:00:00 GMT+0000  box:1"
    )
    assert lines[1] == (
        "1  billing  Charge  Resque::DirtyExit: Job still being processed  "
        "2026/12/01 10:00:00 UTC  rb:2:mail"
    )
    assert lines[2].startswith("2  unreadable (the failed entry at index 2")
    assert lines[3] == "3 of 3 shown"


def test_failed_list_filters_and_pages_and_says_how_many_matched(
    capsys: pytest.CaptureFixture[str], common: list[str], failed: list[bytes]
) -> None:
    code, out, _ = run(capsys, "failed", "list", "--exception", "Resque::DirtyExit", *common)
    assert code == 0
    assert out.splitlines() == [
        "1  billing  Charge  Resque::DirtyExit: Job still being processed  "
        "2026/12/01 10:00:00 UTC  rb:2:mail",
        "1 of 1 shown; 3 entries in the list",
    ]
    _, out, _ = run(capsys, "failed", "list", "--offset", "1", "--limit", "1", *common)
    assert out.splitlines()[-1] == "1 of 3 shown (from 1)"
    assert out.startswith("1  billing  Charge")


def test_failed_list_json_has_the_entries_and_the_page(
    capsys: pytest.CaptureFixture[str], common: list[str], failed: list[bytes]
) -> None:
    code, out, _ = run(capsys, "failed", "list", "--class", "Welcome", "--json", *common)
    document = json.loads(out)
    assert code == 0
    assert {k: document[k] for k in ("offset", "limit", "total", "matched")} == {
        "offset": 0,
        "limit": 20,
        "total": 3,
        "matched": 1,
    }
    (entry,) = document["entries"]
    assert entry["index"] == 0 and entry["peer"] == "node" and entry["args"] == [1]
    assert entry["entry"] == NODE_ENTRY


def test_failed_retry_by_index_enqueues_as_the_entrys_peer_and_removes_it(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    code, out, _ = run(capsys, "failed", "retry", "0", "1", *common)
    assert (code, out) == (0, "retried 2 failed jobs\n")
    assert resque_redis.lrange(key(ns, "queue", "mail"), 0, -1) == [
        b'{"class":"Welcome","queue":"mail","args":[1]}'
    ]
    assert resque_redis.lrange(key(ns, "queue", "billing"), 0, -1) == [
        b'{"class":"Charge","args":[2]}'
    ]
    assert resque_redis.lrange(key(ns, "failed"), 0, -1) == [b"garbage"]


def test_failed_retry_keep_stamps_the_entry_and_keeps_it(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    code, out, _ = run(capsys, "failed", "retry", "--class", "Charge", "--keep", *common)
    assert (code, out) == (0, "retried 1 failed job (entries kept, stamped retried_at)\n")
    entry = json.loads(resque_redis.lindex(key(resque_namespace, "failed"), 1) or b"")
    assert entry["retried_at"]
    assert resque_redis.llen(key(resque_namespace, "failed")) == 3
    _, out, _ = run(capsys, "failed", "list", "--class", "Charge", *common)
    assert f"(retried {entry['retried_at']})" in out


def test_failed_retry_of_an_entry_that_moved_exits_1_with_nothing_done(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyresque.fleet import FailedJobs

    read = FailedJobs.get

    async def get_then_move(self: FailedJobs, index: int) -> object:
        found = await read(self, index)
        resque_redis.lpop(key(resque_namespace, "failed"))  # another operator, meanwhile
        return found

    monkeypatch.setattr(FailedJobs, "get", get_then_move)
    code, out, err = run(capsys, "failed", "retry", "1", *common)
    assert code == 1 and out == ""
    assert err.startswith("pyresque: ") and err.count("\n") == 1
    assert "no longer holds the entry read there" in err
    assert resque_redis.llen(key(resque_namespace, "queue", "billing")) == 0


def test_failed_remove_by_filter_and_all_with_yes(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    assert run(capsys, "failed", "remove", "--text", "garbage", *common)[:2] == (
        0,
        "removed 1 failed job\n",
    )
    assert resque_redis.llen(key(resque_namespace, "failed")) == 2
    assert run(capsys, "failed", "remove", "--all", "--yes", *common)[:2] == (
        0,
        "removed 2 failed jobs\n",
    )
    assert resque_redis.llen(key(resque_namespace, "failed")) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["retry", "0", "--all"], "not both"),
        (["retry", "0", "--queue", "mail"], "not both"),
        (["retry"], "say which entries"),
        (["remove", "--all"], "add --yes"),
        (["clear"], "add --yes"),
    ],
)
def test_failed_refusals_exit_2_and_change_nothing(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run(capsys, "failed", *argv, *common)
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1
    assert resque_redis.lrange(key(resque_namespace, "failed"), 0, -1) == failed


def test_failed_clear_with_yes_removes_everything(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    failed: list[bytes],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    assert run(capsys, "failed", "clear", "--yes", *common)[:2] == (0, "cleared 3 failed jobs\n")
    assert not resque_redis.exists(key(resque_namespace, "failed"))


def test_failed_retry_of_a_missing_index_exits_1(
    capsys: pytest.CaptureFixture[str], common: list[str], failed: list[bytes]
) -> None:
    code, _, err = run(capsys, "failed", "retry", "9", *common)
    assert code == 1 and err == "pyresque: there is no failed entry at index 9\n"


# -- delayed -------------------------------------------------------------------------------


@pytest.fixture
def delayed(capsys: pytest.CaptureFixture[str], common: list[str]) -> dict[str, int]:
    """A job due 100 s ago, two (node's and Ruby's) due in an hour at the same second."""
    now = int(time.time())
    past, later = now - 100, now + 3600
    run(capsys, "enqueue", "mail", "Old", "[3]", "--at", str(past * 1000), *common)
    for args, dialect in (("[1]", "node"), ("[2]", "ruby")):
        run(capsys, "enqueue", "mail", "Welcome", args, "--at", str(later * 1000), *common,
            "--dialect", dialect)  # fmt: skip
    return {"past": past, "later": later}


def test_delayed_list_shows_due_time_queue_class_args(
    capsys: pytest.CaptureFixture[str], common: list[str], delayed: dict[str, int]
) -> None:
    code, out, _ = run(capsys, "delayed", "list", *common)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].endswith(" ago)  mail  Old  [3]")
    assert lines[0].startswith(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(delayed["past"])))
    assert lines[1].endswith("  mail  Welcome  [1]") and re.search(r" \(in (59m|1h0m)", lines[1])
    assert lines[2].endswith("  mail  Welcome  [2]")
    assert lines[3] == "3 jobs shown; 2 timestamps in the schedule"
    _, out, _ = run(capsys, "delayed", "list", "--offset", "2", "--json", *common)
    document = json.loads(out)
    assert [job["args"] for job in document["jobs"]] == [[2]]
    assert document["jobs"][0]["peer"] == "ruby" and document["seconds"] == 2


def test_delayed_run_now_due_enqueues_only_what_is_due(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    delayed: dict[str, int],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    code, out, _ = run(capsys, "delayed", "run-now", "--due", *common)
    assert code == 0 and out.startswith("enqueued 1 delayed job due by ")
    assert resque_redis.lrange(key(resque_namespace, "queue", "mail"), 0, -1) == [
        b'{"class":"Old","queue":"mail","args":[3]}'
    ]
    assert run(capsys, "delayed", "run-now", "--all", *common)[1] == "enqueued 2 delayed jobs now\n"
    assert resque_redis.llen(key(resque_namespace, "queue", "mail")) == 3


def test_delayed_run_now_at_a_second_picks_class_and_args(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    delayed: dict[str, int],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    at = str(delayed["later"])
    code, out, _ = run(
        capsys, "delayed", "run-now", "--at", at, "--class", "Welcome", "--args", "[2]", *common
    )
    assert (code, out) == (0, "enqueued 1 delayed job now\n")
    # Ruby's item, enqueued as resque-scheduler enqueues it.
    assert resque_redis.lrange(key(resque_namespace, "queue", "mail"), 0, -1) == [
        b'{"class":"Welcome","args":[2]}'
    ]
    code, _, err = run(capsys, "delayed", "run-now", "--at", at, "--class", "Nope", *common)
    assert code == 1 and "there are no Nope jobs due at" in err


def test_delayed_remove_at_a_second_and_all_with_yes(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    delayed: dict[str, int],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(delayed["later"]))
    code, out, _ = run(capsys, "delayed", "remove", "--at", iso, "--class", "Welcome", *common)
    assert (code, out) == (0, "removed 2 delayed jobs\n")
    code, _, err = run(capsys, "delayed", "remove", "--all", *common)
    assert code == 2 and "add --yes" in err
    assert run(capsys, "delayed", "remove", "--all", "--yes", *common)[1] == (
        "removed 1 delayed job\n"
    )
    assert resque_redis.llen(key(resque_namespace, "queue", "mail")) == 0
    assert "0 jobs shown" in run(capsys, "delayed", "list", *common)[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["run-now"],
        ["run-now", "--due", "--all"],
        ["run-now", "--at", "1796542808"],
        ["run-now", "--class", "X"],
        ["remove"],
        ["remove", "--all", "--yes", "--at", "1796542808", "--class", "X"],
    ],
)
def test_delayed_selector_refusals_exit_2(
    capsys: pytest.CaptureFixture[str], common: list[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, "delayed", *argv, *common)
    assert (code, out) == (2, "")
    assert err.startswith("pyresque: ") and err.count("\n") == 1


# -- workers -------------------------------------------------------------------------------

SLOW_JOBS = """
import asyncio


async def slow(seconds):
    await asyncio.sleep(seconds)


JOBS = {"slow": slow}
"""


@pytest.fixture
def killed_worker(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> Iterator[str]:
    """A node-dialect worker SIGKILLed while it ran a job: still registered, job held."""
    (tmp_path / "slow_jobs.py").write_text(SLOW_JOBS)
    ns = resque_namespace
    resque_redis.rpush(key(ns, "queue", "q"), b'{"class":"slow","queue":"q","args":[60]}')
    process = LoggedProcess(
        [sys.executable, "-m", "pyresque", "worker", "--redis", redis_url, "--namespace", ns,
         "--queues", "q", "--jobs", "slow_jobs:JOBS"],
        tmp_path,
    )  # fmt: skip
    name = f"{socket.gethostname()}:{process.pid}"
    try:
        wait_until(lambda: resque_redis.exists(key(ns, "worker", f"{name}:q")), timeout=20)
        process.signal(signal.SIGKILL)
        process.wait()
        yield name
    finally:
        process.close()


def test_workers_lists_a_python_worker_with_its_job(
    capsys: pytest.CaptureFixture[str], common: list[str], killed_worker: str
) -> None:
    code, out, _ = run(capsys, "workers", *common)
    header, row, footer = out.splitlines()
    assert code == 0
    assert header.split() == ["NAME", "KIND", "HOST", "PID", "QUEUES", "JOB", "LAST", "SEEN"]
    host, pid = killed_worker.split(":")
    assert row.split()[:6] == [killed_worker, "python", host, pid, "q", "slow@q"]
    assert "STALE" not in row and footer == "1 worker, 0 stale"
    _, out, _ = run(capsys, "workers", "--json", *common)
    (listed,) = json.loads(out)
    assert listed["name"] == killed_worker and listed["stale"] is False
    assert listed["job_class"] == "slow" and listed["job_args"] == [60]


def test_workers_clean_refuses_a_live_worker_then_cleans_a_stale_one(
    capsys: pytest.CaptureFixture[str],
    common: list[str],
    killed_worker: str,
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    code, out, err = run(capsys, "workers", "clean", killed_worker, *common)
    assert (code, out) == (1, "")
    assert err.startswith(f"pyresque: worker '{killed_worker}:q' is not stale")
    assert "--force" in err

    def stale() -> bool:  # a ping is in whole seconds: up to 0.5 s ahead of this clock
        return bool(
            json.loads(run(capsys, "workers", "--json", "--stale-after", "0", *common)[1])[0][
                "stale"
            ]
        )

    wait_until(stale, timeout=5)
    code, out, err = run(capsys, "workers", "--stale-after", "0", *common, "clean", killed_worker)
    assert code == 0, err
    assert out == (
        f"cleaned worker {killed_worker}:q (python); its job slow@q [60] went to failed "
        "(Worker Timeout (killed manually))\n"
    )
    assert resque_redis.smembers(key(resque_namespace, "workers")) == set()
    (entry,) = resque_redis.lrange(key(resque_namespace, "failed"), 0, -1)
    assert json.loads(entry)["payload"] == {"class": "slow", "queue": "q", "args": [60]}


def test_workers_clean_force_and_an_unknown_worker(
    capsys: pytest.CaptureFixture[str], common: list[str], killed_worker: str
) -> None:
    code, _, err = run(capsys, "workers", "clean", "nobody:1", *common)
    assert code == 1 and err == "pyresque: no worker 'nobody:1' is registered\n"
    code, out, _ = run(capsys, "workers", "clean", killed_worker, "--force", *common)
    assert code == 0 and out.startswith(f"cleaned worker {killed_worker}:q")
