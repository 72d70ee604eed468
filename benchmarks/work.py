"""Worker throughput and pick-up latency: pyresque against node-resque 9.7.1, same Redis.

    python benchmarks/work.py [--jobs 20000] [--sleep-jobs 2000] [--rounds 3]
                              [--samples 200] [--slow-samples 10] [--redis URL]
                              [--loop asyncio|uvloop] [--profile]

Without --redis (or $REDIS_URL) a private redis-server is started so nothing else
shares it (the command counts assume nothing else uses the server). Phases, each in a
fresh namespace, deleted afterwards:

* drain: the queue is filled with identical payloads first, then the workers start; timed
  from their start until every job has run and been settled and every worker is idle
  again. No-op jobs with 1 and 10 workers, and 10 ms-sleep jobs with 10 workers (ideal:
  1,000 jobs/s). pyresque: that many Workers in one process sharing one connection and
  one Waker; node-resque: that many Workers in one node process, each with its own
  connection, as MultiWorker(min=max) builds them.
* latency: one idle worker on an empty queue; one job at a time (after the previous one
  finished and a random 2-20 ms gap), from the start of the enqueue call to the start of
  the job, both wall-clock timestamps taken in the same process.
* Redis commands per job: INFO commandstats delta over each drain, divided by the jobs.

Best of --rounds for each figure. Needs `npm ci --prefix interop/node`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypedDict

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyresque import Queue  # noqa: E402
from pyresque.connection import open_async_driver  # noqa: E402
from pyresque.server import RedisServer  # noqa: E402
from pyresque.worker.waker import Waker  # noqa: E402
from pyresque.worker.worker import Worker  # noqa: E402

QUEUE = "bench"
GAP_MS = (2.0, 20.0)
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


class Drain(TypedDict):
    seconds: float
    cpu_seconds: float  # the worker process's CPU time over the drain
    commands: dict[str, int]  # command -> calls during the drain


def command_stats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    found = {k: v - before.get(k, 0) for k, v in after.items() if k != "info"}
    return {k: v for k, v in found.items() if v}


def clear(client: redis.Redis, namespace: str) -> None:
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        client.delete(key)


def fill(client: redis.Redis, namespace: str, job_class: str, jobs: int) -> None:
    """The queue both sides drain: node-resque's (and pyresque's) enqueue bytes."""
    payload = json.dumps({"class": job_class, "queue": QUEUE, "args": []}, separators=(",", ":"))
    key = f"{namespace}:queue:{QUEUE}"
    client.sadd(f"{namespace}:queues", QUEUE)
    for done in range(0, jobs, 5000):
        client.rpush(key, *([payload] * min(5000, jobs - done)))


def check_drained(client: redis.Redis, namespace: str, jobs: int, side: str) -> None:
    left = client.llen(f"{namespace}:queue:{QUEUE}")
    processed = int(client.get(f"{namespace}:stat:processed") or 0)
    failed = client.llen(f"{namespace}:failed")
    if left or processed != jobs or failed:
        raise RuntimeError(f"{side}: {left} jobs left, {processed} processed, {failed} failed")


def worker_name(i: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}+{i}"


# -- pyresque -------------------------------------------------------------------------------
async def noop() -> None:
    return None


async def sleep_10ms() -> None:
    await asyncio.sleep(0.01)


JOBS: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {"noop": noop, "sleep": sleep_10ms}


async def drain_pyresque(
    url: str, namespace: str, job_class: str, jobs: int, workers: int, client: redis.Redis
) -> Drain:
    driver = open_async_driver(url)
    await driver.ping()
    waker = Waker(driver.open_blocking)
    pool = [
        Worker(
            driver,
            [QUEUE],
            {job_class: JOBS[job_class]},
            name=worker_name(i + 1),
            namespace=namespace,
            waker=waker,
        )
        for i in range(workers)
    ]
    idle = [False] * workers
    finished = asyncio.Event()
    counts = {"done": 0}
    end = cpu = 0.0

    def check() -> None:
        nonlocal end, cpu
        if not finished.is_set() and counts["done"] >= jobs and all(idle):
            end, cpu = time.perf_counter(), time.process_time() - cpu
            finished.set()

    def watch(i: int, worker: Worker) -> None:
        def job(*_: Any) -> None:
            idle[i] = False

        def pause(*_: Any) -> None:
            idle[i] = True
            check()

        def done(*_: Any) -> None:
            counts["done"] += 1

        worker.on("job", job)
        worker.on("pause", pause)
        worker.on("success", done)
        worker.on("failure", done)

    for i, worker in enumerate(pool):
        watch(i, worker)
    before = command_stats(client)
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(w.start() for w in pool))
    await finished.wait()
    after = command_stats(client)
    await asyncio.gather(*(w.stop() for w in pool))
    await waker.aclose()
    await driver.aclose()
    return {"seconds": end - start, "cpu_seconds": cpu, "commands": delta(before, after)}


async def latency_pyresque(url: str, namespace: str, samples: int) -> list[float]:
    started = 0.0
    done = asyncio.Event()
    paused = asyncio.Event()

    async def lat() -> None:
        nonlocal started
        started = time.time()

    worker = Worker(url, [QUEUE], {"lat": lat}, name=worker_name(1), namespace=namespace)
    worker.on("success", lambda *_: done.set())
    worker.on("pause", lambda *_: paused.set())
    await worker.start()
    await paused.wait()
    found: list[float] = []
    async with Queue(url, namespace=namespace) as queue:
        for i in range(samples + 1):  # one warm-up job first (loads the script): not counted
            await asyncio.sleep(random.uniform(*GAP_MS) / 1000)
            done.clear()
            enqueued = time.time()
            await queue.enqueue(QUEUE, "lat", [])
            await done.wait()
            if i:
                found.append((started - enqueued) * 1000)
    await worker.stop()
    return found


async def profile_pyresque(url: str, namespace: str, jobs: int, client: redis.Redis) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    await drain_pyresque(url, namespace, "noop", jobs, 1, client)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


# -- node-resque ----------------------------------------------------------------------------
def node(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(ROOT / "benchmarks" / "node_work.js"), json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"node_work.js failed:\n{done.stderr}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def drain_node(url: str, namespace: str, job_class: str, jobs: int, workers: int) -> Drain:
    found = node(
        {
            "mode": "drain",
            "url": url,
            "namespace": namespace,
            "workers": workers,
            "jobs": jobs,
            "job": job_class,
            "timeout": 5000,
        }
    )
    return {
        "seconds": found["seconds"],
        "cpu_seconds": found["cpuSeconds"],
        "commands": delta(found["before"], found["after"]),
    }


def latency_node(url: str, namespace: str, samples: int, timeout: int) -> list[float]:
    found = node(
        {
            "mode": "latency",
            "url": url,
            "namespace": namespace,
            "samples": samples,
            "timeout": timeout,
            "gapMin": GAP_MS[0],
            "gapMax": GAP_MS[1],
        }
    )
    return [float(x) for x in found["samples"]]


# -- the run --------------------------------------------------------------------------------
DRAINS = (  # key, label, job class, workers
    ("noop1", "no-op jobs, 1 worker", "noop", 1),
    ("noop10", "no-op jobs, 10 workers", "noop", 10),
    ("sleep10", "10 ms-sleep jobs, 10 workers", "sleep", 10),
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def namespace(side: str) -> str:
    return f"bench-work-{side}-{uuid.uuid4().hex[:8]}"


class Results:
    def __init__(self) -> None:
        self.drains: dict[tuple[str, str], Drain] = {}  # (side, drain) -> its fastest run
        self.latency: dict[str, tuple[float, float, int]] = {}  # best p50, best p99, n

    def drained(self, side: str, key: str, found: Drain) -> None:
        best = self.drains.get((side, key))
        if best is None or found["seconds"] < best["seconds"]:
            self.drains[(side, key)] = found

    def timed(self, label: str, samples: list[float]) -> None:
        self.latency[label] = (statistics.median(samples), percentile(samples, 99), len(samples))


def run_round(
    url: str, options: argparse.Namespace, run: Runner, client: redis.Redis, first: bool
) -> Results:
    found = Results()
    for key, _label, job_class, workers in DRAINS:
        jobs = options.sleep_jobs if job_class == "sleep" else options.jobs
        for side in ("node", "py"):
            ns = namespace(side)
            fill(client, ns, job_class, jobs)
            if side == "node":
                result = drain_node(url, ns, job_class, jobs, workers)
            else:
                result = run(drain_pyresque(url, ns, job_class, jobs, workers, client))
            check_drained(client, ns, jobs, side)
            clear(client, ns)
            found.drained(side, key, result)
    ns = namespace("node")
    found.timed("node100", latency_node(url, ns, options.samples, 100))
    clear(client, ns)
    if first and options.slow_samples:  # ~timeout per sample: once, and fewer samples
        ns = namespace("node")
        found.timed("node5000", latency_node(url, ns, options.slow_samples, 5000))
        clear(client, ns)
    ns = namespace("py")
    found.timed("py", run(latency_pyresque(url, ns, options.samples)))
    clear(client, ns)
    return found


def merge(best: Results, new: Results) -> None:
    for (side, key), found in new.drains.items():
        best.drained(side, key, found)
    for label, (p50, p99, n) in new.latency.items():
        if label in best.latency:
            old50, old99, old_n = best.latency[label]
            best.latency[label] = (min(p50, old50), min(p99, old99), max(n, old_n))
        else:
            best.latency[label] = (p50, p99, n)


def per_job(commands: dict[str, int], jobs: int) -> str:
    total = sum(commands.values())
    scripts = commands.get("evalsha", 0) + commands.get("eval", 0)
    detail = " ".join(
        f"{name.upper()} {calls / jobs:.2f}"
        for name, calls in sorted(commands.items(), key=lambda kv: (-kv[1], kv[0]))
        if calls / jobs >= 0.005
    )
    other = (total - scripts) / jobs
    return (
        f"{total / jobs:5.2f}  EVALSHA/EVAL {scripts / jobs:4.2f}  other {other:5.2f}  ({detail})"
    )


def report(best: Results, options: argparse.Namespace, url: str) -> None:
    print(
        f"worker throughput, best of {options.rounds} rounds, Redis {url}, "
        f"pyresque on {options.loop}"
    )
    print(
        "  (pyresque: N Workers in one process sharing one connection and one Waker; "
        "node-resque: N Workers in one node process, built as MultiWorker(min=max=N) builds "
        "them, each with its own connection)"
    )
    print(
        f"  {'workload':36} {'node jobs/s':>11} {'py jobs/s':>10} {'py/node':>8}"
        f"   client CPU us/job: {'node':>5} {'py':>5}"
    )
    for key, label, job_class, _ in DRAINS:
        jobs = options.sleep_jobs if job_class == "sleep" else options.jobs
        node, py = best.drains[("node", key)], best.drains[("py", key)]
        node_rate, py_rate = jobs / node["seconds"], jobs / py["seconds"]
        print(
            f"  {label + f' ({jobs:,})':36} {node_rate:>11,.0f} {py_rate:>10,.0f} "
            f"{py_rate / node_rate:>7.2f}x   {'':19}"
            f"{node['cpu_seconds'] / jobs * 1e6:>5.0f} {py['cpu_seconds'] / jobs * 1e6:>5.0f}"
        )
        if job_class == "sleep":
            print(
                f"  {'  efficiency vs ideal 1,000 jobs/s':36} {node_rate / 10:>10.1f}% "
                f"{py_rate / 10:>9.1f}%"
            )
    print(
        "pick-up latency, enqueue call start -> job start (wall clock, same process), "
        f"1 idle worker, one job at a time, {GAP_MS[0]:.0f}-{GAP_MS[1]:.0f} ms gaps"
    )
    print(f"  {'worker':36} {'samples':>8} {'p50 ms':>9} {'p99 ms':>9} {'node/py p50':>12}")
    py50 = best.latency["py"][0]
    for label, key in (
        ("node-resque, timeout 5000 (default)", "node5000"),
        ("node-resque, timeout 100", "node100"),
        ("pyresque, timeout 5000 (default)", "py"),
    ):
        if key not in best.latency:
            continue
        p50, p99, n = best.latency[key]
        ratio = "" if key == "py" else f"{p50 / py50:>11,.0f}x"
        print(f"  {label:36} {n:>8} {p50:>9.2f} {p99:>9.2f} {ratio:>12}")
    print(
        "Redis commands per no-op job over the drain (INFO commandstats delta / jobs; "
        "script-internal commands included):"
    )
    for key, label, job_class, _ in DRAINS:
        if job_class == "sleep":
            continue
        for side, name in (("node", "node-resque"), ("py", "pyresque")):
            commands = best.drains[(side, key)]["commands"]
            print(f"  {name + ', ' + label.split(', ')[1]:24} {per_job(commands, options.jobs)}")
    print(
        "  round trips per job: node-resque 3 (pop script, MULTI INCR INCR EXEC, DEL); "
        "pyresque 1 (one script settles the last job and takes the next)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="no-op jobs per drain")
    parser.add_argument("--sleep-jobs", type=int, default=2_000, help="10 ms jobs per drain")
    parser.add_argument("--samples", type=int, default=200, help="latency samples")
    parser.add_argument(
        "--slow-samples",
        type=int,
        default=10,
        help="latency samples for node-resque at timeout 5000 (~5 s each; first round only)",
    )
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop for pyresque (uvloop: pip install uvloop)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile one pyresque 1-worker no-op drain and print the top costs",
    )
    options = parser.parse_args()
    run: Runner = asyncio.run
    if options.loop == "uvloop":
        import uvloop

        run = uvloop.run

    server = None
    url = options.redis
    if url is None:
        server = RedisServer()
        url = server.start()
    client = redis.Redis.from_url(url)
    try:
        best = Results()
        for i in range(options.rounds):
            merge(best, run_round(url, options, run, client, first=i == 0))
        profile = ""
        if options.profile:
            ns = namespace("py")
            fill(client, ns, "noop", options.jobs)
            profile = run(profile_pyresque(url, ns, options.jobs, client))
            clear(client, ns)
    finally:
        client.close()
        if server is not None:
            server.stop()
    report(best, options, url)
    if profile:
        print(f"cProfile, pyresque, 1 worker, {options.jobs:,} no-op jobs (tottime, s):")
        print(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
