"""The checks against Actionhero (when the ``--node`` folder also has Actionhero): its own
``api.tasks`` enqueues (``task.enqueue``, ``task.enqueueIn``) against pyresque's
:class:`~pyresque.tasks.Tasks`, byte for byte, and each side's worker running tasks the
other enqueued; the periodic task (:mod:`~pyresque.conformance.actionhero_periodic`), the
admin calls (:mod:`~pyresque.conformance.actionhero_admin`) and task middleware
(:mod:`~pyresque.conformance.actionhero_middleware`). The driver boots
Actionhero (``Process.start``) with the small app shipped in
``pyresque/conformance/peers/actionhero`` (its config and tasks, whose pyresque twins are in
:mod:`~pyresque.conformance.actionhero_app`)."""

from __future__ import annotations

import time
from typing import Any

from pyresque.conformance.actionhero_admin import admin_calls
from pyresque.conformance.actionhero_app import (
    QUEUE,
    RECORD,
    ConfRecord,
    actionhero,
    booted,
    call,
    needs,
    pyresque,
    pyresque_app,
    recorded,
    recording,
    wait_for,
)
from pyresque.conformance.actionhero_middleware import middleware_order
from pyresque.conformance.actionhero_periodic import periodic_bytes
from pyresque.conformance.common import FUTURE_S, Check, Context, first_difference
from pyresque.protocol.keys import KeySpace
from pyresque.tasks import Tasks

__all__ = ["ACTIONHERO_CHECKS", "ConfRecord"]

TASK = RECORD
INPUTS: list[dict[str, Any]] = [
    {"id": 7, "note": "ünï \u2028 </script>", "n": [1.5, 1e21, None, True], "k": {"z": "é"}},
    {"id": "second"},
]
"""What the checks enqueue: the second leaves ``note`` to its default."""
DELAY_MS = 3_600_000
_ANY = KeySpace("ns")
SCHEDULE = _ANY.unprefixed(_ANY.schedule())
"""The schedule zset's key as a snapshot names it (unprefixed)."""


def _expected(inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "note": inputs.get("note", "from-default")}


def enqueue_bytes(ctx: Context) -> tuple[str, Any]:
    """``api.tasks.enqueue`` twice (one input left to its default) vs ``Tasks.enqueue``:
    every key of the namespace, byte for byte."""
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    actionhero(ctx, ns_ah, [("enqueue", [TASK, dict(i)]) for i in INPUTS])

    async def ours(tasks: Tasks) -> None:
        for inputs in INPUTS:
            await tasks.enqueue(TASK, dict(inputs))

    pyresque(ctx, ns_py, ours)
    theirs = ctx.snapshot(ns_ah)
    return first_difference(theirs, ctx.snapshot(ns_py)) or "", theirs


def _mark(value: Any, second: int | None) -> Any:
    """``value`` with ``second`` (the enqueueIn time) written as ``<in>``, in text and as
    a number."""
    if isinstance(value, str):
        return value.replace(str(second), "<in>")
    if isinstance(value, list):
        return [_mark(v, second) for v in value]
    if isinstance(value, dict):
        return {_mark(k, second): _mark(v, second) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool) and value == second:
        return "<in>"
    return value


def _in_second(snapshot: dict[str, Any], low: float, high: float) -> int | None:
    """The delayed second between ``low`` and ``high`` (ms) in the schedule, if any."""
    schedule = snapshot.get(SCHEDULE, {}).get("value") or []
    for member, _score in schedule:
        if low // 1000 <= int(member) <= high // 1000 + 1:
            return int(member)
    return None


def enqueue_in_bytes(ctx: Context) -> tuple[str, Any]:
    """``api.tasks.enqueueAt`` at a fixed future time and ``enqueueIn`` an hour ahead vs
    ``Tasks.enqueue_at`` / ``enqueue_in``: the schedule zset, delayed lists and timestamps
    sets, byte for byte (the enqueueIn second, which differs by run, as ``<in>`` once checked
    to be an hour after the call)."""
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    at_ms = FUTURE_S * 1000
    before = time.time() * 1000
    actionhero(
        ctx,
        ns_ah,
        [("enqueueAt", [at_ms, TASK, dict(INPUTS[0])]), ("enqueueIn", [DELAY_MS, TASK, {"id": 2}])],
    )

    async def ours(tasks: Tasks) -> None:
        await tasks.enqueue_at(at_ms, TASK, dict(INPUTS[0]))
        await tasks.enqueue_in(DELAY_MS, TASK, {"id": 2})

    pyresque(ctx, ns_py, ours)
    after = time.time() * 1000
    theirs, ours_now = ctx.snapshot(ns_ah), ctx.snapshot(ns_py)
    seconds = [_in_second(s, before + DELAY_MS, after + DELAY_MS) for s in (theirs, ours_now)]
    if None in seconds:
        return f"enqueueIn {DELAY_MS} ms: no delayed second an hour ahead: {seconds}", theirs
    theirs, ours_now = _mark(theirs, seconds[0]), _mark(ours_now, seconds[1])
    return first_difference(theirs, ours_now) or "", theirs


