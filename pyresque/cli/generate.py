"""``pyresque generate``: new app files."""

from __future__ import annotations

import argparse

from pyresque.errors import ConfigurationError, UsageError
from pyresque.tasks.generate import generate_app, generate_task, wire_task

__all__ = ["app", "task"]


def task(options: argparse.Namespace) -> int:
    """``generate task``: write the task and its test, and make the app work its queue;
    print what was done."""
    try:
        files = generate_task(
            options.app, options.name, options.queue, options.frequency, options.description
        )
        _, done = wire_task(options.app, options.queue, periodic=options.frequency > 0)
    except ConfigurationError as exc:  # a name that cannot be, a file already there
        raise UsageError(str(exc)) from None
    print("wrote " + " and ".join(str(path) for path in files))
    if done:
        print(done)
    return 0


def app(options: argparse.Namespace) -> int:
    """``generate app``: write a new app; print the files written."""
    try:
        files = generate_app(options.dir)
    except ConfigurationError as exc:  # a file already there
        raise UsageError(str(exc)) from None
    print("wrote " + ", ".join(str(path) for path in files))
    print(f"next: pyresque start --app {options.dir}")
    return 0
