"""No-op jobs per second with ``pyresque worker --processes N``, beside node-resque 9.7.1.

    python benchmarks/processes.py [--jobs 40000] [--processes 1,2] [--rounds 3]
                                   [--redis URL] [--loop auto|asyncio|uvloop]

Each phase fills a fresh namespace's queue with ``--jobs`` no-op jobs, then starts the
workers: ``pyresque worker --burst --processes N`` (the real command, one run per N), and
node-resque's side as benchmarks/work.py runs it (``node_work.js``: N Workers in one node
process, built as its ``MultiWorker`` with min = max = N builds them), with 1 and 10
workers. The rate is measured the same way for both, from outside: ``stat:processed`` is
read every 5 ms, and jobs/s = (jobs done between the first reading above 0 and the last
job) / that time, so process start-up (imports, forks, connecting) is left out.

Without --redis (or $REDIS_URL) a private redis-server is started. Best of --rounds.
Needs `npm ci --prefix interop/node`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyresque.server import RedisServer  # noqa: E402

QUEUE = "bench"
JOBS_MODULE = "async def noop():\n    return None\n\n\nJOBS = {'noop': noop}\n"


def fill(client: redis.Redis, namespace: str, jobs: int) -> None:
    payload = json.dumps({"class": "noop", "queue": QUEUE, "args": []}, separators=(",", ":"))
    client.sadd(f"{namespace}:queues", QUEUE)
    for done in range(0, jobs, 5000):
        client.rpush(f"{namespace}:queue:{QUEUE}", *([payload] * min(5000, jobs - done)))


def clear(client: redis.Redis, namespace: str) -> None:
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        client.delete(key)


def timed(
    client: redis.Redis, namespace: str, jobs: int, start: Callable[[], subprocess.Popen[bytes]]
) -> float:
    """jobs/s of the workers ``start()`` runs, read from ``stat:processed``."""
    key = f"{namespace}:stat:processed"
    process = start()
    try:
        first = None
        while True:
            done = int(client.get(key) or 0)
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done)
            if done >= jobs:
                break
            if process.poll() is not None and int(client.get(key) or 0) < jobs:
                raise RuntimeError(f"the workers exited with {process.returncode} before the end")
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(60)
    assert first is not None
    if client.llen(f"{namespace}:failed") or client.llen(f"{namespace}:queue:{QUEUE}"):
        raise RuntimeError("jobs failed or were left")
    return (jobs - first[1]) / (now - first[0])


def pyresque(
    url: str, namespace: str, processes: int, loop: str, folder: Path
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pyresque", "worker", "--burst", "--processes", str(processes),
            "--queues", QUEUE, "--jobs", "bench_jobs:JOBS", "--redis", url,
            "--namespace", namespace, "--log-level", "warning", "--loop", loop]  # fmt: skip
    return subprocess.Popen(argv, cwd=folder)


def node(url: str, namespace: str, workers: int, jobs: int) -> subprocess.Popen[bytes]:
    config = {"mode": "drain", "url": url, "namespace": namespace, "workers": workers,
              "jobs": jobs, "job": "noop", "timeout": 5000}  # fmt: skip
    script = ROOT / "benchmarks" / "node_work.js"
    return subprocess.Popen(["node", str(script), json.dumps(config)], stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=40_000, help="no-op jobs per phase")
    parser.add_argument("--processes", default="1,2", help="pyresque --processes values")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    options = parser.parse_args()
    counts = [int(n) for n in options.processes.split(",")]
    server = None if options.redis else RedisServer()
    url = options.redis or server.start()  # type: ignore[union-attr]
    client = redis.Redis.from_url(url)
    best: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "bench_jobs.py").write_text(JOBS_MODULE)
            phases: list[tuple[str, Callable[[str], subprocess.Popen[bytes]]]] = []
            for n in counts:
                run = partial(pyresque, url, processes=n, loop=options.loop, folder=Path(folder))
                phases.append((f"pyresque --processes {n}", run))
            for w in (1, 10):
                label = f"node-resque, {w} worker{'s' if w > 1 else ''} (MultiWorker min=max={w})"
                phases.append((label, partial(node, url, workers=w, jobs=options.jobs)))
            for _ in range(options.rounds):
                for label, start in phases:
                    namespace = f"bench-procs-{uuid.uuid4().hex[:8]}"
                    fill(client, namespace, options.jobs)
                    try:
                        rate = timed(client, namespace, options.jobs, partial(start, namespace))
                    finally:
                        clear(client, namespace)
                    best[label] = max(best.get(label, 0.0), rate)
    finally:
        client.close()
        if server is not None:
            server.stop()
    print(f"no-op jobs/s, {options.jobs} jobs, best of {options.rounds}, {os.cpu_count()} cores, "
          f"pyresque loop {options.loop}")  # fmt: skip
    base = best[f"pyresque --processes {counts[0]}"]
    node_best = max(v for k, v in best.items() if k.startswith("node"))
    for label, rate in best.items():
        note = ""
        if label.startswith("pyresque"):
            note = f"  x{rate / base:.2f} of --processes {counts[0]}"
            note += f", x{rate / node_best:.2f} of node's best"
        print(f"  {label:<48} {rate:>9,.0f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