def actionhero_runs_pyresque_tasks(ctx: Context) -> tuple[str, Any]:
    """An Actionhero worker runs ``confRecord`` tasks pyresque's ``Tasks.enqueue`` sent:
    ``run`` gets exactly the params pyresque validated (defaults filled in)."""
    ns = ctx.namespace()
    booted(ctx, ns, workers=True)
    try:

        async def ours(tasks: Tasks) -> None:
            for inputs in INPUTS:
                await tasks.enqueue(TASK, dict(inputs))

        pyresque(ctx, ns, ours)

        async def ran() -> bool:
            return len(recorded(ctx, ns, "ran")) >= len(INPUTS)

        ctx.run(lambda: wait_for(ran))
        found = recorded(ctx, ns, "ran")
    finally:
        ctx.peer.call("stop")
    expected = [_expected(inputs) for inputs in INPUTS]
    return first_difference(found, expected) or "", found


LATER: list[dict[str, Any]] = [{"id": 3}, {"id": 4, "note": None}]
"""What the run checks enqueue with ``enqueueIn`` and ``enqueueAt`` (due at once)."""


def _actionhero_enqueues(ctx: Context) -> None:
    """Actionhero's enqueues of ``confRecord`` on the booted Actionhero: ``enqueue`` of
    :data:`INPUTS`, then ``enqueueIn`` (10 ms) and ``enqueueAt`` (now) of :data:`LATER`,
    which a scheduler promotes."""
    for inputs in INPUTS:
        call(ctx, "enqueue", TASK, dict(inputs))
    call(ctx, "enqueueIn", 10, TASK, dict(LATER[0]))
    call(ctx, "enqueueAt", int(time.time() * 1000), TASK, dict(LATER[1]))


def pyresque_runs_actionhero_tasks(ctx: Context) -> tuple[str, Any]:
    """A pyresque app node (``App``: a task processor and a scheduler) runs the
    ``confRecord`` tasks Actionhero's ``task.enqueue`` / ``enqueueIn`` / ``enqueueAt`` sent;
    an Actionhero worker runs the same enqueues on another namespace: both ``run``s get
    the same params (defaults filled in), in any order."""
    needs(ctx, "enqueue", "enqueueIn", "enqueueAt")
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    count = len(INPUTS) + len(LATER)
    booted(ctx, ns_py, workers=False)
    try:
        _actionhero_enqueues(ctx)
    finally:
        ctx.peer.call("stop")
    ran: list[Any] = []

    async def done(tasks: Tasks) -> bool:
        return len(ran) >= count

    pyresque_app(ctx, ns_py, [recording(ConfRecord, ran)], [QUEUE], done)
    booted(ctx, ns_ah, workers=True)
    try:
        _actionhero_enqueues(ctx)

        async def theirs_ran() -> bool:
            return len(recorded(ctx, ns_ah, "ran")) >= count

        ctx.run(lambda: wait_for(theirs_ran))
    finally:
        ctx.peer.call("stop")
    theirs = sorted(recorded(ctx, ns_ah, "ran"), key=repr)
    return first_difference(theirs, sorted(ran, key=repr)) or "", theirs


ACTIONHERO_CHECKS: dict[str, Check] = {
    "task.enqueue bytes": enqueue_bytes,
    "task.enqueueIn bytes": enqueue_in_bytes,
    "Actionhero runs pyresque-enqueued task": actionhero_runs_pyresque_tasks,
    "pyresque runs Actionhero-enqueued task": pyresque_runs_actionhero_tasks,
    "periodic task bytes": periodic_bytes,
    "admin calls on pyresque state": admin_calls,
    "task middleware": middleware_order,
}
"""The Actionhero checks (the names are the report's rows)."""
