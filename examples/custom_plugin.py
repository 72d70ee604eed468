"""A custom plugin: ``Timing`` records how long each perform of a job took.

Run it against a Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``)::

    python examples/custom_plugin.py

A plugin subclasses :class:`pyresque.plugins.Plugin` and overrides the hooks it needs.
Every hook gets a new plugin object, so what ``before_perform`` wants ``after_perform``
to know goes in ``self.outcome.state``. Redis is reached through ``self.run(plan)``: a
plan is a generator yielding commands (:class:`~pyresque.protocol.plan.Call`, or a
:class:`~pyresque.protocol.plan.Batch` of them) and receiving their replies, so the plugin
runs on the worker's own connection.
"""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio

from pyresque import JobDefinition, Queue, Worker
from pyresque.plugins import Plugin
from pyresque.protocol.plan import Batch, Call, Plan

__all__ = ["Timing", "main", "record_duration"]


def record_duration(key: str, ms: float, keep: int) -> Plan[None]:
    """Push ``ms`` onto the list ``key``, newest first, keeping the last ``keep``."""
    yield Batch.of([Call("LPUSH", key, f"{ms:.3f}"), Call("LTRIM", key, 0, keep - 1)], atomic=True)


class Timing(Plugin):
    """Keeps the last ``keep`` (100) durations of a job class, in ms, in
    ``<namespace>:timing:<class>``; failed performs are timed too."""

    plugin_name = "Timing"  # its options are plugin_options["Timing"]

    async def before_perform(self) -> bool:
        assert self.outcome is not None  # perform hooks always have one
        self.outcome.state["timing.started"] = time.perf_counter()
        return True  # False would veto the perform

    async def after_perform(self) -> bool:
        assert self.outcome is not None
        started = self.outcome.state.get("timing.started")
        if started is None:  # before_perform did not run (an earlier plugin vetoed)
            return True
        ms = (time.perf_counter() - started) * 1000
        key = self.context.keys.key("timing", self.job_class)
        await self.run(record_duration(key, ms, int(self.options.get("keep", 100))))
        return True


async def main() -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    async def resize(width: int, height: int) -> int:
        await asyncio.sleep(0.05)
        return width * height

    jobs = {
        "resize": JobDefinition(
            resize,
            plugins=(Timing, "Retry"),  # classes, or the names of the built-ins
            plugin_options={"Timing": {"keep": 10}, "Retry": {"retryLimit": 3}},
        )
    }
    async with Queue(redis_url, namespace="example") as queue:
        await queue.enqueue("images", "resize", [640, 480])
        await Worker(redis_url, "images", jobs, namespace="example").run(burst=True)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        durations = await client.lrange(queue.context.keys.key("timing", "resize"), 0, -1)
    finally:
        await client.aclose()
    print("resize took", [float(d) for d in durations], "ms")


if __name__ == "__main__":
    asyncio.run(main())
