"""The dashboard's pages on a large fleet: server time and Redis round trips per page.

    python benchmarks/web.py [--queues 1000] [--entries 200000] [--redis URL]

Without --redis (or $REDIS_URL) a private redis-server is started. Fills a namespace
with ``--queues`` queues (three jobs each), ``--entries`` failure entries of both peers
(as benchmarks/admin.py writes them) and fifty workers, then requests each page in
process (no network) and prints, for each: the server time (median of five requests:
rendering, encoding and Redis), Redis' own time (SLOWLOG sum), round trips and commands.
Goal: under 200 ms each.
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx  # noqa: E402
from admin import fill  # noqa: E402  (this folder is on sys.path when run)

from pyresque import Queue  # noqa: E402
from pyresque.connection import AsyncDriver, open_async_driver  # noqa: E402
from pyresque.protocol.context import Context  # noqa: E402
from pyresque.protocol.keys import KeySpace  # noqa: E402
from pyresque.protocol.plan import Batch  # noqa: E402
from pyresque.server import RedisServer  # noqa: E402
from pyresque.web import Fleet, WebConfig, create_app  # noqa: E402


class Counting(AsyncDriver):
    """A driver that counts the round trips and commands it sends."""

    def __init__(self, inner: AsyncDriver) -> None:
        self.inner = inner
        self.trips = 0
        self.commands = 0

    async def execute(self, step: Any) -> Any:
        self.trips += 1
        self.commands += len(step.steps) if isinstance(step, Batch) else 1
        return await self.inner.execute(step)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def ping(self) -> None:
        await self.inner.ping()

    def after_fork(self) -> None:
        self.inner.after_fork()

    async def open_blocking(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.open_blocking(*args, **kwargs)


def populate(client: redis.Redis, ns: str, queues: int, entries: int) -> None:
    keys = KeySpace(ns)  # key names as pyresque spells them, not spelled here
    pipe = client.pipeline(transaction=False)
    for i in range(queues):
        name = f"queue-{i:04d}"
        pipe.sadd(keys.queues(), name)
        for n in range(3):
            pipe.rpush(keys.queue(name), f'{{"class":"Job{i % 20}","queue":"{name}","args":[{n}]}}')
    for w in range(50):
        member = f"host{w}:{1000 + w}:queue-{w:04d}"
        pipe.sadd(keys.workers(), member)
        pipe.set(keys.worker_started(member), str(int(time.time())))
        pipe.set(
            keys.worker_ping(f"host{w}:{1000 + w}"),
            f'{{"time":{int(time.time())},"name":"host{w}:{1000 + w}","queues":"queue-{w:04d}"}}',
        )
    pipe.execute()
    fill(client, Context.create(ns, "node"), entries)


async def measure(
    client: redis.Redis, http: httpx.AsyncClient, counting: Counting, name: str, path: str
) -> None:
    times: list[float] = []
    server: list[float] = []
    for _ in range(5):
        client.slowlog_reset()
        counting.trips = counting.commands = 0
        started = time.perf_counter()
        reply = await http.get(path)
        times.append(time.perf_counter() - started)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
        log = client.slowlog_get(100_000)
        server.append(sum(e["duration"] for e in log if not e["command"].startswith(b"SLOWLOG")))
    print(
        f"{name:<34} server {statistics.median(times) * 1000:7.1f} ms  "
        f"redis {statistics.median(server) / 1000:7.1f} ms  round trips {counting.trips:3d}  "
        f"commands {counting.commands:5d}  {len(reply.content) / 1024:6.0f} KiB"
    )


async def run(url: str, queues: int, entries: int) -> None:
    ns = f"bench-web-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(url)
    try:
        print(f"filling {ns}: {queues} queues, {entries} failed entries, 50 workers ...")
        populate(client, ns, queues, entries)
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 200_000)
        app = create_app(WebConfig(redis=url, fleets=(Fleet(ns),), refresh_ms=0))
        board = app.state.dashboard
        counting = Counting(open_async_driver(url))
        board.queues[ns] = Queue(counting, namespace=ns)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
            base = f"/n/{ns}"
            await measure(client, http, counting, f"overview ({queues} queues)", f"{base}/")
            await measure(client, http, counting, "overview, JSON", f"/api{base}/")
            await measure(client, http, counting, "workers (50)", f"{base}/workers")
            await measure(
                client, http, counting, f"failed, first page ({entries})", f"{base}/failed"
            )
            await measure(
                client, http, counting, "failed, page 2000", f"{base}/failed?offset=100000"
            )
            await measure(
                client, http, counting, "failed, search by text", f"{base}/failed?q=order+4242"
            )
            await measure(
                client,
                http,
                counting,
                "failed, filter exception+queue",
                f"{base}/failed?exception=KeyError&queue=queue3",
            )
            await measure(client, http, counting, "queue page", f"{base}/queues/queue-0500")
            await measure(
                client, http, counting, f"metrics scrape ({queues} queues)", f"{base}/metrics"
            )
        await board.aclose()
        await counting.aclose()
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        for key in client.scan_iter(match=f"{ns}:*", count=10_000):
            client.unlink(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"))
    options = parser.parse_args()
    if options.redis:
        asyncio.run(run(options.redis, options.queues, options.entries))
        return
    with RedisServer() as server:
        asyncio.run(run(server.url, options.queues, options.entries))


if __name__ == "__main__":
    main()
