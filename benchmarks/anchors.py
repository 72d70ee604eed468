"""The anchors, in one run: pyresque beside node-resque, rq and arq on one private Redis.

    python benchmarks/anchors.py [--jobs 5000] [--rounds 3] [--samples 100] [--pin same]
        [--systems pyresque,pyresque-uvloop,node,rq,rq-simple,arq,arq-poll0]

Needs `npm ci --prefix interop/node` for node-resque and `pip install -e '.[bench]'` for rq,
arq and uvloop (benchmarks/README.md); a system that is not installed is skipped, saying why.
One redis-server is started for the run (or --redis URL); pyresque and node-resque each use
a fresh namespace per phase on db 0, rq db 1, arq db 2 (flushed between phases). Every
system runs in its own process (benchmarks/anchor_side.py, node_enqueue.js, node_work.js).

For each system and round:
* enqueue: N no-op jobs (argument: their index) through the system's own client, awaited
  one at a time (serial), then N more with --concurrency calls in flight, where the client
  is asynchronous. Each batch is the queue the next drain works.
* drain: the workers start on the filled queue; every job records its index and start time.
  Jobs/s = (N - 1) / (last start - first start): the steady rate, without process start-up.
  1 worker; and 10 at once where the system has it (pyresque: 10 Workers in one process
  sharing one connection, as a MultiWorker builds them; node-resque: 10 Workers in one
  process, as its MultiWorker builds them; arq: max_jobs 10 against max_jobs 1). Verified:
  each index ran exactly once, the queue is empty, nothing failed (and for the resque
  family stat:processed = N).
* latency: one idle worker; one job at a time, each once the worker is idle again plus a
  random 2-20 ms gap; enqueue call -> job start (time.time() in both processes).

Best of --rounds for each figure; ratios are to node-resque's figure from the same run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from pyresque.server import RedisServer  # noqa: E402

QUEUE = "bench"
NODE_MODULES = ROOT / "interop" / "node" / "node_modules"
GAP_MS = (2.0, 20.0)
# arq at its default poll_delay with max_jobs 1 takes one job per poll (~2 jobs/s): its
# 1-worker drain runs this many of the enqueued jobs (the rest are removed unrun).
TRICKLE_JOBS = 10
COLUMNS = (  # key, heading, higher is better
    ("w1", "jobs/s 1w", True),
    ("w10", "jobs/s 10", True),
    ("enq", "enq/s ser", True),
    ("enqc", "enq/s conc", True),
    ("p50", "lat p50 ms", False),
    ("p99", "lat p99 ms", False),
)


class RunFailedError(RuntimeError):
    pass


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)  # drain key -> jobs verified
    samples: int = 0

    def merge(self, other: Figures) -> None:
        for key, value in other.values.items():
            higher = dict((k, h) for k, _, h in COLUMNS)[key]
            old = self.values.get(key)
            if old is None or (value > old if higher else value < old):
                self.values[key] = value
        self.jobs.update(other.jobs)
        self.samples = max(self.samples, other.samples)


@dataclass
class Options:
    url: str
    jobs: int
    slow_jobs: int
    fork_jobs: int
    concurrency: int
    samples: int
    slow_samples: int
    node_timeout: int


# -- helpers ----------------------------------------------------------------------------------
def side(config: dict[str, Any]) -> dict[str, Any]:
    return _json_of([sys.executable, str(HERE / "anchor_side.py"), json.dumps(config)])


def node(script: str, *args: str) -> dict[str, Any]:
    return _json_of(["node", str(HERE / script), *args])


def _json_of(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RunFailedError(f"{' '.join(command[:2])} failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def with_db(url: str, db: int) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{db}"


def namespace(system: str) -> str:
    return f"anchors-{system}-{uuid.uuid4().hex[:8]}"


def clear(client: redis.Redis, ns: str) -> None:
    for key in client.scan_iter(match=f"{ns}:*", count=1000):
        client.delete(key)


def rate(jobs: int, seconds: float) -> float:
    return jobs / seconds


def steady_rate(found: dict[str, Any], jobs: int, who: str) -> float:
    """(N - 1) / (last start - first start), once the run is verified."""
    if found["ran"] != jobs or found["distinct"] != jobs:
        raise RunFailedError(
            f"{who}: {found['ran']} runs of {found['distinct']} distinct jobs, expected {jobs} "
            "jobs run exactly once"
        )
    return (jobs - 1) / (float(found["last"]) - float(found["first"]))


def check_resque(client: redis.Redis, ns: str, jobs: int, who: str) -> None:
    left = client.llen(f"{ns}:queue:{QUEUE}")
    processed = int(client.get(f"{ns}:stat:processed") or 0)
    failed = client.llen(f"{ns}:failed")
    if left or processed != jobs or failed:
        raise RunFailedError(f"{who}: {left} jobs left, {processed} processed, {failed} failed")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def latency(figures: Figures, samples: list[float]) -> None:
    figures.values["p50"] = statistics.median(samples)
    figures.values["p99"] = percentile(samples, 99)
    figures.samples = len(samples)


# -- the systems ------------------------------------------------------------------------------
def run_pyresque(o: Options, client: redis.Redis, loop: str) -> Figures:
    f = Figures()
    base = {"system": "pyresque", "url": o.url, "loop": loop}
    for key, enq_key, workers, concurrency in (("w1", "enq", 1, 0), ("w10", "enqc", 10, 100)):
        ns = namespace("py")
        c = o.concurrency if concurrency else 0
        found = side({**base, "mode": "enqueue", "namespace": ns, "jobs": o.jobs, "concurrency": c})
        f.values[enq_key] = rate(o.jobs, found["seconds"])
        found = side({**base, "mode": "drain", "namespace": ns, "jobs": o.jobs, "workers": workers})
        f.values[key] = steady_rate(found, o.jobs, f"pyresque ({loop}), {workers} workers")
        check_resque(client, ns, o.jobs, f"pyresque ({loop})")
        f.jobs[key] = o.jobs
        clear(client, ns)
    ns = namespace("py")
    found = side(
        {**base, "mode": "latency", "namespace": ns, "samples": o.samples, "gap_ms": GAP_MS}
    )
    latency(f, found["samples"])
    clear(client, ns)
    return f


def run_node(o: Options, client: redis.Redis) -> Figures:
    f = Figures()
    for key, enq_key, workers, mode in (
        ("w1", "enq", 1, "serial"),
        ("w10", "enqc", 10, "concurrent"),
    ):
        ns = namespace("node")
        found = node(
            "node_enqueue.js",
            o.url,
            ns,
            str(o.jobs),
            str(o.concurrency),
            json.dumps({"job": "noop", "modes": [mode]}),
        )
        f.values[enq_key] = rate(o.jobs, found[mode])
        config = {
            "mode": "drain",
            "url": o.url,
            "namespace": ns,
            "workers": workers,
            "jobs": o.jobs,
            "job": "noop",
            "timeout": 5000,
            "record": True,
        }
        found = node("node_work.js", json.dumps(config))
        f.values[key] = steady_rate(found, o.jobs, f"node-resque, {workers} workers")
        check_resque(client, ns, o.jobs, "node-resque")
        f.jobs[key] = o.jobs
        clear(client, ns)
    ns = namespace("node")
    config = {
        "mode": "latency",
        "url": o.url,
        "namespace": ns,
        "samples": o.samples,
        "timeout": o.node_timeout,
        "gapMin": GAP_MS[0],
        "gapMax": GAP_MS[1] + o.node_timeout,  # arrivals anywhere in its poll cycle
    }
    latency(f, [float(x) for x in node("node_work.js", json.dumps(config))["samples"]])
    clear(client, ns)
    return f


def run_rq(o: Options, client: redis.Redis, worker: str) -> Figures:
    """rq on db 1: its own enqueue (a blocking client: serial only) and burst run."""
    f = Figures()
    url = with_db(o.url, 1)
    jobs = o.fork_jobs if worker == "fork" else o.slow_jobs
    db = redis.Redis.from_url(url)
    db.flushdb()
    base = {"system": "rq", "url": url, "worker": worker}
    found = side({**base, "mode": "enqueue", "jobs": jobs})
    f.values["enq"] = rate(jobs, found["seconds"])
    record = Path(os.environ.get("TMPDIR", "/tmp")) / f"anchors-rq-{uuid.uuid4().hex[:8]}.txt"
    try:
        found = side({**base, "mode": "drain", "jobs": jobs, "record": str(record)})
    finally:
        record.unlink(missing_ok=True)
    f.values["w1"] = steady_rate(found, jobs, f"rq {worker}")
    if found["left"] or found["failed"]:
        raise RunFailedError(f"rq {worker}: {found['left']} jobs left, {found['failed']} failed")
    f.jobs["w1"] = jobs
    db.flushdb()
    found = side({**base, "mode": "latency", "samples": o.samples, "gap_ms": GAP_MS})
    latency(f, found["samples"])
    db.flushdb()
    db.close()
    return f


def run_arq(o: Options, client: redis.Redis, poll_delay: float) -> Figures:
    """arq on db 2: enqueue awaited one at a time, then concurrently; burst runs with max_jobs
    1 and 10 (its default)."""
    f = Figures()
    url = with_db(o.url, 2)
    jobs = o.jobs if poll_delay == 0 else o.slow_jobs
    db = redis.Redis.from_url(url)
    db.flushdb()
    queue = f"arq:queue:{QUEUE}"
    base = {"system": "arq", "url": url, "queue": queue, "poll_delay": poll_delay}
    for key, enq_key, max_jobs, concurrency in (("w1", "enq", 1, 0), ("w10", "enqc", 10, 1)):
        c = o.concurrency if concurrency else 0
        found = side({**base, "mode": "enqueue", "jobs": jobs, "concurrency": c})
        f.values[enq_key] = rate(jobs, found["seconds"])
        drained = jobs
        if max_jobs == 1 and poll_delay:  # one job per poll: ~2 jobs/s at 0.5 s
            drained = min(jobs, TRICKLE_JOBS)
            db.zremrangebyrank(queue, drained, -1)
        found = side({**base, "mode": "drain", "jobs": drained, "max_jobs": max_jobs})
        f.values[key] = steady_rate(found, drained, f"arq max_jobs {max_jobs}")
        if found["complete"] != drained or found["failed"] or found["left"]:
            raise RunFailedError(
                f"arq max_jobs {max_jobs}: {found['complete']} complete, {found['failed']} "
                f"failed, {found['left']} left"
            )
        f.jobs[key] = drained
        db.flushdb()
    samples = o.samples if poll_delay == 0 else o.slow_samples
    gap = (GAP_MS[0], GAP_MS[1] + poll_delay * 1000)  # arrivals anywhere in its poll cycle
    found = side({**base, "mode": "latency", "samples": samples, "max_jobs": 10, "gap_ms": gap})
    latency(f, found["samples"])
    db.flushdb()
    db.close()
    return f


@dataclass
class System:
    key: str
    label: str
    run: Callable[[Options, redis.Redis], Figures]
    missing: Callable[[], str | None]


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def node_resque_version() -> str:
    try:
        found = json.loads((NODE_MODULES / "node-resque" / "package.json").read_text())
        return str(found["version"])
    except OSError:
        return "?"


def module_missing(module: str, extra: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[{extra}]')"
        return None

    return missing


def node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_MODULES / "node-resque").is_dir():
        return "node-resque is not installed (npm ci --prefix interop/node)"
    return None


def systems() -> list[System]:
    rq, arq = version("rq"), version("arq")
    return [
        System("pyresque", f"pyresque {version('pyresque')} (asyncio)",
               lambda o, c: run_pyresque(o, c, "asyncio"), lambda: None),
        System("pyresque-uvloop", f"pyresque {version('pyresque')} (uvloop)",
               lambda o, c: run_pyresque(o, c, "uvloop"), module_missing("uvloop", "fast")),
        System("node", f"node-resque {node_resque_version()}", run_node, node_missing),
        System("rq", f"rq {rq} Worker (forking)",
               lambda o, c: run_rq(o, c, "fork"), module_missing("rq", "bench")),
        System("rq-simple", f"rq {rq} SimpleWorker",
               lambda o, c: run_rq(o, c, "simple"), module_missing("rq", "bench")),
        System("arq", f"arq {arq} (poll_delay 0.5 s, default)",
               lambda o, c: run_arq(o, c, 0.5), module_missing("arq", "bench")),
        System("arq-poll0", f"arq {arq} (poll_delay 0)",
               lambda o, c: run_arq(o, c, 0.0), module_missing("arq", "bench")),
    ]  # fmt: skip


def pin(how: str, server_pid: int | None) -> str:
    """Place redis-server and this process (whose children inherit it) on CPUs. Serial round
    trips between two cores are several times slower than on one core on a VM whose idle
    vCPUs sleep, so where the scheduler happens to put the two decides the figures."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if how == "none" or len(cpus) < 2 or server_pid is None:
        return "CPU placement: scheduler's"
    server_cpu, mine = cpus[0], cpus[0] if how == "same" else cpus[1]
    os.sched_setaffinity(server_pid, {server_cpu})
    os.sched_setaffinity(0, {mine})
    return f"CPU placement: redis-server on CPU {server_cpu}, the systems on CPU {mine}"


