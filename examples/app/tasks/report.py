"""A cron task: the scheduler leader enqueues it at each tick of its schedule, once per
tick however many scheduler nodes run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pyresque.tasks import Task


class MinuteReport(Task):
    name = "minute_report"
    description = "a report at the top of every minute"
    queue = "reports"
    schedule = ["* * * * *"]  # every minute, on the minute (UTC)

    async def run(self, params: Mapping[str, Any], worker: Any) -> dict[str, str]:
        return {"report": f"minute ending {datetime.now(UTC):%H:%M}"}
