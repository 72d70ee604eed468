"""Enqueue throughput: pyresque against node-resque 9.7.1, same Redis, same run.

    python benchmarks/enqueue.py [--jobs 20000] [--concurrency 100] [--flood 5000]
        [--million 1000000] [--chunk-size 1000] [--redis URL]

Without --redis (or $REDIS_URL) a private redis-server is started so nothing else
shares it. Prints jobs per second for each client, pyresque's ratio to node-resque, and
the Redis commands and round trips each enqueue costs (from INFO commandstats). Bulk
enqueue (``enqueue_many``, async and blocking) is set against node-resque's best concurrent
enqueue (``--flood`` promises in flight, or ``--concurrency``, whichever was faster), and a
timed ``--million``-job ``enqueue_many`` reports its rate, round trips and commands per job.
Needs `npm ci --prefix interop/node`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyresque import Queue  # noqa: E402
from pyresque.server import RedisServer  # noqa: E402
from pyresque.sync import Queue as SyncQueue  # noqa: E402


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def calls(client: redis.Redis, command: str) -> int:
    """How many times Redis ran ``command`` (INFO commandstats)."""
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def clear(client: redis.Redis, namespace: str) -> None:
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        client.delete(key)


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def bench_pyresque(
    url: str, jobs: int, concurrency: int, client: redis.Redis
) -> dict[str, Any]:
    namespace = f"bench-py-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {}
    async with Queue(url, namespace=namespace) as q:
        await q.enqueue("warm", "up")

        async def serial() -> None:
            for i in range(jobs):
                await q.enqueue("bench", "add", [i, {"n": "x"}])

        async def concurrent() -> None:
            for done in range(0, jobs, concurrency):
                await asyncio.gather(
                    *(
                        q.enqueue("bench", "add", [i, {"n": "x"}])
                        for i in range(done, min(jobs, done + concurrency))
                    )
                )

        async def delayed() -> None:
            for i in range(jobs):
                await q.enqueue_at(1_900_000_000_000 + i * 1000, "bench", "add", [i])

        async def many() -> None:
            await q.enqueue_many("bench", "add", ([i, {"n": "x"}] for i in range(jobs)))

        before = commands(client)
        results["serial"] = await timed(serial)
        results["commands_per_job"] = (commands(client) - before - 1) / jobs
        results["concurrent"] = await timed(concurrent)
        results["delayed"] = await timed(delayed)
        results["many"] = await timed(many)

    rpy = redis.asyncio.Redis.from_url(url)
    async with Queue(rpy, namespace=namespace) as q:

        async def serial_redis_py() -> None:
            for i in range(jobs):
                await q.enqueue("bench", "add", [i, {"n": "x"}])

        results["serial_redis_py_client"] = await timed(serial_redis_py)
    await rpy.aclose()

    sync = SyncQueue(url, namespace=namespace)
    start = time.perf_counter()
    for i in range(jobs):
        sync.enqueue("bench", "add", [i, {"n": "x"}])
    results["serial_sync"] = time.perf_counter() - start
    start = time.perf_counter()
    sync.enqueue_many("bench", "add", ([i, {"n": "x"}] for i in range(jobs)))
    results["many_sync"] = time.perf_counter() - start
    sync.close()

    blocking = redis.Redis.from_url(url)
    with SyncQueue(blocking, namespace=namespace) as on_client:
        start = time.perf_counter()
        for i in range(jobs):
            on_client.enqueue("bench", "add", [i, {"n": "x"}])
        results["serial_sync_redis_py_client"] = time.perf_counter() - start
    blocking.close()
    clear(client, namespace)
    return results


async def bench_million(
    url: str, jobs: int, chunk_size: int, client: redis.Redis
) -> dict[str, float]:
    """One timed ``enqueue_many`` of ``jobs`` jobs: seconds, round trips, commands."""
    namespace = f"bench-bulk-{uuid.uuid4().hex[:8]}"
    async with Queue(url, namespace=namespace) as q:
        await q.enqueue("warm", "up")
        before_commands, before_scripts = commands(client), calls(client, "evalsha")
        start = time.perf_counter()
        result = await q.enqueue_many(
            "bench", "add", ([i, {"n": "x"}] for i in range(jobs)), chunk_size=chunk_size
        )
        seconds = time.perf_counter() - start
        round_trips = calls(client, "evalsha") - before_scripts
        total = commands(client) - before_commands - 1  # the INFO call between
        assert result.enqueued == jobs and await q.length("bench") == jobs
    clear(client, namespace)
    return {"seconds": seconds, "round_trips": round_trips, "commands": total}


def bench_node(
    url: str, jobs: int, concurrency: int, flood: int, client: redis.Redis
) -> dict[str, Any]:
    namespace = f"bench-node-{uuid.uuid4().hex[:8]}"
    before = commands(client)
    done = subprocess.run(
        [
            "node",
            str(ROOT / "benchmarks" / "node_enqueue.js"),
            url,
            namespace,
            str(jobs),
            str(concurrency),
            str(flood),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    total = commands(client) - before
    results: dict[str, Any] = json.loads(done.stdout)
    # connect (SELECT, SET, GET, ...) is a handful of commands; the rest is 4 runs of jobs.
    results["commands_per_job"] = round(total / (4 * jobs), 2)
    clear(client, namespace)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--flood", type=int, default=5000, help="node-resque enqueues in flight at its best"
    )
    parser.add_argument(
        "--million",
        type=int,
        default=1_000_000,
        help="jobs of the timed enqueue_many run (0: skip it)",
    )
    parser.add_argument("--chunk-size", type=int, default=1000, help="enqueue_many chunk size")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop for pyresque (uvloop: pip install uvloop)",
    )
    options = parser.parse_args()
    run: Any = asyncio.run
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
        best_py: dict[str, float] = {}
        best_node: dict[str, float] = {}
        per_job: dict[str, Any] = {}
        for _ in range(options.rounds):
            node = bench_node(url, options.jobs, options.concurrency, options.flood, client)
            py = run(bench_pyresque(url, options.jobs, options.concurrency, client))
            per_job = {"node": node.pop("commands_per_job"), "py": py.pop("commands_per_job")}
            for k, v in node.items():
                best_node[k] = min(v, best_node.get(k, v))
            for k, v in py.items():
                best_py[k] = min(v, best_py.get(k, v))
        million = None
        if options.million:
            million = run(bench_million(url, options.million, options.chunk_size, client))
    finally:
        client.close()
        if server is not None:
            server.stop()

    jobs: int = options.jobs

    def rate(seconds: float) -> float:
        return jobs / seconds

    print(
        f"enqueue throughput, {jobs} jobs, best of {options.rounds} rounds, Redis {url}, "
        f"pyresque on {options.loop}"
    )
    print(f"  {'client and mode':56} {'jobs/s':>9} {'vs node':>8}")
    for label, key in (
        ("serial", "serial"),
        ("concurrent", "concurrent"),
        (f"concurrent ({options.flood} in flight)", "flood"),
        ("enqueueAt", "delayed"),
    ):
        print(f"  {'node-resque ' + label:56} {rate(best_node[key]):>9,.0f}")
    rows = [
        ("serial (await each)", "serial", "serial"),
        (f"concurrent ({options.concurrency} in flight)", "concurrent", "concurrent"),
        ("enqueue_at, serial", "delayed", "delayed"),
        ("serial, on a user's redis.asyncio client", "serial_redis_py_client", "serial"),
        ("serial, pyresque.sync", "serial_sync", "serial"),
        ("serial, pyresque.sync on a user's redis.Redis", "serial_sync_redis_py_client", "serial"),
    ]
    node_best = min(best_node["concurrent"], best_node["flood"])
    best_node["best"] = node_best
    rows += [
        ("enqueue_many (vs node's best concurrent)", "many", "best"),
        ("enqueue_many, pyresque.sync", "many_sync", "best"),
    ]
    for label, py_key, node_key in rows:
        ratio = best_node[node_key] / best_py[py_key]
        print(f"  {'pyresque ' + label:56} {rate(best_py[py_key]):>9,.0f} {ratio:>7.2f}x")
    print(
        f"bulk: enqueue_many {rate(best_py['many']):,.0f} jobs/s against node-resque's best "
        f"concurrent enqueue {rate(node_best):,.0f} jobs/s: "
        f"{node_best / best_py['many']:.1f}x (goal: 10x or more)"
    )
    if million is not None:
        n = options.million
        print(
            f"timed enqueue_many of {n:,} jobs (chunks of {options.chunk_size}): "
            f"{million['seconds']:.2f} s, {n / million['seconds']:,.0f} jobs/s, "
            f"{million['round_trips']:,.0f} round trips "
            f"({million['round_trips'] / n:.4f} per job), "
            f"{million['commands']:,.0f} Redis commands ({million['commands'] / n:.4f} per job, "
            "script-internal included)"
        )
    print("Redis commands per call (INFO commandstats; script-internal commands included):")
    print(
        f"  pyresque enqueue     {per_job['py']:.2f}"
        "  (EVALSHA running TYPE x2, SADD, RPUSH: 1 round trip)"
    )
    print(
        f"  node-resque average  {per_job['node']:.2f}  (enqueue MULTI SADD RPUSH EXEC:"
        " 1 round trip; enqueueAt SISMEMBER then MULTI of 3: 2 round trips)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
