"""The Actionhero admin-calls check: Actionhero's ``task.*`` reads and admin calls (details,
queued, timestamps, delayed, scheduledAt, failed, retryAndRemoveFailed, delDelayed,
delQueue ...) on the queues, delayed tasks and failed entry pyresque produced answer what
they answer on the same state Actionhero produced itself."""

from __future__ import annotations

import time
from typing import Any

from pyresque.conformance import actionhero_app as app
from pyresque.conformance.common import FUTURE_S, Context, first_difference, shape
from pyresque.errors import ConformanceSkipError
from pyresque.protocol.keys import KeySpace
from pyresque.tasks import Tasks

__all__ = ["admin_calls"]

QUEUED: list[dict[str, Any]] = [{"id": 1, "note": "ünï </script>", "n": [1e21, None]}, {"id": 2}]
"""What each side enqueues now; then one task at :data:`FUTURE_S` and one an hour ahead."""
AT = {"id": 3}
IN = {"id": 4}
DELAY_MS = 3_600_000
AT_PARAMS = {**AT, "note": "from-default"}
"""``scheduledAt`` and ``delDelayed`` match the args as enqueued: defaults filled in."""


def _failure_by_actionhero(ctx: Context, namespace: str) -> None:
    """Actionhero's worker fails a ``confFail``."""
    app.booted(ctx, namespace, workers=True)
    try:
        app.call(ctx, "enqueue", app.FAIL, {"id": 1})
        ctx.run(lambda: _failed(ctx, namespace))
    finally:
        ctx.peer.call("stop")


async def _failed(ctx: Context, namespace: str) -> None:
    async def done() -> bool:
        return app.failed_count(ctx, namespace) >= 1

    await app.wait_for(done)


def _state_by_actionhero(ctx: Context, namespace: str) -> float:
    """A failed ``confFail`` (run by Actionhero's worker), queued and delayed ``confRecord``s,
    all by Actionhero; when the enqueueIn was made (s)."""
    _failure_by_actionhero(ctx, namespace)
    app.booted(ctx, namespace, workers=False)
    try:
        for inputs in QUEUED:
            app.call(ctx, "enqueue", app.RECORD, dict(inputs))
        app.call(ctx, "enqueueAt", FUTURE_S * 1000, app.RECORD, dict(AT))
        made = time.time()
        app.call(ctx, "enqueueIn", DELAY_MS, app.RECORD, dict(IN))
    finally:
        ctx.peer.call("stop")
    return made


def _state_by_pyresque(ctx: Context, namespace: str) -> float:
    """The same state, made by app.pyresque (an app node's worker fails ``confFail``)."""

    async def fail(tasks: Tasks) -> None:
        await tasks.enqueue(app.FAIL, {"id": 1})

    async def failed(tasks: Tasks) -> bool:
        return await tasks.failed_count() >= 1

    app.pyresque_app(
        ctx, namespace, [app.ConfRecord, app.ConfFail, app.ConfPeriodic], [app.QUEUE], failed, fail
    )

    async def enqueues(tasks: Tasks) -> float:
        for inputs in QUEUED:
            await tasks.enqueue(app.RECORD, dict(inputs))
        await tasks.enqueue_at(FUTURE_S * 1000, app.RECORD, dict(AT))
        made = time.time()
        await tasks.enqueue_in(DELAY_MS, app.RECORD, dict(IN))
        return made

    made: float = app.pyresque(ctx, namespace, enqueues)
    return made


EXCEPTIONS = {"Error": "<thrown>", "ConformanceJobError": "<thrown>"}
"""What each side's ``confFail`` throws: JavaScript's ``Error``, pyresque's
:class:`~pyresque.errors.ConformanceJobError` (a failed entry names the class)."""
READS: list[tuple[str, list[Any]]] = [
    ("details", []),
    ("stats", []),
    ("queued", [app.QUEUE, 0, -1]),
    ("timestamps", []),
    ("allDelayed", []),
    ("delayedAt", [FUTURE_S * 1000]),
    ("scheduledAt", [app.QUEUE, app.RECORD, AT_PARAMS]),
    ("failedCount", []),
    ("failed", [0, -1]),
    ("locks", []),
    ("workers", []),
]
"""The reads, in order, before the admin calls that change the state."""
CHANGES: list[tuple[str, list[Any]]] = [
    ("delDelayed", [app.QUEUE, app.RECORD, AT_PARAMS]),
    ("timestamps", []),
    ("delQueue", [app.QUEUE]),
    ("queued", [app.QUEUE, 0, -1]),
    ("details", []),
]
"""After ``retryAndRemoveFailed`` of the failed entry (when there is that app.call)."""


