"""Task middleware, as Actionhero has it, run as resque plugins.

A middleware has up to four hooks, each called with the running plugin (``hook(plugin)``;
``plugin.args[0]`` are the task's params, ``plugin.queue``, ``plugin.job_class``,
``plugin.outcome`` around performs): ``pre_enqueue`` (False vetoes the enqueue),
``post_enqueue``, ``pre_processor`` (False drops the run; it may change the params),
``post_processor`` (runs after failures too; it may replace ``outcome.result`` or clear
``outcome.error``). Hooks may be coroutine functions.

Order: the task's own plugins, the periodic locks, then the middleware that applies to
the task (the global ones and those the task names) by ascending priority. Equal
priorities keep the global ones first, in registration order, then the task's in declared
order; 0 is a priority like any other, and a global one the task also names runs once.
With every priority left at the default this is Actionhero's order; Actionhero sorts only
the global ones and appends the task's own whatever their priority.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyresque.plugins.base import Plugin
from pyresque.tasks.task import TaskDefinitionError

__all__ = ["DEFAULT_PRIORITY", "TaskMiddleware", "middleware_plugin", "ordered"]

DEFAULT_PRIORITY = 100

Hook = Callable[[Plugin], Any]


@dataclass(frozen=True, slots=True)
class TaskMiddleware:
    """``global_``: applies to every task; ``priority``: lower runs first (module docstring)."""

    name: str
    global_: bool = False
    priority: int = DEFAULT_PRIORITY
    pre_enqueue: Hook | None = None
    post_enqueue: Hook | None = None
    pre_processor: Hook | None = None
    post_processor: Hook | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TaskDefinitionError("middleware.name is required")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TaskDefinitionError(
                f"middleware {self.name!r}: priority must be an int, not {self.priority!r}"
            )


async def _call(hook: Hook | None, plugin: Plugin) -> bool | None:
    if hook is None:
        return True
    result = hook(plugin)
    if inspect.isawaitable(result):
        result = await result
    return None if result is None else bool(result)


def middleware_plugin(middleware: TaskMiddleware) -> type[Plugin]:
    """A plugin class running ``middleware``'s hooks. Each middleware gets its own plugin
    name (``middleware:<name>``), so plugin options can target it (Actionhero gives them
    all one name)."""

    class MiddlewarePlugin(Plugin):
        plugin_name = f"middleware:{middleware.name}"

        async def before_enqueue(self) -> bool | None:
            return await _call(middleware.pre_enqueue, self)

        async def after_enqueue(self) -> bool | None:
            await _call(middleware.post_enqueue, self)
            return True

        async def before_perform(self) -> bool | None:
            return await _call(middleware.pre_processor, self)

        async def after_perform(self) -> bool | None:
            await _call(middleware.post_processor, self)
            return True

    MiddlewarePlugin.__qualname__ = f"MiddlewarePlugin[{middleware.name}]"
    return MiddlewarePlugin


def ordered(
    registered: Mapping[str, TaskMiddleware], task_middleware: Iterable[str], task_name: str
) -> list[TaskMiddleware]:
    """The middleware that applies to a task, in running order (see the module docstring)."""
    names = [m.name for m in registered.values() if m.global_]
    for name in task_middleware:
        if name not in registered:
            # Actionhero ignores an unknown name silently: a typo then disables it.
            raise TaskDefinitionError(f"task `{task_name}` names unknown middleware {name!r}")
        if name not in names:
            names.append(name)
    # sorted() is stable: ties keep the order built above.
    return sorted((registered[name] for name in names), key=lambda m: m.priority)
