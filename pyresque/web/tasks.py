"""The tasks page: an app's tasks (``WebConfig.app_path``), and when each runs next: a
periodic task's delayed copy, a cron task's next minute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyresque.queue import Queue
from pyresque.tasks.app import App
from pyresque.tasks.cron import schedules_of

__all__ = ["tasks_page"]


async def tasks_page(queue: Queue, app: App) -> dict[str, Any]:
    """Each task of ``app``: name, description, queue, inputs, frequency or cron
    schedules, and its next run (ms) as Redis and the clock say."""
    delayed: dict[str, list[int]] = {}
    for due_ms, jobs in (await queue.all_delayed()).items():
        for job in jobs:
            delayed.setdefault(str(job.get("class")), []).append(int(due_ms))
    zone = app.config.zone
    now = datetime.now(zone)
    crons = schedules_of(app.tasks)
    found = []
    for name, task in sorted(app.tasks.tasks.items()):
        times = sorted(delayed.get(name, []))
        cron_next = [int(c.next_after(now).timestamp() * 1000) for c in crons.get(name, ())]
        found.append(
            {
                "name": name,
                "description": task.description,
                "queue": task.queue,
                "inputs": {k: {"required": i.required} for k, i in task.inputs.items()},
                "frequency": task.frequency or None,
                "schedule": list(task.schedule),
                "delayed_at": times,
                "next_cron_at": min(cron_next) if cron_next else None,
            }
        )
    return {"app": str(app.config.namespace), "timezone": str(zone), "tasks": found}
