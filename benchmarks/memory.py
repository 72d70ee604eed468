"""Memory: the resident set of idle worker processes, and of one pyresque worker over a
million jobs.

    python benchmarks/memory.py [--growth-jobs 1000000] [--points 4] [--settle 2]
                                [--loop asyncio|uvloop] [--skip-idle] [--skip-growth]

Without --redis (or $REDIS_URL) a private redis-server is started. Every figure is VmRSS
from /proc/<pid>/status of the worker's own process (Linux only), in MB (10^6 bytes).

* idle: each process is started, waits until it has registered its worker(s) in Redis, is
  left --settle seconds, then measured and stopped with SIGTERM. pyresque: `pyresque worker`
  with 1 worker and with a MultiWorker of 10 (--min 10 --max 10), and a task app node
  (`pyresque start --app examples/app`: its scheduler and 1-3 task processors, as the
  example ships); node-resque 9.7.1: one Worker, and a MultiWorker of 10
  (benchmarks/node_idle.js); where installed (the bench extra), `rq worker` and `arq`.
* growth: one `pyresque worker` (1 worker) runs --growth-jobs no-op jobs, enqueued in
  --points equal parts with pipelined RPUSH of identical payloads; after each part has run
  (queue empty, stat:processed counted), its RSS is read. Checked at the end: every job
  processed, none failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from pyresque.server import RedisServer  # noqa: E402

QUEUE = "bench"
NODE_MODULES = ROOT / "interop" / "node" / "node_modules"
PAYLOAD = json.dumps({"class": "noop", "queue": QUEUE, "args": []}, separators=(",", ":"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_for(test: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not test():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after 60 s")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pyresque_worker(url: str, ns: str, loop: str, *more: str) -> list[str]:
    return [
        sys.executable, "-m", "pyresque", "worker",
        "--redis", url, "--namespace", ns, "--queues", QUEUE,
        "--jobs", "anchor_jobs:PYRESQUE_JOBS", "--loop", loop, "--log-level", "warning",
        *more,
    ]  # fmt: skip


def idle_rows(url: str, loop: str, settle: float) -> list[tuple[str, float | str]]:
    """(label, MB or the reason it was skipped)."""
    client = redis.Redis.from_url(url)
    rows: list[tuple[str, float | str]] = []

    def measure(
        label: str, command: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None
    ) -> None:
        process = subprocess.Popen(
            command,
            cwd=HERE,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(ready, process, label)
            time.sleep(settle)
            rows.append((label, rss_mb(process.pid)))
        finally:
            stop(process)

    def registered(key: str, count: int) -> Callable[[], bool]:
        return lambda: client.scard(key) >= count

    ns = f"anchors-mem-{uuid.uuid4().hex[:8]}"
    measure(
        f"pyresque worker, 1 worker ({loop})",
        pyresque_worker(url, ns, loop),
        registered(f"{ns}:workers", 1),
    )
    ns = f"anchors-mem-{uuid.uuid4().hex[:8]}"
    measure(
        f"pyresque worker, MultiWorker of 10 ({loop})",
        pyresque_worker(url, ns, loop, "--min", "10", "--max", "10"),
        registered(f"{ns}:workers", 10),
    )
    ns = f"anchors-mem-{uuid.uuid4().hex[:8]}"
    measure(
        "pyresque start --app examples/app (task node)",
        [sys.executable, "-m", "pyresque", "start", "--app", str(ROOT / "examples" / "app"),
         "--log-level", "warning"],
        registered(f"{ns}:workers", 1),
        {"PYRESQUE_REDIS_URL": url, "PYRESQUE_NAMESPACE": ns},
    )  # fmt: skip
    if shutil.which("node") and (NODE_MODULES / "node-resque").is_dir():
        for label, multi, workers in (
            ("node-resque Worker", False, 1),
            ("node-resque MultiWorker of 10", True, 10),
        ):
            ns = f"anchors-mem-{uuid.uuid4().hex[:8]}"
            config = {"url": url, "namespace": ns, "multi": multi, "workers": workers}
            measure(
                label,
                ["node", str(HERE / "node_idle.js"), json.dumps(config)],
                registered(f"{ns}:workers", workers),
            )
    else:
        rows.append(("node-resque", "skipped: node or interop/node/node_modules missing"))
    bin_dir = Path(sys.executable).parent
    if importlib.util.find_spec("rq") is not None:
        db1 = url.rpartition("/")[0] + "/1"
        redis.Redis.from_url(db1).flushdb()
        measure(
            "rq worker (forking; the parent, idle)",
            [str(bin_dir / "rq"), "worker", "--url", db1, "--logging_level", "WARNING", QUEUE],
            lambda: redis.Redis.from_url(db1).scard("rq:workers") >= 1,
        )
    else:
        rows.append(("rq worker", "skipped: rq is not installed (pip install -e '.[bench]')"))
    if importlib.util.find_spec("arq") is not None:
        db2 = url.rpartition("/")[0] + "/2"
        arq_db = redis.Redis.from_url(db2)
        arq_db.flushdb()
        measure(
            "arq worker (max_jobs 10)",
            [str(bin_dir / "arq"), "anchor_jobs.ArqSettings"],
            lambda: bool(arq_db.keys("*health-check*")),
            {"ANCHORS_REDIS": db2},
        )
    else:
        rows.append(("arq worker", "skipped: arq is not installed (pip install -e '.[bench]')"))
    client.close()
    return rows


def growth(url: str, loop: str, total: int, points: int) -> list[tuple[int, float, float]]:
    """(jobs run, MB, seconds since the first job was enqueued) at 0 and after each part."""
    client = redis.Redis.from_url(url)
    ns = f"anchors-growth-{uuid.uuid4().hex[:8]}"
    key = f"{ns}:queue:{QUEUE}"
    process = subprocess.Popen(pyresque_worker(url, ns, loop), cwd=HERE, stdout=subprocess.DEVNULL)
    found: list[tuple[int, float, float]] = []
    try:
        wait_for(lambda: client.scard(f"{ns}:workers") >= 1, process, "pyresque worker")
        time.sleep(1)
        found.append((0, rss_mb(process.pid), 0.0))
        start = time.monotonic()
        client.sadd(f"{ns}:queues", QUEUE)
        done = 0
        for part in range(points):
            target = total * (part + 1) // points
            for _ in range(done, target, 10_000):
                chunk = min(10_000, target - done)
                client.rpush(key, *([PAYLOAD] * chunk))
                done += chunk

            def finished(target: int = target) -> bool:
                processed = int(client.get(f"{ns}:stat:processed") or 0)
                return processed >= target and client.llen(key) == 0

            while not finished():
                if process.poll() is not None:
                    raise RuntimeError(f"the worker exited with {process.returncode}")
                time.sleep(0.1)
            time.sleep(0.5)  # the last job's settlement
            found.append((target, rss_mb(process.pid), time.monotonic() - start))
        processed = int(client.get(f"{ns}:stat:processed") or 0)
        failed = int(client.get(f"{ns}:stat:failed") or 0)
        if processed != total or failed:
            raise RuntimeError(f"{processed} processed, {failed} failed, expected {total}")
    finally:
        stop(process)
        for k in client.scan_iter(match=f"{ns}:*", count=1000):
            client.delete(k)
        client.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--growth-jobs", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=4, help="RSS readings after 0 jobs and ...")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before reading")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-growth", action="store_true")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        parser.error("needs Linux's /proc/<pid>/status")
    server = None
    url = args.redis
    if url is None:
        server = RedisServer()
        url = server.start()
    try:
        if not args.skip_idle:
            print(f"Idle worker processes, VmRSS after {args.settle:g} s idle:\n")
            print("| process | RSS MB |")
            print("|---|---:|")
            for label, value in idle_rows(url, args.loop, args.settle):
                shown = f"{value:.1f}" if isinstance(value, float) else value
                print(f"| {label} | {shown} |", flush=True)
        if not args.skip_growth:
            print()
            print(
                f"One pyresque worker ({args.loop}), {args.growth_jobs:,} no-op jobs "
                f"in {args.points} parts, VmRSS once each part has run:\n"
            )
            print("| jobs run | RSS MB | since first enqueue (s) |")
            print("|---:|---:|---:|")
            for jobs, mb, seconds in growth(url, args.loop, args.growth_jobs, args.points):
                print(f"| {jobs:,} | {mb:.1f} | {seconds:.0f} |", flush=True)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