# -- the report -------------------------------------------------------------------------------
def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), load {load}"


def cell(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def report(
    results: dict[str, Figures],
    labels: dict[str, str],
    skipped: list[tuple[str, str]],
    o: Options,
    rounds: int,
    info: str,
    seconds: float,
) -> None:
    print(info)
    print(
        f"Best of {rounds} round(s); {o.jobs:,} no-op jobs per drain and per enqueue "
        f"(rq SimpleWorker and arq at poll_delay 0.5: {o.slow_jobs:,}; rq forking Worker: "
        f"{o.fork_jobs:,}; arq at poll_delay 0.5 with max_jobs 1 takes one job per poll: "
        f"{TRICKLE_JOBS}); concurrent enqueue {o.concurrency} in flight; latency "
        f"{o.samples} samples (arq at poll_delay 0.5: {o.slow_samples}), each after the "
        f"worker is idle again and a random gap of {GAP_MS[0]:.0f}-{GAP_MS[1]:.0f} ms plus "
        f"up to one poll period for polling workers; node-resque latency at timeout "
        f"{o.node_timeout} ms (at its default 5000 the p50 is ~2.5 s)."
    )
    width = max(len(label) for label in labels.values())
    head = "| " + "system".ljust(width) + " | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rule = (
        "|"
        + "-" * (width + 2)
        + "|"
        + "|".join("-" * (len(h) + 1) + ":" for _, h, _ in COLUMNS)
        + "|"
    )

    def table(value: Callable[[str, str], float | None]) -> None:
        print(head)
        print(rule)
        for key, figures in results.items():
            del figures
            row = [cell(value(key, k)).rjust(len(h)) for k, h, _ in COLUMNS]
            print("| " + labels[key].ljust(width) + " | " + " | ".join(row) + " |")

    print()
    table(lambda key, k: results[key].values.get(k))
    base = results.get("node")
    if base is not None:
        print()
        print("Ratio to node-resque (same run; throughput: higher is better, latency: lower):")
        print()

        def ratio(key: str, k: str) -> float | None:
            mine, theirs = results[key].values.get(k), base.values.get(k)
            if mine is None or not theirs:
                return None
            return mine / theirs

        table(ratio)
    print()
    for key, figures in results.items():
        counts = ", ".join(f"{k} {n:,}" for k, n in figures.jobs.items())
        print(f"verified {labels[key]}: every job of each drain ran exactly once ({counts})")
    for key, reason in skipped:
        print(f"skipped {key}: {reason}")
    print(f"run took {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5_000, help="no-op jobs per drain/enqueue")
    parser.add_argument(
        "--slow-jobs",
        type=int,
        help="jobs for rq's SimpleWorker and arq at its default poll_delay (default: jobs / 5)",
    )
    parser.add_argument(
        "--fork-jobs", type=int, help="jobs for rq's forking Worker (default: jobs / 10)"
    )
    parser.add_argument("--concurrency", type=int, default=100, help="enqueue calls in flight")
    parser.add_argument("--samples", type=int, default=100, help="latency samples")
    parser.add_argument(
        "--slow-samples", type=int, default=20, help="latency samples, arq at poll_delay 0.5"
    )
    parser.add_argument(
        "--node-timeout", type=int, default=100, help="node-resque's poll timeout, latency (ms)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument(
        "--systems",
        default=",".join(s.key for s in systems()),
        help="comma-separated, from: " + ", ".join(s.key for s in systems()),
    )
    parser.add_argument(
        "--pin",
        choices=("same", "split", "none"),
        default="same",
        help="CPU placement: redis-server and every system's processes on one core (same, the "
        "default: steady figures), redis-server on one and the systems on another (split), "
        "or wherever the scheduler puts them (none)",
    )
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    chosen = [k.strip() for k in args.systems.split(",") if k.strip()]
    known = {s.key: s for s in systems()}
    unknown = [k for k in chosen if k not in known]
    if unknown:
        parser.error(f"unknown systems: {', '.join(unknown)}")
    run: list[System] = []
    skipped: list[tuple[str, str]] = []
    for key in chosen:
        reason = known[key].missing()
        if reason is None:
            run.append(known[key])
        else:
            skipped.append((key, reason))
            print(f"skipping {key}: {reason}", flush=True)

    server = None
    url = args.redis
    if url is None:
        server = RedisServer()
        url = server.start()
    placement = pin(args.pin, server.pid if server is not None else None)
    options = Options(
        url=url,
        jobs=args.jobs,
        slow_jobs=args.slow_jobs or max(2, args.jobs // 5),
        fork_jobs=args.fork_jobs or max(2, args.jobs // 10),
        concurrency=args.concurrency,
        samples=args.samples,
        slow_samples=args.slow_samples,
        node_timeout=args.node_timeout,
    )
    client = redis.Redis.from_url(url)
    started = time.monotonic()
    results: dict[str, Figures] = {s.key: Figures() for s in run}
    try:
        redis_version = client.info("server")["redis_version"]
        node_version = ""
        if shutil.which("node"):
            node_version = subprocess.run(
                ["node", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
        info = (
            f"anchors {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {machine()}; "
            f"Redis {redis_version} at {url}; Python {platform.python_version()} (redis-py "
            f"{version('redis')}, hiredis {version('hiredis')}); node {node_version or '—'}; "
            f"{placement}"
        )
        for n in range(args.rounds):
            for system in run:
                print(f"round {n + 1}/{args.rounds}: {system.label} ...", end="", flush=True)
                began = time.monotonic()
                results[system.key].merge(system.run(options, client))
                print(f" {time.monotonic() - began:.0f} s", flush=True)
    finally:
        client.close()
        if server is not None:
            server.stop()
    print()
    labels = {s.key: s.label for s in run}
    report(results, labels, skipped, options, args.rounds, info, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
