"""The Actionhero periodic-task check: what Actionhero writes for its periodic
``confPeriodic`` (frequency an hour) against pyresque's twin, byte for byte. Only where
pyresque means to agree: the enqueue of a chain that has no copy yet, the refusal of a
second while one is queued, and a run's re-enqueue. Where pyresque deliberately differs
(``enqueueRecurrentTask`` beside a queued copy, ``stopRecurrentTask``, a scheduler booting
mid-run: spec/tasks.md, interop/test_actionhero_defects.py) nothing is compared."""

from __future__ import annotations

import time
from typing import Any

from pyresque.conformance import actionhero_app as app
from pyresque.conformance.common import Context, first_difference
from pyresque.protocol.keys import KeySpace
from pyresque.tasks import Tasks

__all__ = ["periodic_bytes"]

LOCK_S = 3600
"""QueueLock's lock timeout (node-resque's default): the lock's value is the (rounded)
second of the enqueue plus this plus one, and its TTL this many seconds."""


def _marked(value: Any, marks: dict[int, str]) -> Any:
    """``value`` with each number of ``marks`` (and its digits in text) as its label."""
    if isinstance(value, str):
        for number, label in marks.items():
            value = value.replace(str(number), label)
        return value
    if isinstance(value, list):
        return [_marked(v, marks) for v in value]
    if isinstance(value, dict):
        return {_marked(k, marks): _marked(v, marks) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool) and value in marks:
        return marks[int(value)]
    return value


def _lock_marks(ctx: Context, namespace: str, low_s: float, high_s: float) -> dict[int, str]:
    """The queue lock's value (its expiry second) as ``<expiry>`` when it lies an hour after
    the enqueue (between ``low_s`` and ``high_s``) and its TTL is an hour too."""
    key = KeySpace(namespace).queue_lock(app.PERIODIC, app.PERIODIC_QUEUE, "[{}]")
    value, ttl = ctx.client.get(key), ctx.client.ttl(key)
    if value is None or not value.isdigit() or not LOCK_S - 5 <= ttl <= LOCK_S:
        return {}
    expiry = int(value)
    if low_s + LOCK_S <= expiry <= high_s + LOCK_S + 2:
        return {expiry: "<expiry>"}
    return {}


def _enqueues(ctx: Context) -> tuple[Any, Any]:
    """``enqueueAllRecurrentTasks`` twice (the second finds the queued copy) on each side:
    the answers and every key, the queue lock's expiry as ``<expiry>``."""
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    before = time.time()
    app.booted(ctx, ns_ah, workers=False)
    try:
        theirs_said = [app.call(ctx, "enqueueAllRecurrentTasks") for _ in range(2)]
    finally:
        ctx.peer.call("stop")

    async def ours(tasks: Tasks) -> list[list[str]]:
        return [await tasks.enqueue_all_recurrent_tasks() for _ in range(2)]

    ours_said = app.pyresque(ctx, ns_py, ours)
    after = time.time()
    theirs = {"answers": theirs_said, "keys": ctx.snapshot(ns_ah)}
    mine = {"answers": ours_said, "keys": ctx.snapshot(ns_py)}
    return (
        _marked(theirs, _lock_marks(ctx, ns_ah, before, after)),
        _marked(mine, _lock_marks(ctx, ns_py, before, after)),
    )


def _delay_marks(snapshot: dict[str, Any], runs: list[int]) -> dict[int, str]:
    """The delayed second ``frequency`` ms after the first run as ``<run+frequency>``."""
    if not runs:
        return {}
    due = (runs[0] + app.ConfPeriodic.frequency) / 1000
    schedule = snapshot.get(KeySpace("ns").unprefixed(KeySpace("ns").schedule()), {})
    return {
        int(member): "<run+frequency>"
        for member, _score in schedule.get("value") or []
        if int(due) <= int(member) <= due + 2
    }


def _after_a_run(ctx: Context) -> tuple[Any, Any]:
    """A scheduler node with a worker on each side boots (enqueueing the periodic task),
    runs it once and re-enqueues it: every key once the delayed copy is there (the
    recorder's key left out), its second as ``<run+frequency>``."""
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    keys = KeySpace(ns_ah)
    app.booted(ctx, ns_ah, workers=True, queues=[app.PERIODIC_QUEUE])
    try:

        async def delayed() -> bool:
            return bool(ctx.client.exists(keys.schedule()))

        ctx.run(lambda: app.wait_for(delayed))
    finally:
        ctx.peer.call("stop")
    runs: list[int] = []

    async def delayed_too(tasks: Tasks) -> bool:
        return bool(await tasks.timestamps())

    app.pyresque_app(
        ctx, ns_py, [app.recording(app.ConfPeriodic, runs)], [app.PERIODIC_QUEUE], delayed_too
    )
    theirs, mine = ctx.snapshot(ns_ah), ctx.snapshot(ns_py)
    theirs.pop("conformance:periodic", None)
    theirs = _marked(theirs, _delay_marks(theirs, app.recorded(ctx, ns_ah, "periodic")))
    return theirs, _marked(mine, _delay_marks(mine, runs))


def periodic_bytes(ctx: Context) -> tuple[str, Any]:
    """``task.enqueueAllRecurrentTasks`` (twice: the second refused while a copy is queued)
    vs ``Tasks.enqueue_all_recurrent_tasks``: the answers, the queue entry, the QueueLock
    key (its value, the expiry second, and TTL checked to be an hour ahead); then a run on
    each side's worker and its re-enqueue: the delayed entry, compared with its second
    marked where it lies ``frequency`` ms after the run."""
    app.needs(ctx, "enqueueAllRecurrentTasks")
    theirs, mine = _enqueues(ctx)
    found = first_difference(theirs, mine)
    if found:
        return f"boot enqueue: {found}", theirs
    theirs_run, mine_run = _after_a_run(ctx)
    found = first_difference(theirs_run, mine_run)
    vectors = {"enqueue": theirs, "after a run": theirs_run}
    return (f"after a run: {found}" if found else ""), vectors
