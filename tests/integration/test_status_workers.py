"""The status of live workers of both dialects (whose keys are node-resque's and Ruby
resque's bytes, see spec/workers.md): their kind, start, last sign of life, the job they
hold since when, and their own counters; unregistered, they and their counters are gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pyresque import Queue, Worker
from pyresque.protocol.status import Counts, WorkerStatus, is_unreadable
from pyresque.testing import poll_until


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_a_busy_worker_shows_its_kind_times_job_and_counters(
    redis_url: str, resque_namespace: str, dialect: str
) -> None:
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    jobs: dict[str, Any] = {"hold": hold, "ok": lambda: None, "fail": lambda: 1 / 0}
    async with Queue(redis_url, namespace=resque_namespace, dialect=dialect) as queue:
        for job in ("ok", "ok", "fail", "hold"):
            await queue.enqueue("q", job, [])
        before = round(time.time()) * 1000 - 1000
        worker = Worker(
            redis_url, ["q", "other"], jobs, namespace=resque_namespace, dialect=dialect
        )
        await worker.start()
        try:

            async def busy() -> WorkerStatus | None:
                found = (await queue.status()).workers
                assert not is_unreadable(found)
                mine = found.get(worker.identity.name)
                job = mine.working_on if mine else None
                holds = job and not is_unreadable(job) and job["payload"]["class"] == "hold"
                return mine if holds else None

            mine = await poll_until(busy, timeout=10)
            status = await queue.status()
        finally:
            gate.set()
            await worker.stop()
        after = round(time.time() * 1000) + 1000  # node rounds its seconds (Math.round)
        assert mine.id == worker.identity.member
        assert (mine.kind, mine.queues, mine.skipping) == (dialect, ("q", "other"), ())
        for at in (mine.started_at, mine.seen_at, mine.working_since):
            assert isinstance(at, int) and before <= at <= after, (at, before, after)
        assert mine.working_on is not None and not is_unreadable(mine.working_on)
        assert mine.working_on["queue"] == "q"
        # Ruby counts every job it ran in processed, failures included; node the successes.
        counted = Counts(processed=3 if dialect == "ruby" else 2, failed=1)
        assert mine.stats == counted and status.stats == counted
        assert status.other_stats == {}
        assert not is_unreadable(status.queues) and status.queues["q"].length == 0

        gone = await queue.status()
        assert gone.workers == {} and gone.other_stats == {}  # its counters went with it
        assert gone.stats.processed == (4 if dialect == "ruby" else 3)
