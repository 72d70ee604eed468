"""``pyresque demo``: both parts, its own namespaces (deleted afterwards, also after an
error or Ctrl-C), and the example app found in a source checkout and in an installed
wheel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import pyresque.demo
from pyresque.cli import main
from pyresque.errors import PyresqueError
from pyresque.testing import wait_until
from tests.wheel import install_wheel

ROOT = Path(__file__).resolve().parents[2]
# "pyresque demo: writing in namespaces <part 1> (part 1) and <part 2> (part 2), ..."
_NAMESPACES = re.compile(r"writing in namespaces (\S+) \(part 1\) and (\S+) \(part 2\)")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def namespaces_of(out: str) -> tuple[str, str]:
    found = _NAMESPACES.search(out)
    assert found, out
    return found[1], found[2]


def keys_under(client: redis.Redis, *namespaces: str) -> list[bytes]:
    return [key for ns in namespaces for key in client.scan_iter(match=f"{ns}:*", count=1000)]


def test_demo_uses_the_given_redis_and_shows_both_peers_views(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    left: dict[str, Any] = {}
    remove = pyresque.demo.remove_namespaces

    def look_then_remove(url: str, namespaces: tuple[str, str]) -> int:
        """What the demo left just before it deletes its namespaces."""
        ns, app = namespaces
        left.update(
            namespaces=namespaces,
            math=resque_redis.llen(f"{ns}:queue:math"),
            delayed=resque_redis.zcard(f"{ns}:delayed_queue_schedule"),
            workers=resque_redis.smembers(f"{ns}:workers"),
            app_failed=resque_redis.llen(f"{app}:failed"),
            app_workers=resque_redis.smembers(f"{app}:workers"),
            app_leader=resque_redis.get(f"{app}:resque_scheduler_leader_lock"),
        )
        return remove(url, namespaces)

    monkeypatch.setattr(pyresque.demo, "remove_namespaces", look_then_remove)
    code, out, _ = run(capsys, "demo", "--redis", redis_url)
    assert code == 0
    ns, app = namespaces_of(out)
    assert re.fullmatch(r"pyresque-demo-[0-9a-f]{8}", ns) and app == f"{ns}-app"
    assert f"Enqueued in namespace {ns!r}:" in out and f"in namespace {app!r}" in out
    assert "As node-resque's Queue reports it" in out
    assert "As Ruby resque and resque-scheduler report it" in out
    assert "Resque.info          pending=4" in out
    assert_demo_worked_its_jobs(out)
    assert_demo_ran_the_example_app(out)
    assert left == {
        "namespaces": (ns, app),
        "math": 0,
        "delayed": 3,
        "workers": set(),
        "app_failed": 1,
        "app_workers": set(),  # stopped and unregistered
        "app_leader": None,  # released
    }
    assert re.search(rf"\npyresque demo: deleted namespaces {ns} and {app} \(\d+ keys\)\n$", out)
    assert keys_under(resque_redis, ns, app) == []


@pytest.fixture
def key_events(
    resque_redis: redis.Redis, resque_namespace: str
) -> Iterator[Callable[[], list[str]]]:
    """``key_events()``: every key written, deleted or expired so far while the test runs,
    in any db of the test Redis (keyspace notifications), in order."""
    seen: list[str] = []
    previous = resque_redis.config_get("notify-keyspace-events")["notify-keyspace-events"]
    resque_redis.config_set("notify-keyspace-events", "EA")
    pubsub = resque_redis.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe(**{"__keyevent@*__:*": lambda m: seen.append(m["data"].decode())})
    thread = pubsub.run_in_thread(sleep_time=0.01, daemon=True)

    def events() -> list[str]:
        marker = f"{resque_namespace}:events-{len(seen)}"
        resque_redis.set(marker, 1)  # its event comes after every earlier one
        wait_until(lambda: marker in seen, timeout=10)
        return [key for key in seen if not key.startswith(f"{resque_namespace}:")]

    try:
        yield events
    finally:
        thread.stop()
        thread.join(5)
        pubsub.close()
        resque_redis.config_set("notify-keyspace-events", previous)


def test_demo_writes_only_under_its_own_namespaces_and_deletes_them_each_run(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_redis: redis.Redis,
    key_events: Callable[[], list[str]],
) -> None:
    before = set(resque_redis.scan_iter(count=1000))
    outputs = []
    for _ in range(2):  # a re-run starts from nothing: the same counts, not the sum
        code, out, _ = run(capsys, "demo", "--redis", redis_url)
        assert code == 0
        assert_demo_worked_its_jobs(out)
        assert_demo_ran_the_example_app(out)
        outputs.append(out)
    assert set(resque_redis.scan_iter(count=1000)) == before
    first, second = (namespaces_of(out) for out in outputs)
    assert first[0] != second[0]
    for namespaces in (first, second):
        assert keys_under(resque_redis, *namespaces) == []
    # Nothing was written outside them, not even for a moment.
    events = key_events()
    outside = [key for key in events if not key.startswith(tuple(f"{n}:" for n in first + second))]
    assert events and outside == []


@pytest.mark.parametrize("ending", [KeyboardInterrupt, PyresqueError])
def test_demo_deletes_its_namespaces_when_it_ends_early(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    resque_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    ending: type[BaseException],
) -> None:
    async def fail(tasks: Any) -> None:  # after part 1, once part 2's app is loaded
        raise ending("ended early (test)")

    monkeypatch.setattr(pyresque.demo, "_enqueue_samples", fail)
    if ending is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            pyresque.demo.run_demo(redis_url)
    else:
        assert pyresque.demo.run_demo(redis_url) == 1
    out = capsys.readouterr().out
    ns, app = namespaces_of(out)
    assert_demo_worked_its_jobs(out)  # part 1 wrote its keys
    assert re.search(rf"pyresque demo: deleted namespaces {ns} and {app} \([1-9]\d* keys\)", out)
    assert keys_under(resque_redis, ns, app) == []


def test_ctrl_c_in_the_middle_of_the_app_stops_it_and_deletes_the_namespaces(
    redis_url: str, resque_redis: redis.Redis
) -> None:
    # A test run with SIGINT ignored would hand that on: the child gets Python's handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        demo = subprocess.Popen(
            [sys.executable, "-m", "pyresque", "demo", "--redis", redis_url],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    lines: list[str] = []
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or ()), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(line.startswith("Running (") for line in lines), timeout=30)
        time.sleep(0.3)  # the app's workers and scheduler are under way
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)  # not communicate(): the reader owns stdout
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(5)
    assert demo.stderr is not None
    err = demo.stderr.read()
    demo.stdout.close()
    demo.stderr.close()
    out = "".join(lines)
    assert (demo.returncode, err) == (130, "pyresque: interrupted\n"), out
    ns, app = namespaces_of(out)
    assert f"pyresque demo: deleted namespaces {ns} and {app}" in out
    assert keys_under(resque_redis, ns, app) == []


def test_demo_starts_a_private_redis_when_none_is_configured_or_running(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(pyresque.demo, "redis_answers", lambda *a, **k: False)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "started a private redis-server" in out
    assert_demo_worked_its_jobs(out)
    assert_demo_ran_the_example_app(out)
    assert "pyresque demo: deleted namespaces" in out
    assert out.rstrip().endswith("stopped the private redis-server")


def test_demo_without_the_example_app_shows_the_protocol_part_and_says_why(
    capsys: pytest.CaptureFixture[str], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pyresque.demo, "example_app", lambda: None)
    code, out, _ = run(capsys, "demo", "--redis", redis_url)
    assert code == 0
    assert_demo_worked_its_jobs(out)
    assert "Part 2" in out and "is not in this installation" in out
    assert "Running (" not in out


def test_in_a_source_checkout_the_demo_runs_examples_app() -> None:
    assert pyresque.demo.example_app() == ROOT / "examples" / "app"


def test_an_installed_wheel_runs_both_parts_with_the_app_it_ships(
    tmp_path: Path, redis_url: str, resque_redis: redis.Redis
) -> None:
    """Build the wheel, install it (without its dependencies) into a fresh venv that
    borrows this one's site-packages for them, and run the demo from a folder with no
    checkout in sight (about 6 s, most of it pip building the wheel)."""
    installed = install_wheel(tmp_path)
    python, site = installed.python, installed.site
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REDIS_URL")}
    done = subprocess.run(
        [python, "-m", "pyresque", "demo", "--redis", redis_url],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    app = site / "pyresque" / "demo_app"
    assert f"Part 2: an Actionhero-style app ({app})" in done.stdout
    assert_demo_worked_its_jobs(done.stdout)
    assert_demo_ran_the_example_app(done.stdout)
    assert keys_under(resque_redis, *namespaces_of(done.stdout)) == []


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
