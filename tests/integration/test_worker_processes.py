"""``pyresque worker --processes N`` in real subprocesses: a supervisor and its worker
processes, each registered under its own pid in either dialect; a child SIGKILLed mid-job
cleaned and replaced; the two-signal stop fanned out; Ctrl-C to the process group counted
once; burst; the supervisor's own death.

Synchronised on Redis state and on log lines, never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque.testing import wait_until
from tests.integration.test_worker_cli import HOST, RUBY_WORKER_PIDS, START, enqueue, stat
from tests.keys import key
from tests.processes import LoggedProcess

JOBS_MODULE = """
import asyncio
import os
import time

import redis


async def add(a, b):
    return a + b


async def slow(seconds):
    await asyncio.sleep(seconds)
    return "slept"


def mark(url, key, seconds):
    time.sleep(seconds)
    with redis.Redis.from_url(url) as client:
        client.sadd(key, os.getpid())


def fail():
    raise ValueError("no")


JOBS = {"add": add, "slow": slow, "mark": mark, "fail": fail}
"""


@pytest.fixture
def spawn(
    tmp_path: Path, redis_url: str, resque_namespace: str
) -> Iterator[Callable[..., LoggedProcess]]:
    """``pyresque worker --processes 2 --queues q --jobs proc_jobs:JOBS ...``; a test's
    leftover supervisor and children are killed, by their pids."""
    (tmp_path / "proc_jobs.py").write_text(JOBS_MODULE)
    started: list[LoggedProcess] = []

    def start(*args: str, session: bool = False) -> LoggedProcess:
        argv = [sys.executable, "-m", "pyresque", "worker", "--redis", redis_url]
        argv += ["--namespace", resque_namespace, "--queues", "q", "--jobs", "proc_jobs:JOBS"]
        argv += [*args] if "--processes" in args else ["--processes", "2", *args]
        process = LoggedProcess(argv, tmp_path, session=session)
        started.append(process)
        return process

    yield start
    for process in started:
        children = _children(process.pid)
        process.close()
        for pid in children:
            _kill(pid)


def _children(pid: int) -> list[int]:
    found = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in found.split()]


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def members(client: redis.Redis, ns: str) -> set[str]:
    return {m.decode() for m in client.smembers(key(ns, "workers"))}


def pid_of(member: str, dialect: str = "node") -> int:
    """The pid part of a registered worker id (``host:pid:q`` or a pool's)."""
    host, pid = member.split(":")[:2]
    return int(pid.split("+")[0])


def failed(client: redis.Redis, ns: str) -> list[dict[str, Any]]:
    return [json.loads(e) for e in client.lrange(key(ns, "failed"), 0, -1)]


def working(client: redis.Redis, ns: str) -> list[str]:
    """Members holding a job in their working-on record."""
    return [m for m in members(client, ns) if client.get(key(ns, "worker", m)) is not None]


@pytest.mark.parametrize("dialect", ["node", "ruby"])
@pytest.mark.parametrize("pool", [False, True], ids=["worker", "multiworker"])
def test_each_worker_process_registers_under_its_own_pid_as_its_dialect_expects(
    spawn: Callable[..., LoggedProcess],
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
    pool: bool,
) -> None:
    ns = resque_namespace
    supervisor = spawn("--dialect", dialect, *(["--min", "1", "--max", "1"] if pool else []))
    wait_until(lambda: len(members(resque_redis, ns)) == 2, timeout=START)
    children = sorted(_children(supervisor.pid))
    assert len(children) == 2
    if not pool:
        expected = {f"{HOST}:{pid}:q" for pid in children}
    elif dialect == "node":
        expected = {f"{HOST}:{pid}+1:q" for pid in children}
    else:
        expected = {f"{HOST}+1:{pid}:q" for pid in children}
    assert members(resque_redis, ns) == expected
    if dialect == "ruby":
        beats = {m.decode() for m in resque_redis.hkeys(key(ns, "workers:heartbeat"))}
        assert beats == expected
    else:
        names = {m.rsplit(":", 1)[0] for m in expected}
        assert all(resque_redis.exists(key(ns, "worker", "ping", n)) for n in names)

    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait() == 0, supervisor.log
    assert members(resque_redis, ns) == set()
    assert not any(_alive(pid) for pid in children)
    assert supervisor.logged("all worker processes exited")


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps")
def test_ruby_resques_live_worker_check_finds_every_worker_process(
    spawn: Callable[..., LoggedProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    supervisor = spawn("--dialect", "ruby", "--processes", "3")
    wait_until(lambda: len(members(resque_redis, resque_namespace)) == 3, timeout=START)
    listed = subprocess.run(
        ["sh", "-c", RUBY_WORKER_PIDS], capture_output=True, text=True, check=False
    ).stdout
    live = {line.split()[0] for line in listed.splitlines() if line.split()}
    registered = {str(pid_of(m)) for m in members(resque_redis, resque_namespace)}
    assert registered == {str(pid) for pid in _children(supervisor.pid)}
    assert registered <= live
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait() == 0, supervisor.log


def test_jobs_spread_over_the_worker_processes(
    spawn: Callable[..., LoggedProcess],
    redis_url: str,
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    seen = key(ns, "seen-pids")
    for _ in range(12):
        enqueue(resque_redis, ns, "mark", redis_url, seen, 0.1)
    supervisor = spawn("--burst")
    assert supervisor.wait() == 0, supervisor.log
    assert stat(resque_redis, ns, "processed") == 12
    pids = {int(p) for p in resque_redis.smembers(seen)}
    assert len(pids) == 2 and supervisor.pid not in pids
    assert len(re.findall(r"burst over: the queues are empty", supervisor.log)) == 2
    assert members(resque_redis, ns) == set()


@pytest.mark.parametrize("dialect", ["node", "ruby"])
def test_a_child_killed_mid_job_is_cleaned_and_replaced_while_the_other_works_on(
    spawn: Callable[..., LoggedProcess],
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
) -> None:
    ns = resque_namespace
    enqueue(resque_redis, ns, "slow", 60)
    supervisor = spawn("--dialect", dialect, "--grace", "0")
    wait_until(lambda: len(members(resque_redis, ns)) == 2, timeout=START)
    wait_until(lambda: working(resque_redis, ns), timeout=START)
    (busy,) = working(resque_redis, ns)
    (other,) = members(resque_redis, ns) - {busy}
    victim = pid_of(busy)

    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(failed(resque_redis, ns)) == 1, timeout=START)
    (entry,) = failed(resque_redis, ns)
    reason = f"Child process received unhandled signal pid {victim} SIGKILL (signal 9)"
    assert entry["error"] == reason
    assert entry["payload"] == {"class": "slow", "queue": "q", "args": [60]}
    if dialect == "node":  # forceCleanWorker's entry: retry_stuck_jobs finds it
        assert entry["exception"] == "Worker Timeout (killed manually)"
        assert entry["worker"] == f"{HOST}:{victim}"
        assert entry["backtrace"][1] == "queue#forceCleanWorker"
    else:
        assert entry["exception"] == "Resque::DirtyExit"
        assert entry["worker"] == busy and entry["backtrace"] == []
        assert not resque_redis.hexists(key(ns, "workers:heartbeat"), busy)
    assert resque_redis.get(key(ns, "worker", busy)) is None
    assert busy not in members(resque_redis, ns)

    # A replacement registers under a new pid; the other child never stopped working.
    wait_until(lambda: len(members(resque_redis, ns)) == 2, timeout=START)
    (replacement,) = members(resque_redis, ns) - {other}
    assert pid_of(replacement) not in (victim, supervisor.pid)
    assert supervisor.logged(f"worker process {victim} died: {reason}")
    assert supervisor.logged(f"starting a replacement for worker process {victim} in 0.5 s")
    for n in range(4):
        enqueue(resque_redis, ns, "add", n, n)
    wait_until(lambda: stat(resque_redis, ns, "processed") == 4, timeout=START)

    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait() == 0, supervisor.log
    assert members(resque_redis, ns) == set()


def test_one_sigterm_stops_every_child_within_its_grace_and_exits_0(
    spawn: Callable[..., LoggedProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    for _ in range(2):
        enqueue(resque_redis, ns, "slow", 1)
    supervisor = spawn("--grace", "30")
    wait_until(lambda: len(working(resque_redis, ns)) == 2, timeout=START)
    children = _children(supervisor.pid)

    began = time.monotonic()
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait() == 0, supervisor.log
    assert time.monotonic() - began < 30
    assert stat(resque_redis, ns, "processed") == 2  # both ran to their end
    assert failed(resque_redis, ns) == []
    assert members(resque_redis, ns) == set()
    assert not any(_alive(pid) for pid in children)
    assert supervisor.log.count("SIGTERM: stopping; no new jobs") == 2  # one per child
    assert "again" not in supervisor.log


def test_a_second_signal_cuts_every_childs_job_off(
    spawn: Callable[..., LoggedProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    for _ in range(2):
        enqueue(resque_redis, ns, "slow", 60)
    supervisor = spawn("--grace", "60")
    wait_until(lambda: len(working(resque_redis, ns)) == 2, timeout=START)

    supervisor.signal(signal.SIGTERM)
    wait_until(lambda: supervisor.log.count("SIGTERM: stopping; no new jobs") == 2, timeout=START)
    assert supervisor.proc.poll() is None  # the jobs have 60 s
    began = time.monotonic()
    supervisor.signal(signal.SIGINT)
    assert supervisor.wait() == 0, supervisor.log
    assert time.monotonic() - began < 30
    assert supervisor.logged("SIGINT again: stopping at once")
    assert supervisor.log.count("SIGTERM again: stopping at once") == 2
    entries = failed(resque_redis, ns)
    assert len(entries) == 2 and all("stopped before" in e["error"] for e in entries)
    assert members(resque_redis, ns) == set()


def test_one_ctrl_c_to_the_process_group_counts_once(
    spawn: Callable[..., LoggedProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    for _ in range(2):
        enqueue(resque_redis, ns, "slow", 1)
    # Its own process group, as a terminal's foreground job: Ctrl-C signals every member.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        supervisor = spawn("--grace", "30", session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_until(lambda: len(working(resque_redis, ns)) == 2, timeout=START)
    assert set(_children(supervisor.pid)) <= set(_group(supervisor.pid))

    os.killpg(supervisor.pid, signal.SIGINT)
    assert supervisor.wait() == 0, supervisor.log
    assert stat(resque_redis, ns, "processed") == 2  # not cut off: one stop, not two
    assert failed(resque_redis, ns) == []
    assert supervisor.log.count("SIGINT: stopping 2 worker processes") == 1
    assert "again" not in supervisor.log
    assert members(resque_redis, ns) == set()


def _group(pgid: int) -> list[int]:
    found = subprocess.run(
        ["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in found.split()]


@pytest.mark.parametrize("fail_on_job_failure", [False, True])
def test_burst_with_processes_exits_once_every_child_has_and_1_if_one_failed(
    spawn: Callable[..., LoggedProcess],
    resque_redis: redis.Redis,
    resque_namespace: str,
    fail_on_job_failure: bool,
) -> None:
    ns = resque_namespace
    for n in range(6):
        enqueue(resque_redis, ns, "add", n, 1)
    enqueue(resque_redis, ns, "fail")
    flags = ["--fail-on-job-failure"] if fail_on_job_failure else []
    supervisor = spawn("--processes", "3", "--burst", *flags)
    assert supervisor.wait() == (1 if fail_on_job_failure else 0), supervisor.log
    assert stat(resque_redis, ns, "processed") == 6
    assert len(failed(resque_redis, ns)) == 1
    assert resque_redis.llen(key(ns, "queue", "q")) == 0
    assert members(resque_redis, ns) == set()
    assert supervisor.log.count("burst over: the queues are empty") == 3


def test_children_stop_gracefully_when_the_supervisor_is_killed(
    spawn: Callable[..., LoggedProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    supervisor = spawn()
    wait_until(lambda: len(members(resque_redis, ns)) == 2, timeout=START)
    children = _children(supervisor.pid)

    supervisor.signal(signal.SIGKILL)
    assert supervisor.wait() == -signal.SIGKILL
    wait_until(lambda: not any(_alive(pid) for pid in children), timeout=START)
    assert members(resque_redis, ns) == set()  # each unregistered on its way out
    assert supervisor.log.count("the supervisor (pid") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--processes", "0"], "--processes: must be a whole number of processes, 1 or more"),
        (["--processes", "2", "--name", "w1"], "would name every one of the 2 processes"),
        (
            ["--processes", "2", "--dialect", "ruby", "--name", "h:1"],
            "would name every one of the 2 processes",
        ),
        (["--processes", "2", "--metrics-port", "0"], "cannot be combined with --processes"),
    ],
)
def test_processes_options_that_cannot_work_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "proc_jobs.py").write_text(JOBS_MODULE)
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "--queues", "q", "--jobs", "proc_jobs:JOBS",
         "--redis", "redis://127.0.0.1:1/0", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


ECHO_TASK = """
import os

from pyresque.tasks import Task


class Echo(Task):
    name = "echo"
    queue = "default"

    async def run(self, params, worker):
        return os.getpid()
"""


def test_an_apps_processes_each_run_its_pool_and_only_the_first_its_scheduler(
    tmp_path: Path, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "echo.py").write_text(ECHO_TASK)
    (tmp_path / "pyresque.toml").write_text(
        f'redis = "{redis_url}"\nnamespace = "{ns}"\nqueues = ["default"]\n'
        "scheduler = true\nmax_task_processors = 1\nprocesses = 2\n"
    )
    argv = [sys.executable, "-m", "pyresque", "start", "--app", str(tmp_path)]
    node = LoggedProcess(argv, tmp_path)
    try:
        wait_until(lambda: len(members(resque_redis, ns)) == 2, timeout=START)
        children = sorted(_children(node.pid))
        assert members(resque_redis, ns) == {f"{HOST}:{pid}+1:default" for pid in children}
        wait_until(lambda: resque_redis.get(key(ns, "resque_scheduler_leader_lock")), timeout=START)
        leader = resque_redis.get(key(ns, "resque_scheduler_leader_lock")).decode()
        assert leader in {f"{HOST}:{pid}" for pid in children}
        wait_until(
            lambda: node.log.count("running; SIGTERM or SIGINT stops it") == 2, timeout=START
        )
        roles = re.findall(r"App\(node, roles=([a-z+]+)\) started", node.log)
        assert sorted(roles) == ["enqueue+process", "enqueue+process+schedule"]

        node.signal(signal.SIGTERM)
        assert node.wait() == 0, node.log
    finally:
        leftovers = _children(node.pid)
        node.close()
        for pid in leftovers:
            _kill(pid)
    assert members(resque_redis, ns) == set()
    assert resque_redis.get(key(ns, "resque_scheduler_leader_lock")) is None
