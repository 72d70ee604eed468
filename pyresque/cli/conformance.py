"""``pyresque conformance``: check pyresque against the node-resque and Ruby resque the user
names, on their Redis, and print a table (or JSON); exit 1 on any difference."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pyresque.conformance import (
    Options,
    compare_vectors,
    exit_status,
    json_report,
    record_vectors,
    run_checks,
    table,
)
from pyresque.errors import UsageError

__all__ = ["run"]


def _options(options: argparse.Namespace) -> Options:
    if options.node is None and options.ruby_lib is None and not options.ruby:
        raise UsageError("name at least one peer: --node PATH, --ruby-lib PATH or --ruby")
    node = None
    if options.node is not None:
        node = Path(options.node)
        if not (node / "node_modules" / "node-resque").is_dir():
            raise UsageError(f"--node {options.node}: no node_modules/node-resque there")
    ruby_lib = None
    if options.ruby_lib is not None:
        missing = [p for p in options.ruby_lib.split(":") if p and not Path(p).is_dir()]
        if missing:
            raise UsageError(f"--ruby-lib: no folder {missing[0]}")
        ruby_lib = options.ruby_lib
    elif options.ruby:
        ruby_lib = ""  # installed gems
    url = options.redis or os.environ.get("REDIS_URL")
    if not url:
        raise UsageError("no Redis: give --redis URL or set REDIS_URL")
    return Options(redis_url=url, node=node, ruby_lib=ruby_lib, only=options.only)


def run(options: argparse.Namespace) -> int:
    """Run the checks; print the report; 0 all ran checks ok, 1 any DIFF, 2 bad options."""
    chosen = _options(options)
    against = Path(options.against) if options.against else None
    record = Path(options.record) if options.record else None
    if against is not None and not against.is_dir():
        raise UsageError(f"--against {options.against}: no such folder")
    results = run_checks(chosen)
    if record is not None and against is None and any(record.glob("*.json")):
        against = record  # recorded before: compare with it, leave it as it is
    elif record is not None:
        written = record_vectors(results, record)
        print(f"recorded {written} vector files in {record}", file=sys.stderr)
    if against is not None:
        compare_vectors(results, against)
    print(json_report(results) if options.json else table(results), end="")
    return exit_status(results)
