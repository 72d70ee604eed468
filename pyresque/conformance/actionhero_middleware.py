"""The Actionhero task-middleware check: two global middleware registered with Actionhero's
``task.addMiddleware`` (the recording middleware shipped in
``pyresque/conformance/peers/actionhero/middleware.js``) vs the same two
:class:`~pyresque.tasks.TaskMiddleware` on pyresque: which hooks run, in which order, and
the task, queue and args each sees, for an enqueue and its run. Only where pyresque means to
agree: an immediate ``enqueue`` and a worker's run, priorities above zero. Where it
deliberately differs (hooks for delayed enqueues, priority 0, ``runFullTask``'s hooks:
spec/tasks.md) nothing is compared."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pyresque.conformance import actionhero_app as app
from pyresque.conformance.common import Context, first_difference
from pyresque.plugins.base import Plugin
from pyresque.tasks import TaskMiddleware, Tasks

__all__ = ["middleware_order"]

MIDDLEWARE = [("late", 150), ("early", 50)]
"""Registered in this order; they run by priority (lower first)."""
INPUTS = {"id": 5}
HOOKS = 4 * len(MIDDLEWARE)
"""Every hook of every middleware, once for the enqueue or the run."""
HOOKS_BY_FIELD = {
    "pre_enqueue": "preEnqueue",
    "post_enqueue": "postEnqueue",
    "pre_processor": "preProcessor",
    "post_processor": "postProcessor",
}
"""pyresque's middleware fields and Actionhero's names of the same hooks."""


def _recording(name: str, priority: int, into: list[dict[str, Any]]) -> TaskMiddleware:
    """pyresque's twin of the shipped recording middleware."""

    def hook(kind: str) -> Callable[[Plugin], bool]:
        def record(plugin: Plugin) -> bool:
            args = json.loads(json.dumps(plugin.args, default=dict))
            into.append({"middleware": name, "hook": kind, "task": plugin.job_class,
                         "queue": plugin.queue, "args": args})  # fmt: skip
            return True

        return record

    hooks = {field: hook(kind) for field, kind in HOOKS_BY_FIELD.items()}
    return TaskMiddleware(name, global_=True, priority=priority, **hooks)


def middleware_order(ctx: Context) -> tuple[str, Any]:
    """Actionhero's middleware on an Actionhero node (a worker on ``conformance``) vs the
    same middleware on a pyresque app node: ``confRecord`` enqueued (``task.enqueue`` /
    ``Tasks.enqueue``) and run; the hook calls in order, each with its task, queue and args
    (the inputs with their default)."""
    app.needs(ctx, "addMiddleware", "enqueue")
    ns_ah, ns_py = ctx.namespace(), ctx.namespace()
    app.booted(ctx, ns_ah, workers=True)
    try:
        for name, priority in MIDDLEWARE:
            ctx.peer.call("middleware", name=name, priority=priority)
        app.call(ctx, "enqueue", app.RECORD, dict(INPUTS))

        async def all_hooks() -> bool:
            return len(app.recorded(ctx, ns_ah, "middleware")) >= HOOKS

        ctx.run(lambda: app.wait_for(all_hooks))
    finally:
        ctx.peer.call("stop")
    theirs = app.recorded(ctx, ns_ah, "middleware")
    mine: list[dict[str, Any]] = []

    async def enqueue(tasks: Tasks) -> None:
        await tasks.enqueue(app.RECORD, dict(INPUTS))

    async def done(tasks: Tasks) -> bool:
        return len(mine) >= HOOKS

    middleware = [_recording(name, priority, mine) for name, priority in MIDDLEWARE]
    app.pyresque_app(ctx, ns_py, [app.ConfRecord], [app.QUEUE], done, enqueue, middleware)
    return first_difference(theirs, mine) or "", theirs
