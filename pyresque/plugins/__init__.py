"""Plugins: hooks around enqueue and perform, with node-resque's five built in."""

from pyresque.plugins.base import Hook, Outcome, Plugin, QueueLike, plugin_class, run_plugins

BUILTIN_PLUGINS: dict[str, type[Plugin]] = {}
"""The plugins a job definition may name as strings, by name."""

__all__ = [
    "BUILTIN_PLUGINS",
    "Hook",
    "Outcome",
    "Plugin",
    "QueueLike",
    "plugin_class",
    "run_plugins",
]
