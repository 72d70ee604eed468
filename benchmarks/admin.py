"""The fleet API on a large failed list: a page, searches and a bulk action.

    python benchmarks/admin.py [--entries 200000] [--redis URL]

Without --redis (or $REDIS_URL) a private redis-server is started. Fills a namespace's
failed list with node-resque and Ruby resque entries (about 600 bytes each, a backtrace
of eight lines), then prints, for each operation: the wall time, Redis' own time (the sum
of SLOWLOG durations of every top-level command it ran, slowlog-log-slower-than 0), the
longest single command (how long Redis was busy at one go), round trips and matches.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyresque.connection import open_sync_driver  # noqa: E402
from pyresque.protocol.context import Context  # noqa: E402
from pyresque.protocol.failures import failure_entry  # noqa: E402
from pyresque.protocol.plan import Batch, Plan, run_plan_sync  # noqa: E402
from pyresque.protocol.plans import fleet_failed  # noqa: E402
from pyresque.protocol.plans.fleet_failed import FailedFilter  # noqa: E402
from pyresque.server import RedisServer  # noqa: E402

EXCEPTIONS = ["RuntimeError", "Resque::DirtyExit", "TypeError", "Net::ReadTimeout", "KeyError"]
CLASSES = [f"Billing::Job{i}" for i in range(20)]


def fill(client: redis.Redis, ctx: Context, entries: int) -> None:
    pipe = client.pipeline(transaction=False)
    batch: list[bytes] = []
    for i in range(entries):
        dialect = "ruby" if i % 2 else "node"
        peer = Context.create(ctx.keys.namespace, dialect, clock=lambda: 1_796_465_100.0)
        queue = f"queue{i % 7}"
        payload: dict[str, Any] = {"class": CLASSES[i % 20], "args": [i, f"user-{i % 1000}"]}
        if dialect == "node":
            payload = {"class": CLASSES[i % 20], "queue": queue, "args": payload["args"]}
        exception = EXCEPTIONS[i % 5]
        entry = failure_entry(
            peer, worker=f"host{i % 9}:{1000 + i % 50}", queue=queue, payload=payload,
            exception=exception, error=f"{exception} while charging order {i}",
            backtrace=[f"/app/lib/billing/step{n}.rb:{i % 300}:in `run'" for n in range(8)],
        )  # fmt: skip
        batch.append(peer.dialect.dumps(entry))
        if len(batch) == 5000:
            pipe.rpush(ctx.keys.failed(), *batch)
            pipe.execute()
            batch = []
    if batch:
        pipe.rpush(ctx.keys.failed(), *batch)
        pipe.execute()


def measure(client: redis.Redis, driver: Any, name: str, plan: Plan[Any]) -> Any:
    trips = 0
    commands = 0

    def execute(step: Any) -> Any:
        nonlocal trips, commands
        trips += 1
        commands += len(step.steps) if isinstance(step, Batch) else 1
        return driver.execute(step)

    client.slowlog_reset()
    started = time.perf_counter()
    result = run_plan_sync(plan, execute)
    wall = time.perf_counter() - started
    log = client.slowlog_get(100_000)
    durations = [
        e["duration"] for e in log if b"SLOWLOG" not in b" ".join(e["command"].split()[:1])
    ]
    matched = getattr(result, "matched", result)
    print(
        f"{name:<48} wall {wall * 1000:8.1f} ms  server {sum(durations) / 1000:8.1f} ms  "
        f"longest {max(durations, default=0) / 1000:6.2f} ms  round trips {trips:4d}  "
        f"commands {commands:5d}  result {matched}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    options = parser.parse_args()
    server = None
    url = options.redis
    if url is None:
        server = RedisServer()
        url = server.start()
    client = redis.Redis.from_url(url)
    namespace = f"bench-admin-{uuid.uuid4().hex[:8]}"
    ctx = Context.create(namespace)
    driver = open_sync_driver(url)
    config = {str(k): str(v) for k, v in client.config_get("slowlog-*").items()}
    try:
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 100_000)
        fill(client, ctx, options.entries)
        size = client.memory_usage(ctx.keys.failed()) or 0
        print(f"failed list: {client.llen(ctx.keys.failed())} entries, {size / 1e6:.0f} MB")
        measure(client, driver, "page 0 (50 entries)", fleet_failed.page(ctx, 0, 50))
        measure(client, driver, "page 3000 (50 entries)", fleet_failed.page(ctx, 150_000, 50))
        searches = {
            "search exception=Resque::DirtyExit": FailedFilter(exception="Resque::DirtyExit"),
            "search class+queue+exception": FailedFilter(
                queue="queue3", job_class="Billing::Job7", exception="TypeError"
            ),
            "search text 'order 199999'": FailedFilter(text="order 199999"),
            "search text 'user-42\"' (0.1%)": FailedFilter(text='user-42"'),
            "search exception + text 'step3.rb:18:'": FailedFilter(
                exception="Net::ReadTimeout", text="step3.rb:18:"
            ),
        }
        for name, where in searches.items():
            measure(client, driver, name, fleet_failed.search(ctx, where, 0, 50))
        measure(
            client,
            driver,
            "remove_matching text 'user-42\"'",
            fleet_failed.act_matching(ctx, FailedFilter(text='user-42"'), "remove"),
        )
    finally:
        client.delete(ctx.keys.failed())
        for key, value in config.items():
            client.config_set(key, value)
        driver.close()
        client.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
