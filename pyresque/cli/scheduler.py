"""``pyresque scheduler``: run a scheduler until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio

import pyresque.scheduler
from pyresque.cli.options import options_from, usage_error
from pyresque.cli.worker import log_to_stderr
from pyresque.errors import ConfigurationError
from pyresque.scheduler import Scheduler, SchedulerOptions

__all__ = ["run"]


def run(options: argparse.Namespace) -> int:
    """Build the scheduler from the options (a refusal is exit status 2), run it."""
    try:
        scheduler = Scheduler(options.redis, options=options_from(SchedulerOptions, options))
    except ConfigurationError as exc:
        return usage_error(str(exc))
    log_to_stderr(options.log_level, options.log_format)
    # Looked up on the package at run time: tests replace it there.
    return asyncio.run(pyresque.scheduler.run_scheduler_until_signalled(scheduler))
