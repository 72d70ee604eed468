"""Plugins: hooks around enqueue and perform, with node-resque's five built in."""

from pyresque.plugins.base import (
    Hook,
    Outcome,
    Plugin,
    QueueLike,
    Veto,
    last_veto,
    plugin_class,
    run_plugins,
)
from pyresque.plugins.delayqueuelock import DelayQueueLock
from pyresque.plugins.joblock import JobLock
from pyresque.plugins.noop import Noop
from pyresque.plugins.queuelock import QueueLock
from pyresque.plugins.retry import Retry

BUILTIN_PLUGINS: dict[str, type[Plugin]] = {
    "DelayQueueLock": DelayQueueLock,
    "JobLock": JobLock,
    "Noop": Noop,
    "QueueLock": QueueLock,
    "Retry": Retry,
}
"""The plugins a job definition may name as strings, by name."""

__all__ = [
    "BUILTIN_PLUGINS",
    "DelayQueueLock",
    "Hook",
    "JobLock",
    "Noop",
    "Outcome",
    "Plugin",
    "QueueLike",
    "QueueLock",
    "Retry",
    "Veto",
    "last_veto",
    "plugin_class",
    "run_plugins",
]
