"""Running a repair command's work on the namespace's :class:`~pyresque.fleet.Fleet`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pyresque.fleet import Fleet
from pyresque.queue import Queue

__all__ = ["on_fleet"]

T = TypeVar("T")


def on_fleet(options: argparse.Namespace, work: Callable[[Fleet], Awaitable[T]]) -> T:
    """``work`` on the fleet of ``--redis``/``--namespace``/``--dialect``, on a new loop;
    a Redis that is away fails at once (no waiting, as ``pyresque status``)."""

    async def run() -> T:
        queue = Queue(
            options.redis, namespace=options.namespace, dialect=options.dialect, patience=0
        )
        async with queue as q:
            return await work(Fleet(q))

    return asyncio.run(run())
