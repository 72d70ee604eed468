"""Fleet scrape cost: how long a /metrics scrape of a big namespace takes, and what it asks
of Redis.

    python benchmarks/metrics.py [--queues 1000] [--failed 200000] [--workers 50]
                                 [--scrapes 5] [--redis URL]

Without --redis (or $REDIS_URL) a private redis-server is started. One namespace is filled
with ``--queues`` queues (1 to 3 jobs each), ``--failed`` failed entries (node-resque's and
Ruby resque's shapes, ~600 bytes each with their backtraces, over 50 queues and 20
classes), ``--workers`` registered workers and 100 delayed jobs. Then, each timed from the
call to the encoded body (what a scraper waits for):

* first scrape: starts counting the failed list (20,000 entries a scrape, the default
  budget), then the scrapes until it is all counted; and one scrape counting it all at once
  (no budget);
* next scrape: nothing changed (the median of ``--scrapes``);
* after 1,000 new failures: reads the new tail only;
* after a removal from the failed list: starts a recount;
* with the failed list empty: the 1,000 queues alone.

For each: seconds, round trips in sequence, and Redis commands (INFO commandstats delta).
Goal: a steady scrape under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyresque import Queue  # noqa: E402
from pyresque.metrics import FleetCollector, exposition  # noqa: E402
from pyresque.protocol.keys import KeySpace  # noqa: E402
from pyresque.server import RedisServer  # noqa: E402


def failed_entry(i: int) -> bytes:
    trace = [f"/srv/app/jobs/job{i % 20}.rb:{10 + k}:in `perform'" for k in range(6)]
    entry: dict[str, Any] = {
        "failed_at": "2026/12/01 10:00:00 UTC",
        "payload": {"class": f"Job{i % 20}", "args": [i, {"user": i * 7, "note": "x" * 40}]},
        "exception": "RuntimeError",
        "error": f"failure number {i}",
        "backtrace": trace,
        "worker": f"box{i % 5}:{1000 + i % 7}:q{i % 50}",
        "queue": f"q{i % 50}",
    }
    if i % 2:  # node-resque's shape: its queue in the payload too, worker by name
        entry["payload"]["queue"] = entry["queue"]
        entry["worker"] = f"box{i % 5}:{1000 + i % 7}"
    return json.dumps(entry, separators=(",", ":")).encode()


def fill(client: redis.Redis, keys: KeySpace, options: argparse.Namespace) -> None:
    pipe = client.pipeline(transaction=False)
    for q in range(options.queues):
        name = f"queue{q}"
        pipe.sadd(keys.queues(), name)
        for j in range(1 + q % 3):
            pipe.rpush(keys.queue(name), json.dumps({"class": "Job", "args": [q, j]}))
    pipe.execute()
    batch: list[bytes] = []
    for i in range(options.failed):
        batch.append(failed_entry(i))
        if len(batch) == 5000:
            client.rpush(keys.failed(), *batch)
            batch = []
    if batch:
        client.rpush(keys.failed(), *batch)
    now = int(time.time())
    for w in range(options.workers):
        member = f"box:{2000 + w}"
        pipe.sadd(keys.workers(), f"{member}:queue{w}")
        pipe.set(keys.worker_started(member), str(now))
        pipe.set(keys.worker_ping(member), json.dumps({"time": now, "name": member}))
    for d in range(100):
        at = now + (d - 50) * 60
        pipe.zadd(keys.schedule(), {str(at): at})
        pipe.rpush(keys.delayed(at), json.dumps({"class": "Later", "args": [d], "queue": "q"}))
    pipe.execute()


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def timed(fleet: FleetCollector, client: redis.Redis) -> dict[str, float]:
    before = commands(client)
    began = time.perf_counter()
    body, _ = await exposition(fleet)
    seconds = time.perf_counter() - began
    after = commands(client) - 1  # the INFO above
    assert b"resque_up 1.0" in body, body[-500:]
    return {
        "seconds": round(seconds, 4),
        "round_trips": fleet.round_trips,
        "commands": after - before,
        "bytes": len(body),
    }


async def run(url: str, options: argparse.Namespace) -> dict[str, Any]:
    namespace = f"bench-metrics-{uuid.uuid4().hex[:8]}"
    keys = KeySpace(namespace)
    client = redis.Redis.from_url(url)
    try:
        fill(client, keys, options)
        results: dict[str, Any] = {}
        async with Queue(url, namespace=namespace) as queue:
            fleet = FleetCollector(queue, timeout=120)
            results["first scrape (starts counting)"] = await timed(fleet, client)
            catching_up = 1
            while fleet.failed.behind:
                await timed(fleet, client)
                catching_up += 1
            results[f"counted after {catching_up} scrapes; the next"] = await timed(fleet, client)
            unlimited = FleetCollector(queue, timeout=120)
            unlimited.failed.budget = None
            results["one scrape counting it all (no budget)"] = await timed(unlimited, client)
            steady = [await timed(fleet, client) for _ in range(options.scrapes)]
            median = statistics.median(s["seconds"] for s in steady)
            results["next scrape (median)"] = {**steady[0], "seconds": median}
            client.rpush(keys.failed(), *(failed_entry(i) for i in range(1000)))
            results["after 1,000 new failures"] = await timed(fleet, client)
            client.lrem(keys.failed(), 1, failed_entry(5).decode())
            results["after a removal (recount starts)"] = await timed(fleet, client)
            client.delete(keys.failed())
            await timed(fleet, client)
            results["failed list empty"] = await timed(fleet, client)
        return results
    finally:
        for key in client.scan_iter(f"{namespace}:*", count=5000):
            client.delete(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--failed", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    options = parser.parse_args()
    server = None
    url = options.redis
    if url is None:
        server = RedisServer()
        url = server.start()
    try:
        results = asyncio.run(run(url, options))
    finally:
        if server is not None:
            server.stop()
    print(f"{options.queues} queues, {options.failed} failed entries, {options.workers} workers")
    for name, figures in results.items():
        print(
            f"  {name:<40} {figures['seconds'] * 1000:9.1f} ms  "
            f"{figures['round_trips']:3d} round trips  {figures['commands']:5d} commands  "
            f"{figures['bytes']:7d} bytes"
        )


if __name__ == "__main__":
    main()
