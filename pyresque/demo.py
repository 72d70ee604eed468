"""``pyresque demo``: enqueue normal and delayed jobs, then show the state two ways:
as node-resque's Queue reports it and as Ruby resque / resque-scheduler report it; then
work the jobs that are due with pyresque workers (one per dialect) and show the state again.

Redis: ``--redis`` or ``$REDIS_URL`` if given; else the one on 127.0.0.1:6379 if it
answers; else a private ``redis-server`` started on a loopback port for the demo.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from typing import Any

import redis.asyncio

from pyresque.errors import PyresqueError
from pyresque.queue import Queue
from pyresque.server import RedisServer, redis_answers
from pyresque.worker import Worker
from pyresque.worker.runner import run_until_signalled

__all__ = ["run_demo"]

NAMESPACE = "pyresque-demo"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


# The demo's jobs. `async def` so their lines print in order with the workers' own.
async def add(a: float, b: float) -> float:
    print(f"    add: {a} + {b} = {a + b}")
    return a + b


async def send_welcome(message: dict[str, str]) -> None:
    print(f"    SendWelcome: would email {message.get('name')} at {message.get('to')}")


async def daily_report(day: str) -> None:
    print(f"    Reports::Daily: would build the report for {day}")


async def _reset(url: str, queue: Queue) -> None:
    """Start from empty queues, no delayed jobs, zero stats and no failures."""
    for name in await queue.queues():
        await queue.delete_queue(name)
    for ts in await queue.timestamps():
        for job in (await queue.delayed_at(ts)).tasks:
            await queue.delete_delayed(job.get("queue", ""), job["class"], job["args"])
    keys = queue.context.keys
    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.delete(keys.stat("processed"), keys.stat("failed"), keys.failed())
    finally:
        await client.aclose()


def _finished(dialect: str, queue: str, job: dict[str, Any], result: Any, ms: float) -> None:
    """A worker's ``success`` event."""
    shown = _show(job.get("args")) + ("" if result is None else f" -> {_show(result)}")
    print(f"  finished   {queue:<8} {job.get('class', ''):<16} {shown:<44} ({dialect} worker)")


async def _work(url: str) -> None:
    print(
        "\nWorking the jobs due now with pyresque workers, in burst mode (they stop once their"
        "\nqueues are empty): node dialect on math,email; ruby dialect on reports."
    )
    node_jobs = {"add": add, "SendWelcome": send_welcome}
    workers = [
        Worker(url, ["math", "email"], node_jobs, namespace=NAMESPACE, dialect="node"),
        Worker(
            url, ["reports"], {"Reports::Daily": daily_report}, namespace=NAMESPACE, dialect="ruby"
        ),
    ]
    for worker in workers:
        worker.on("success", functools.partial(_finished, worker.context.dialect.name))
    if await run_until_signalled(workers, burst=True):
        raise PyresqueError("a demo worker failed (see the log above)")


async def _demo(url: str) -> None:
    node = Queue(url, namespace=NAMESPACE, dialect="node")
    ruby = Queue(url, namespace=NAMESPACE, dialect="ruby")
    try:
        await _reset(url, node)

        print(f"\nEnqueued in namespace {NAMESPACE!r}:")
        jobs: list[tuple[Queue, str, str, list[Any]]] = [
            (node, "math", "add", [1, 2]),
            (node, "math", "add", [3, 4.5]),
            (node, "email", "SendWelcome", [{"to": "ada@example.com", "name": "Ada"}]),
            (ruby, "reports", "Reports::Daily", ["2026-11-28"]),
        ]
        for queue, name, cls, args in jobs:
            await queue.enqueue(name, cls, args)
            print(
                f"  now        {name:<8} {cls:<16} {_show(args):<44} ({queue.dialect.name} bytes)"
            )
        now_ms = node.context.now_ms()
        delayed: list[tuple[Queue, float, str, str, list[Any]]] = [
            (node, 60_000, "math", "add", [5, 6]),
            (node, 3_600_000, "email", "SendReminder", [{"to": "ada@example.com"}]),
            (ruby, 86_400_000, "reports", "Reports::Weekly", []),
        ]
        for queue, delay, name, cls, args in delayed:
            await queue.enqueue_at(now_ms + delay, name, cls, args)
            label = f"in {delay / 1000:.0f} s"
            print(
                f"  {label:<10} {name:<8} {cls:<16} {_show(args):<44} ({queue.dialect.name} bytes)"
            )

        names = await node.queues()
        print("\nAs node-resque's Queue reports it:")
        print(f"  queue.queues()       {_show(names)}")
        for name in names:
            print(
                f"  queue.length({name!r}){' ' * max(0, 8 - len(name))} {await node.length(name)}"
            )
        print(f"  queue.timestamps()   {_show(await node.timestamps())}")
        for ms, tasks in (await node.all_delayed()).items():
            print(f"  allDelayed[{ms}]  {_show(tasks)}")
        print(f"  queue.failedCount()  {await node.failed_count()}")
        print(f"  queue.workers()      {_show(await node.workers())}")

        info = await ruby.info()
        print("\nAs Ruby resque and resque-scheduler report it:")
        print("  Resque.info          " + ", ".join(f"{k}={v}" for k, v in info.items()))
        for name in names:
            print(f"  Resque.peek({name!r}, 0, 10)  {_show(await ruby.queued(name, 0, 9))}")
        print(f"  Resque.delayed_queue_schedule_size  {await ruby.delayed_queue_schedule_size()}")
        print(f"  Resque.count_all_scheduled_jobs     {await ruby.count_all_scheduled_jobs()}")
        print(
            f"  Resque.delayed_queue_peek(0, 10)    {_show(await ruby.delayed_queue_peek(0, 10))}"
        )
        print(
            "\nThe bytes differ by dialect: node-resque writes "
            '{"class","queue","args"}, Ruby resque {"class","args"};'
            "\neach peer reads both. See spec/ for every key."
        )

        await _work(url)
        print("\nAfter the workers:")
        for name in names:
            print(
                f"  queue.length({name!r}){' ' * max(0, 8 - len(name))} {await node.length(name)}"
            )
        print(f"  queue.stats()        {_show(await node.stats())}")
        info = await ruby.info()
        print("  Resque.info          " + ", ".join(f"{k}={v}" for k, v in info.items()))
        print(
            f"  delayed jobs         {await ruby.count_all_scheduled_jobs()} still waiting "
            f"for their time: {_show(await node.timestamps())}"
        )
    finally:
        await node.aclose()
        await ruby.aclose()


def run_demo(url: str | None = None) -> int:
    """Run the demo; returns the process exit code."""
    server: RedisServer | None = None
    url = url or os.environ.get("REDIS_URL")
    if url:
        print(f"pyresque demo: using Redis at {url}")
    elif redis_answers("127.0.0.1", 6379):
        url = "redis://127.0.0.1:6379/0"
        print(f"pyresque demo: using the Redis already answering at {url}")
    else:
        try:
            server = RedisServer()
            url = server.start()
        except PyresqueError as exc:
            print(f"pyresque demo: no Redis configured, none on 127.0.0.1:6379, and {exc}")
            return 1
        print(
            "pyresque demo: no Redis configured and none answering on 127.0.0.1:6379, "
            f"so started a private redis-server ({server.source}: {server.binary}) at {url}"
        )
    try:
        asyncio.run(_demo(url))
    except PyresqueError as exc:
        print(f"pyresque demo: {exc}")
        return 1
    finally:
        if server is not None:
            server.stop()
            print("pyresque demo: stopped the private redis-server")
    return 0
