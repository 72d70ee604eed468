"""Test helpers for projects that use pyresque (and for pyresque's own tests).

The pytest plugin (:mod:`pyresque.testing.plugin`) loads automatically once pyresque is
installed and provides ``redis_url``, ``resque_namespace``, ``resque_redis``,
``make_queue`` and ``make_sync_queue``. :mod:`pyresque.testing.tasks` has the spec helpers
for Actionhero-style tasks (``find_enqueued_tasks``, ``delete_enqueued_tasks``,
``run_task``, ``run_full_task``), also importable from here. :func:`drain` and
:func:`drain_tasks` (:mod:`pyresque.testing.drain`) run what is queued, and with
``due_by`` what is delayed until then, through a real worker and scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pyresque.testing.drain import Drained, DrainLimitError, Ran, drain, drain_tasks
from pyresque.testing.tasks import (
    delete_enqueued_tasks,
    find_enqueued_tasks,
    run_full_task,
    run_task,
)

__all__ = [
    "DrainLimitError",
    "Drained",
    "Ran",
    "delete_enqueued_tasks",
    "drain",
    "drain_tasks",
    "find_enqueued_tasks",
    "poll_until",
    "run_full_task",
    "run_task",
    "wait_until",
]

T = TypeVar("T")


async def poll_until(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 5.0, interval: float = 0.01
) -> T:
    """Await ``probe()`` until it returns something truthy; that value, else TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


def wait_until(probe: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.01) -> T:
    """Blocking :func:`poll_until`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
