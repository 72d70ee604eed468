"""JobLock: one copy of a job (same class, queue and args) runs at a time, cluster-wide.

node-resque's ``JobLock``, on the same key: ``workerslock:<class>:<queue>:<args JSON>``,
value ``now_s + lockTimeout + 1``, TTL ``lockTimeout`` (3600 s). A worker that finds the
lock held does not run the job: it delays it by ``enqueueTimeout`` ms (1001) unless
``reEnqueue`` is false, and counts nothing. The lock goes when the job ends.

Options (node's names, or their snake_case): ``lockTimeout``, ``reEnqueue``,
``enqueueTimeout``, ``key`` (a string, or a callable given the plugin, for the whole key).

The helpers here (options, custom keys, delaying a job) serve the other built-ins too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pyresque.errors import ConfigurationError
from pyresque.plugins.base import Plugin
from pyresque.protocol.plans import locks

__all__ = ["JobLock", "custom_key", "delay_job", "milliseconds", "option", "whole_seconds"]

_MAX_BUMPS = 60


def option(options: Mapping[str, Any], camel: str, snake: str | None = None) -> Any:
    """An option by node's camelCase name, else its snake_case twin; None when unset."""
    value = options.get(camel)
    if value is None and snake is not None:
        value = options.get(snake)
    return value


def whole_seconds(value: Any, default: int, name: str) -> int:
    """A TTL option: node falls back to the default for any falsy value (0 included)."""
    if not value:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, not {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ConfigurationError(f"{name} must be whole seconds (Redis EX), not {value!r}")
    return int(value)


def milliseconds(value: Any, default: float, name: str) -> float:
    """A delay option in ms; node falls back to the default for any falsy value."""
    if not value:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number of milliseconds, not {value!r}")
    return value


def custom_key(plugin: Plugin) -> str | None:
    """The ``key`` option: a string, or a callable called with the plugin."""
    key = plugin.options.get("key")
    if not key:
        return None
    return str(key(plugin) if callable(key) else key)


async def delay_job(plugin: Plugin, delay_ms: float) -> None:
    """Delay the plugin's job by ``delay_ms`` (node-resque's ``enqueueIn``).

    node-resque throws when the identical job is already delayed to that second, which
    fails a job that should only have been put off; here it goes one second later.
    """
    queue = plugin.queue_object
    if queue is None:
        raise ConfigurationError(f"{type(plugin).__name__} needs a queue to delay jobs with")
    for bump in range(_MAX_BUMPS):
        added = await queue.enqueue_in(
            delay_ms + 1000 * bump,
            plugin.queue,
            plugin.job_class,
            plugin.args,
            suppress_duplicate=True,
        )
        if added is not None:
            return
    await queue.enqueue_in(
        delay_ms + 1000 * _MAX_BUMPS, plugin.queue, plugin.job_class, plugin.args
    )


class JobLock(Plugin):
    """Run one copy of a job at a time; see the module docstring."""

    def key(self) -> str:
        """The lock key: the ``key`` option, else ``workerslock:<class>:<queue>:<args JSON>``."""
        found = custom_key(self)
        if found is not None:
            return found
        return self.context.keys.job_lock(self.job_class, self.queue, locks.args_json(self.args))

    async def before_perform(self) -> bool:
        timeout = whole_seconds(
            option(self.options, "lockTimeout", "lock_timeout"), 3600, "lockTimeout"
        )
        if await self.run(locks.acquire_job_lock(self.context, self.key(), timeout)):
            return True
        re_enqueue = option(self.options, "reEnqueue", "re_enqueue")
        if re_enqueue is None or re_enqueue:
            delay = milliseconds(
                option(self.options, "enqueueTimeout", "enqueue_timeout"), 1001, "enqueueTimeout"
            )
            await delay_job(self, delay)
        return False

    async def after_perform(self) -> bool:
        await self.run(locks.release_lock(self.key()))
        return True
