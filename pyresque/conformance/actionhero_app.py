"""What the Actionhero checks share: pyresque's twins of the tasks of the small Actionhero app
shipped in ``pyresque/conformance/peers/actionhero`` (same names, queues, inputs and
frequency), and the steps that boot that Actionhero, call its ``task.*`` functions, run
pyresque's side and wait for runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pyresque.conformance.common import Context
from pyresque.errors import ConformanceJobError, ConformanceSkipError, PeerError
from pyresque.protocol.keys import KeySpace
from pyresque.tasks import App, Input, Task, TaskMiddleware, Tasks, TasksConfig

__all__ = [
    "FAIL",
    "PERIODIC",
    "PERIODIC_QUEUE",
    "QUEUE",
    "RECORD",
    "ConfFail",
    "ConfPeriodic",
    "ConfRecord",
    "actionhero",
    "booted",
    "call",
    "failed_count",
    "needs",
    "pyresque",
    "pyresque_app",
    "recorded",
    "recording",
    "registry",
    "wait_for",
]

RECORD = "confRecord"
FAIL = "confFail"
PERIODIC = "confPeriodic"
QUEUE = "conformance"
PERIODIC_QUEUE = "conformancePeriodic"
WAIT_S = 15.0
"""How long a check waits for a worker to run what it was given."""


class ConfRecord(Task):
    """pyresque's twin of the shipped ``confRecord``: same name, queue and inputs."""

    name = RECORD
    queue = QUEUE
    inputs = {"id": Input(required=True), "note": Input(default="from-default")}

    async def run(self, params: Any, worker: Any) -> Any:
        """Only enqueued, unless a check gives it a recorder (:func:`recording`)."""
        return params["id"]


class ConfFail(Task):
    """pyresque's twin of the shipped ``confFail``: fails with ``failure <id>``."""

    name = FAIL
    queue = QUEUE

    async def run(self, params: Any, worker: Any) -> Any:
        """Fail, as the shipped task throws."""
        raise ConformanceJobError(f"failure {params.get('id')}")


class ConfPeriodic(Task):
    """pyresque's twin of the shipped periodic ``confPeriodic`` (an hour's frequency)."""

    name = PERIODIC
    queue = PERIODIC_QUEUE
    frequency = 3_600_000

    async def run(self, params: Any, worker: Any) -> Any:
        """Only enqueued, unless a check gives it a recorder (:func:`recording`)."""
        return None


def recording(task: type[Task], into: list[Any]) -> type[Task]:
    """``task`` whose runs append what they saw to ``into``: the params (``confRecord``)
    or the time in ms (the others)."""

    class Recording(task):  # type: ignore[valid-type,misc]
        async def run(self, params: Any, worker: Any) -> Any:
            into.append(dict(params) if self.name == RECORD else int(time.time() * 1000))
            return await super().run(params, worker)

    return Recording


def booted(
    ctx: Context, namespace: str, *, workers: bool, queues: Sequence[str] = (QUEUE,)
) -> None:
    """Boot Actionhero on ``namespace``: with ``workers`` its scheduler (which enqueues the
    periodic task) and one task processor on ``queues``, neither without."""
    tasks = ctx.peer.call("start", namespace=namespace, workers=workers, queues=list(queues))
    missing = {RECORD, FAIL, PERIODIC} - set(tasks)
    if missing:
        ctx.peer.call("stop")
        raise PeerError(f"Actionhero did not load the tasks {sorted(missing)} (it loaded {tasks})")


def needs(ctx: Context, *methods: str) -> None:
    """Skip the check (:class:`~pyresque.errors.ConformanceSkipError`) when this Actionhero
    lacks a ``task.*`` function it calls (asked of a booted Actionhero)."""
    namespace = ctx.namespace()
    booted(ctx, namespace, workers=False)
    try:
        found = set(ctx.peer.call("methods"))
    finally:
        ctx.peer.call("stop")
    missing = [m for m in methods if m not in found]
    if missing:
        raise ConformanceSkipError(f"this Actionhero has no task.{', task.'.join(missing)}")


def call(ctx: Context, method: str, *args: Any) -> Any:
    """Actionhero's ``task.<method>(...args)`` on the booted Actionhero."""
    return ctx.peer.call("task", method=method, args=list(args))


def actionhero(ctx: Context, namespace: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """Boot Actionhero on ``namespace`` (no workers), make the ``task.*`` calls, stop."""
    booted(ctx, namespace, workers=False)
    try:
        return [call(ctx, m, *args) for m, args in calls]
    finally:
        ctx.peer.call("stop")


def registry(ctx: Context, namespace: str, *tasks: type[Task]) -> Tasks:
    """pyresque's registry on ``namespace`` with ``tasks`` (default: the twins)."""
    found = Tasks(ctx.redis_url, namespace=namespace)
    for task in tasks or (ConfRecord, ConfFail, ConfPeriodic):
        found.add(task)
    return found


def pyresque(ctx: Context, namespace: str, calls: Callable[[Tasks], Awaitable[Any]]) -> Any:
    """Run ``calls`` on pyresque's registry of the twins on ``namespace``."""

    async def side() -> Any:
        tasks = registry(ctx, namespace)
        try:
            return await calls(tasks)
        finally:
            await tasks.aclose()

    return ctx.run(side)


def pyresque_app(
    ctx: Context,
    namespace: str,
    tasks: Sequence[type[Task]],
    queues: Sequence[str],
    done: Callable[[Tasks], Awaitable[bool]],
    calls: Callable[[Tasks], Awaitable[Any]] | None = None,
    middleware: Sequence[TaskMiddleware] = (),
) -> None:
    """Run a pyresque app node on ``namespace`` with ``tasks`` and ``middleware``: one task
    processor on ``queues`` and its scheduler (which enqueues the periodic ones). Make
    ``calls``, wait until ``done``, stop."""

    async def side() -> None:
        found = registry(ctx, namespace, *tasks)
        for each in middleware:
            found.add_middleware(each)
        config = TasksConfig(
            redis=ctx.redis_url, namespace=namespace, scheduler=True, timeout=50,
            check_timeout=50, min_task_processors=1, max_task_processors=1,
            queues=tuple(queues),
        )  # fmt: skip
        app = App(config, tasks=found)
        await app.start()
        try:
            if calls is not None:
                await calls(found)
            await wait_for(lambda: done(found))
        finally:
            await app.stop()
            await found.aclose()

    ctx.run(side)


async def wait_for(done: Callable[[], Awaitable[bool]]) -> None:
    """Until ``done`` (a peer's worker has run what it was given); PeerError after
    :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while not await done():
        if time.monotonic() > deadline:
            raise PeerError(f"no worker ran the conformance tasks within {WAIT_S} s")
        await asyncio.sleep(0.05)


def recorded(ctx: Context, namespace: str, what: str) -> list[Any]:
    """What the shipped Actionhero tasks recorded on ``<namespace>:conformance:<what>``."""
    return [
        json.loads(entry) for entry in ctx.client.lrange(f"{namespace}:conformance:{what}", 0, -1)
    ]


def failed_count(ctx: Context, namespace: str) -> int:
    """The failed list's length on ``namespace``."""
    return int(ctx.client.llen(KeySpace(namespace).failed()))
