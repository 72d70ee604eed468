"""``pyresque worker`` in a real subprocess: burst, the two-signal stop, SIGKILL, bad
``--jobs`` specs, the MultiWorker, and the process title Ruby resque's pruning looks for.

Synchronised on Redis state and on the worker's log lines, never on fixed sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque.testing import wait_until
from tests.keys import key
from tests.processes import LoggedProcess

HOST = socket.gethostname()
START = 20.0  # seconds a worker process may take to start and show up in Redis

JOBS_MODULE = """
import asyncio


async def add(a, b):
    return a + b


async def slow(seconds):
    await asyncio.sleep(seconds)
    return "slept"


def fail():
    raise ValueError("no")


JOBS = {"add": add, "slow": slow, "fail": fail}
NOT_A_MAPPING = [add]
NOT_JOBS = {"add": 42}
"""

# Ruby resque's Worker#worker_pids (resque 2.7, lib/resque/worker.rb), verbatim.
RUBY_WORKER_PIDS = (
    'ps -A -o pid,command | grep -E "[r]esque:work|[r]esque:\\sStarting|[r]esque-[0-9]" '
    "| grep -v resque-web"
)


WorkerProcess = LoggedProcess


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    (tmp_path / "cli_jobs.py").write_text(JOBS_MODULE)
    return tmp_path


@pytest.fixture
def spawn(
    jobs_dir: Path, redis_url: str, resque_namespace: str
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``pyresque worker --queues q --jobs cli_jobs:JOBS ...`` in ``jobs_dir``."""
    started: list[WorkerProcess] = []

    def start(*args: str, command: list[str] | None = None) -> WorkerProcess:
        argv = [
            *(command or [sys.executable, "-m", "pyresque"]),
            "worker",
            "--redis",
            redis_url,
            "--namespace",
            resque_namespace,
            *args,
        ]
        if "--queues" not in args:
            argv += ["--queues", "q"]
        if "--jobs" not in args:
            argv += ["--jobs", "cli_jobs:JOBS"]
        worker = WorkerProcess(argv, jobs_dir)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


def enqueue(client: redis.Redis, ns: str, job_class: str, *args: Any) -> bytes:
    """node-resque's bytes for a job on queue ``q``."""
    raw = json.dumps({"class": job_class, "queue": "q", "args": list(args)}, separators=(",", ":"))
    client.sadd(key(ns, "queues"), "q")
    client.rpush(key(ns, "queue", "q"), raw)
    return raw.encode()


def working_on(client: redis.Redis, ns: str, member: str) -> dict[str, Any] | None:
    record = client.get(key(ns, "worker", member))
    return None if record is None else dict(json.loads(record))


def stat(client: redis.Redis, ns: str, name: str) -> int:
    return int(client.get(key(ns, "stat", name)) or 0)


