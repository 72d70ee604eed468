"""``pyresque demo``."""

from __future__ import annotations

import argparse

from pyresque.demo import run_demo

__all__ = ["run"]


def run(options: argparse.Namespace) -> int:
    """Run the demo against ``--redis`` (or a Redis it finds)."""
    return run_demo(options.redis)
