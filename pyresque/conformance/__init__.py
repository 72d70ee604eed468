"""``pyresque conformance``: byte-level and behavioural checks of pyresque against the
node-resque and Ruby resque installs the user names, on a Redis the user names (in fresh
random namespaces, deleting only their own keys).

The checks are in :mod:`pyresque.conformance.node` and :mod:`pyresque.conformance.ruby`; the
peer driver scripts they run ship in ``pyresque/conformance/peers/``. spec/conformance.md
lists every check.
"""

from __future__ import annotations

from pyresque.conformance.common import Result
from pyresque.conformance.report import exit_status, json_report, table
from pyresque.conformance.runner import Options, compare_vectors, record_vectors, run_checks

__all__ = [
    "Options",
    "Result",
    "compare_vectors",
    "exit_status",
    "json_report",
    "record_vectors",
    "run_checks",
    "table",
]
