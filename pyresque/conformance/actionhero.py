"""The checks against Actionhero (when the ``--node`` folder also has Actionhero): its own
``api.tasks`` enqueues (``task.enqueue``, ``task.enqueueIn``) against pyresque's
:class:`~pyresque.tasks.Tasks`, byte for byte, and an Actionhero worker running a task
pyresque enqueued. The driver boots Actionhero (``Process.start``) with the small app shipped
in ``pyresque/conformance/peers/actionhero`` (its config and one task, ``confRecord``)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyresque.conformance.common import FUTURE_S, Check, Context, first_difference
from pyresque.errors import PeerError
from pyresque.protocol.keys import KeySpace
from pyresque.tasks import Input, Task, Tasks

__all__ = ["ACTIONHERO_CHECKS"]

TASK = "confRecord"
INPUTS: list[dict[str, Any]] = [
    {"id": 7, "note": "ünï \u2028 </script>", "n": [1.5, 1e21, None, True], "k": {"z": "é"}},
    {"id": "second"},
]
"""What the checks enqueue: the second leaves ``note`` to its default."""
DELAY_MS = 3_600_000
RAN_TIMEOUT_S = 15.0
_ANY = KeySpace("ns")
SCHEDULE = _ANY.unprefixed(_ANY.schedule())
"""The schedule zset's key as a snapshot names it (unprefixed)."""


class ConfRecord(Task):
    """pyresque's twin of the shipped Actionhero task: same name, queue and inputs."""

    name = TASK
    queue = "conformance"
    inputs = {"id": Input(required=True), "note": Input(default="from-default")}

    async def run(self, params: Any, worker: Any) -> Any:
        """Not run here: only enqueued."""
        return params["id"]


def _expected(inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "note": inputs.get("note", "from-default")}


def _booted(ctx: Context, namespace: str, *, workers: bool) -> None:
    tasks = ctx.peer.call("start", namespace=namespace, workers=workers)
    if TASK not in tasks:
        ctx.peer.call("stop")
        raise PeerError(f"Actionhero did not load the {TASK} task (it loaded {tasks})")


def _actionhero(ctx: Context, namespace: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """Boot Actionhero on ``namespace`` (no workers), make the ``task.*`` calls, stop."""
    _booted(ctx, namespace, workers=False)
    try:
        return [ctx.peer.call("task", method=m, args=args) for m, args in calls]
    finally:
        ctx.peer.call("stop")


def _pyresque(ctx: Context, namespace: str, calls: Callable[[Tasks], Awaitable[Any]]) -> Any:
    async def side() -> Any:
        tasks = Tasks(ctx.redis_url, namespace=namespace)
        tasks.add(ConfRecord)
        try:
            return await calls(tasks)
        finally:
            await tasks.aclose()

    return ctx.run(side)


def enqueue_bytes(ctx: Context) -> tuple[str, Any]:
    """``api.tasks.enqueue`` twice (one input left to its default) vs ``Tasks.enqueue``:
    every key of the namespace, byte for byte."""
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    _actionhero(ctx, ns_ah, [("enqueue", [TASK, dict(i)]) for i in INPUTS])

    async def ours(tasks: Tasks) -> None:
        for inputs in INPUTS:
            await tasks.enqueue(TASK, dict(inputs))

    _pyresque(ctx, ns_py, ours)
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
    _actionhero(
        ctx,
        ns_ah,
        [("enqueueAt", [at_ms, TASK, dict(INPUTS[0])]), ("enqueueIn", [DELAY_MS, TASK, {"id": 2}])],
    )

    async def ours(tasks: Tasks) -> None:
        await tasks.enqueue_at(at_ms, TASK, dict(INPUTS[0]))
        await tasks.enqueue_in(DELAY_MS, TASK, {"id": 2})

    _pyresque(ctx, ns_py, ours)
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
    _booted(ctx, ns, workers=True)
    try:

        async def ours(tasks: Tasks) -> None:
            for inputs in INPUTS:
                await tasks.enqueue(TASK, dict(inputs))

        _pyresque(ctx, ns, ours)
        key = f"{ns}:conformance:ran"
        deadline = time.monotonic() + RAN_TIMEOUT_S
        while ctx.client.llen(key) < len(INPUTS) and time.monotonic() < deadline:
            time.sleep(0.05)
        ran = [json.loads(entry) for entry in ctx.client.lrange(key, 0, -1)]
    finally:
        ctx.peer.call("stop")
    expected = [_expected(inputs) for inputs in INPUTS]
    return first_difference(ran, expected) or "", ran


ACTIONHERO_CHECKS: dict[str, Check] = {
    "task.enqueue bytes": enqueue_bytes,
    "task.enqueueIn bytes": enqueue_in_bytes,
    "Actionhero runs pyresque-enqueued task": actionhero_runs_pyresque_tasks,
}
"""The Actionhero checks (the names are the report's rows)."""
