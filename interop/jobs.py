"""Job functions for pyresque workers in the interop tests (``--jobs interop.jobs:JOBS``).

``mark`` records that it ran by pushing ``<id>:py`` onto ``<namespace>:done``, the list the
peers' own ``mark`` jobs push to, so a test can check every job ran exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import redis

from pyresque import current_job


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def mark(job_id: Any) -> Any:
    job = current_job()
    assert job is not None
    _client().rpush(job.worker.context.keys.key("done"), f"{job_id}:py")
    return job_id


async def hold(ms: float = 1000) -> None:
    await asyncio.sleep(ms / 1000)


def fail(message: str = "BUSTED") -> None:
    raise RuntimeError(message)


async def noop(*args: Any) -> None:
    return None


JOBS = {
    "mark": mark,
    "hold": hold,
    "fail": fail,
    "noop": noop,
    # Ruby-style class names, for ruby-dialect workers sharing queues with Ruby resque.
    "Py::Mark": mark,
    "Py::Hold": hold,
    "Py::Fail": fail,
}
