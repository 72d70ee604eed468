"""A periodic task: runs as soon as a scheduler node boots, then ``frequency`` ms after
each run, one instance across every node sharing the Redis."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from pyresque.tasks import Task

_beats = itertools.count(1)


class Heartbeat(Task):
    name = "heartbeat"
    description = "proves the workers and the scheduler are alive"
    queue = "periodic"
    frequency = 1000  # ms between the end of one run and the next

    async def run(self, params: Mapping[str, Any], worker: Any) -> dict[str, int]:
        # Counts this process's beats; the chain itself spans every node.
        return {"beat": next(_beats)}