def _calls(ctx: Context, namespace: str) -> list[Any]:
    """Boot Actionhero on ``namespace`` (no workers), make every read and admin app.call this
    Actionhero has, stop: ``[method, answer]`` in order."""
    app.booted(ctx, namespace, workers=False)
    try:
        have = set(ctx.peer.call("methods"))
        answers: list[Any] = [[m, app.call(ctx, m, *args)] for m, args in READS if m in have]
        if {"failed", "retryAndRemoveFailed"} <= have:
            for entry in app.call(ctx, "failed", 0, -1):
                answers.append(
                    ["retryAndRemoveFailed", app.call(ctx, "retryAndRemoveFailed", entry)]
                )
            after = [("failedCount", []), ("queued", [app.QUEUE, 0, -1])]
            answers += [[m, app.call(ctx, m, *args)] for m, args in after if m in have]
        answers += [[m, app.call(ctx, m, *args)] for m, args in CHANGES if m in have]
        return answers
    finally:
        ctx.peer.call("stop")


def _normal(value: Any, second: int | None) -> Any:
    """``value`` with the enqueueIn second (and its ms) as ``<in>`` and what differs by run,
    worker or language in a failed entry (its time, worker name, backtrace, the thrown
    class) by its shape."""
    if isinstance(value, dict):
        if {"failed_at", "backtrace", "worker"} <= set(value):
            value = {
                **value,
                "failed_at": shape(value["failed_at"]),
                "worker": shape(value["worker"]),
                "backtrace": "<backtrace>" if isinstance(value["backtrace"], list) else None,
                "exception": EXCEPTIONS.get(str(value.get("exception")), value.get("exception")),
            }
        return {
            _normal(shape(k) if ":" in str(k) else k, second): _normal(v, second)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normal(v, second) for v in value]
    if second is None:
        return value
    if isinstance(value, str):
        return value.replace(str(second * 1000), "<in>").replace(str(second), "<in>")
    if isinstance(value, int) and not isinstance(value, bool) and value in (second, second * 1000):
        return "<in>"
    return value


def _in_second(ctx: Context, namespace: str, made: float) -> int | None:
    """The delayed second of the enqueueIn made at ``made`` (s)."""
    keys = KeySpace(namespace)
    due = made + DELAY_MS / 1000
    members: list[bytes] = ctx.client.zrange(keys.schedule(), 0, -1)  # type: ignore[assignment]
    for member in members:
        if int(due) - 1 <= int(member) <= due + 2:
            return int(member)
    return None


def _locks_by_shape(answers: list[Any]) -> list[Any]:
    """``locks`` answers with their values (the second each lock expires) by shape: the
    periodic task's QueueLock, taken as each side's scheduler app.booted."""
    return [[m, shape(a) if m == "locks" else a] for m, a in answers]


def admin_calls(ctx: Context) -> tuple[str, Any]:
    """Actionhero's admin calls on the state app.pyresque produced (a failed entry from its
    worker, queued and delayed tasks) vs on the same state Actionhero produced: the same
    answers, in order, with the enqueueIn second as ``<in>`` and the failed entries'
    time, worker and backtrace by shape."""
    app.needs(ctx, "enqueue", "enqueueAt", "enqueueIn", "failed")
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    made_ah = _state_by_actionhero(ctx, ns_ah)
    made_py = _state_by_pyresque(ctx, ns_py)
    seconds = _in_second(ctx, ns_ah, made_ah), _in_second(ctx, ns_py, made_py)
    theirs = _normal(_locks_by_shape(_calls(ctx, ns_ah)), seconds[0])
    mine = _normal(_locks_by_shape(_calls(ctx, ns_py)), seconds[1])
    if not theirs:
        raise ConformanceSkipError("this Actionhero has none of the admin calls")
    return first_difference(theirs, mine) or "", theirs