def test_burst_works_every_job_and_exits_0(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    for n in range(3):
        enqueue(resque_redis, ns, "add", n, 1)
    # The console script, which (unlike `python -m`) does not put the cwd on sys.path.
    script = Path(sys.executable).with_name("pyresque")
    worker = spawn("--burst", command=[str(script)] if script.exists() else None)
    assert worker.wait() == 0, worker.log
    assert resque_redis.llen(key(ns, "queue", "q")) == 0
    assert stat(resque_redis, ns, "processed") == 3
    assert resque_redis.llen(key(ns, "failed")) == 0
    assert resque_redis.smembers(key(ns, "workers")) == set()
    assert re.search(
        r"INFO pyresque\.worker: burst over: the queues are empty; 3 jobs done "
        r"\(3 succeeded, 0 failed\) in \d+\.\d\d s$",
        worker.log,
        re.M,
    ), worker.log


@pytest.mark.parametrize("fail_on_job_failure", [False, True])
def test_burst_with_a_failed_job_warns_and_exits_1_only_when_asked(
    spawn: Callable[..., WorkerProcess],
    resque_redis: redis.Redis,
    resque_namespace: str,
    fail_on_job_failure: bool,
) -> None:
    enqueue(resque_redis, resque_namespace, "add", 1, 1)
    enqueue(resque_redis, resque_namespace, "fail")
    flags = ["--fail-on-job-failure"] if fail_on_job_failure else []
    worker = spawn("--burst", *flags)
    assert worker.wait() == (1 if fail_on_job_failure else 0), worker.log
    assert worker.logged(
        "WARNING pyresque.worker: burst over: the queues are empty; 2 jobs done "
        "(1 succeeded, 1 failed)"
    )
    assert resque_redis.llen(key(resque_namespace, "failed")) == 1


def test_log_format_json_writes_one_document_a_line_with_the_summary_fields(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    enqueue(resque_redis, resque_namespace, "fail")
    worker = spawn("--burst", "--log-format", "json")
    assert worker.wait() == 0, worker.log
    documents = [json.loads(line) for line in worker.lines]  # every line is JSON
    failure = next(d for d in documents if d.get("event") == "failure")
    assert failure["class"] == "fail" and failure["exception"] == "ValueError"
    assert failure["where"] == "cli_jobs.py:15"
    (summary,) = [d for d in documents if d["message"].startswith("burst over: the queues")]
    assert summary["level"] == "WARNING" and summary["event"] == "summary"
    assert (summary["jobs"], summary["succeeded"], summary["failed"]) == (1, 0, 1)


def test_a_jobs_module_that_raises_on_import_is_named_by_file_and_line(jobs_dir: Path) -> None:
    (jobs_dir / "broken_jobs.py").write_text(
        "import os\n\nJOBS = {'a': os.environ['NO_SUCH_VAR_HERE']}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "--queues", "q", "--jobs", "broken_jobs:JOBS",
         "--redis", "redis://127.0.0.1:1/0"],
        cwd=jobs_dir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "pyresque: --jobs 'broken_jobs:JOBS': importing 'broken_jobs' failed at "
        "broken_jobs.py:3: KeyError: 'NO_SUCH_VAR_HERE'\n"
    )


def test_sigterm_lets_the_running_job_finish_within_the_grace_period(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    enqueue(resque_redis, ns, "slow", 2)
    worker = spawn("--grace", "30")
    member = f"{HOST}:{worker.pid}:q"
    wait_until(lambda: working_on(resque_redis, ns, member), timeout=START)

    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log
    assert stat(resque_redis, ns, "processed") == 1  # it ran to its end
    assert resque_redis.llen(key(ns, "failed")) == 0
    assert resque_redis.smembers(key(ns, "workers")) == set()
    assert working_on(resque_redis, ns, member) is None
    assert worker.logged("SIGTERM: stopping")


@pytest.mark.parametrize("unfinished", ["fail", "requeue"])
def test_sigterm_with_a_short_grace_cuts_the_job_off_and_settles_it(
    spawn: Callable[..., WorkerProcess],
    resque_redis: redis.Redis,
    resque_namespace: str,
    unfinished: str,
) -> None:
    ns = resque_namespace
    slow = enqueue(resque_redis, ns, "slow", 60)
    waiting = enqueue(resque_redis, ns, "add", 1, 2)
    worker = spawn("--grace", "0.2", "--unfinished", unfinished)
    member = f"{HOST}:{worker.pid}:q"
    wait_until(lambda: working_on(resque_redis, ns, member), timeout=START)

    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log
    assert time.monotonic() - began < 30  # not the job's 60 s
    assert resque_redis.smembers(key(ns, "workers")) == set()
    assert working_on(resque_redis, ns, member) is None
    assert stat(resque_redis, ns, "processed") == 0
    queued = resque_redis.lrange(key(ns, "queue", "q"), 0, -1)
    if unfinished == "requeue":
        assert queued == [slow, waiting]  # back at the head, its bytes untouched
        assert resque_redis.llen(key(ns, "failed")) == 0
    else:
        assert queued == [waiting]
        (entry,) = [json.loads(e) for e in resque_redis.lrange(key(ns, "failed"), 0, -1)]
        assert entry["payload"] == {"class": "slow", "queue": "q", "args": [60]}
        assert entry["worker"] == f"{HOST}:{worker.pid}"
        assert "stopped before the job finished" in entry["error"]
    assert worker.logged("shutdown grace is over")


def test_a_second_sigterm_stops_at_once(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    enqueue(resque_redis, ns, "slow", 60)
    worker = spawn("--grace", "60")
    member = f"{HOST}:{worker.pid}:q"
    wait_until(lambda: working_on(resque_redis, ns, member), timeout=START)

    worker.signal(signal.SIGTERM)
    wait_until(lambda: worker.logged("SIGTERM: stopping"), timeout=START)  # one at a time
    assert worker.proc.poll() is None  # still waiting for the job, within its grace
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log
    assert time.monotonic() - began < 30
    assert worker.logged("SIGTERM again: stopping at once")
    assert resque_redis.llen(key(ns, "failed")) == 1  # --unfinished fail, the default
    assert resque_redis.smembers(key(ns, "workers")) == set()
    assert working_on(resque_redis, ns, member) is None


def test_sigkill_leaves_the_job_in_the_working_on_record(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    enqueue(resque_redis, ns, "slow", 60)
    worker = spawn()
    member = f"{HOST}:{worker.pid}:q"
    wait_until(lambda: working_on(resque_redis, ns, member), timeout=START)

    worker.signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL
    # Nothing lost: the job is where node-resque's and Ruby's dead-worker cleanup look.
    record = working_on(resque_redis, ns, member)
    assert record is not None
    assert record["queue"] == "q"
    assert record["payload"] == {"class": "slow", "queue": "q", "args": [60]}
    assert resque_redis.smembers(key(ns, "workers")) == {member.encode()}
    assert resque_redis.llen(key(ns, "queue", "q")) == 0
    assert resque_redis.llen(key(ns, "failed")) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "cli_jobs"], "--jobs 'cli_jobs': expected MODULE:ATTR"),
        (["--jobs", "no_such_jobs:JOBS"], "no module named 'no_such_jobs'"),
        (["--jobs", "cli_jobs:MISSING"], "'cli_jobs' has no 'MISSING'"),
        (["--jobs", "cli_jobs:NOT_A_MAPPING"], "is a list, not a mapping"),
        (["--jobs", "cli_jobs:NOT_JOBS"], "job 'add' is neither callable nor a JobDefinition"),
        (["--burst", "--min", "2"], "--burst runs one Worker"),
        (["--min", "3", "--max", "2"], "--min 3 exceeds --max 2"),
        (["--fail-on-job-failure"], "--fail-on-job-failure goes with --burst"),
    ],
)
def test_a_bad_jobs_spec_or_pool_exits_2_with_a_message(
    jobs_dir: Path, args: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "--queues", "q", "--jobs", "cli_jobs:JOBS"]
        + ["--redis", "redis://127.0.0.1:1/0", *args],  # never reached: exits first
        cwd=jobs_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_min_max_runs_a_multiworker_with_node_resque_child_names(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    for n in range(4):
        enqueue(resque_redis, ns, "add", n, n)
    worker = spawn("--min", "2", "--max", "3")
    children = {f"{HOST}:{worker.pid}+1:q".encode(), f"{HOST}:{worker.pid}+2:q".encode()}
    wait_until(lambda: children <= resque_redis.smembers(key(ns, "workers")), timeout=START)
    wait_until(lambda: stat(resque_redis, ns, "processed") == 4, timeout=START)
    assert _title(worker.pid).startswith("pyresque-")

    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log
    assert resque_redis.smembers(key(ns, "workers")) == set()
    assert resque_redis.llen(key(ns, "failed")) == 0


def _title(pid: int) -> str:
    return subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps")
def test_the_process_title_passes_ruby_resques_live_worker_check(
    spawn: Callable[..., WorkerProcess], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    from pyresque import __version__

    worker = spawn("--queues", "q,other")
    member = f"{HOST}:{worker.pid}:q,other"
    wait_until(
        lambda: resque_redis.sismember(key(resque_namespace, "workers"), member), timeout=START
    )

    title = _title(worker.pid)
    assert title == f"pyresque-{__version__}: Working q,other"
    assert re.search(r"[r]esque:work|[r]esque:\sStarting|[r]esque-[0-9]", title)
    listed = subprocess.run(
        ["sh", "-c", RUBY_WORKER_PIDS], capture_output=True, text=True, check=False
    ).stdout
    assert str(worker.pid) in [line.split()[0] for line in listed.splitlines() if line.split()]

    worker.signal(signal.SIGINT)  # Ctrl-C stops like SIGTERM
    assert worker.wait() == 0, worker.log
    assert worker.logged("SIGINT: stopping")
    assert resque_redis.smembers(key(resque_namespace, "workers")) == set()


TRACED_JOBS = """
import redis
from opentelemetry import trace
from pyresque import current_job


def traced(url):
    job = current_job()
    context = trace.get_current_span().get_span_context()
    with redis.Redis.from_url(url) as client:
        client.set(job.worker.context.keys.key("seen-trace"), format(context.trace_id, "032x"))


JOBS = {"traced": traced}
"""


def test_tracing_child_runs_each_job_inside_the_trace_its_payload_carries(
    spawn: Callable[..., WorkerProcess],
    jobs_dir: Path,
    redis_url: str,
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    pytest.importorskip("opentelemetry", reason="the tracing extra is not installed")
    ns = resque_namespace
    (jobs_dir / "traced_jobs.py").write_text(TRACED_JOBS)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    # A payload as opentelemetry-ruby's resque instrumentation leaves it: W3C keys on top.
    raw = json.dumps(
        {
            "class": "traced",
            "args": [redis_url],
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        },
        separators=(",", ":"),
    )
    resque_redis.sadd(key(ns, "queues"), "q")
    resque_redis.rpush(key(ns, "queue", "q"), raw)
    worker = spawn("--burst", "--tracing", "child", "--jobs", "traced_jobs:JOBS")
    assert worker.wait() == 0, worker.log
    # No SDK configured: the span is the API's non-recording one, still in that trace.
    assert resque_redis.get(key(ns, "seen-trace")) == trace_id.encode()
