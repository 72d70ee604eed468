"""``pyresque generate``: new app files."""

from __future__ import annotations

import argparse

from pyresque.errors import ConfigurationError, UsageError
from pyresque.tasks.generate import generate_task

__all__ = ["task"]


def task(options: argparse.Namespace) -> int:
    """``generate task``: write the task and its test; print what was written."""
    try:
        files = generate_task(
            options.app, options.name, options.queue, options.frequency, options.description
        )
    except ConfigurationError as exc:  # a name that cannot be, a file already there
        raise UsageError(str(exc)) from None
    print("wrote " + " and ".join(str(path) for path in files))
    return 0
