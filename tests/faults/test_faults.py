"""The short fault scenarios against pyresque's worker and scheduler processes.

Each test runs one scenario (its own redis-server, processes and temp dir) and asserts the
claims: 0 lost, no duplicate run without a failure entry explaining it, every delayed job
run exactly once, processes alive, and the scenario's own (see tests/faults/scenarios.py).
The full sizes and node-resque's figures: ``python -m tests.faults --full --with-node``.
"""

from __future__ import annotations

import shutil

import pytest

from tests.faults.scenarios import SCENARIOS, run_scenario

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.timeout(150),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH"),
]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_scenario(name: str) -> None:
    outcome = run_scenario(name, "pyresque", full=False)
    print(outcome.report())
    if outcome.problems:
        pytest.fail(outcome.report(), pytrace=False)
