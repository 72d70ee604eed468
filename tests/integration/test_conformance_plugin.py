"""``pytest --pyresque-conformance``: one item per conformance check, on the session's Redis;
a DIFF fails with its line, a peer that cannot run skips with why."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyresque.conformance import actionhero
from pyresque.conformance.drivers import actionhero_unavailable
from pyresque.tasks import Input

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
ACTIONHERO_DIR = ROOT / "interop" / "actionhero"
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
NOT_RUBY = ("-k", "not ruby")  # Ruby's rows: tests/integration/test_conformance.py
RUBY_ROWS = 9


def run(pytester: pytest.Pytester, redis_url: str, node: Path, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    pytester.makepyfile("def test_own():\n    pass\n")
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--pyresque-redis-url", redis_url, "-rsf",
        # One argument: a path given apart would count in pytest's choice of rootdir.
        "--pyresque-conformance", f"--pyresque-conformance-node={node}", *args,
    )  # fmt: skip


def test_one_item_per_check_and_ok_ones_pass(pytester: pytest.Pytester, redis_url: str) -> None:
    if actionhero_unavailable(ACTIONHERO_DIR):
        pytest.skip(actionhero_unavailable(ACTIONHERO_DIR) or "")
    result = run(pytester, redis_url, ACTIONHERO_DIR, *NOT_RUBY, "-v")
    result.assert_outcomes(passed=1 + 10 + 7, deselected=RUBY_ROWS)
    result.stdout.fnmatch_lines(
        [
            "*test_conformance?node-resque: enqueue bytes? PASSED*",
            "*test_conformance?actionhero: Actionhero runs pyresque-enqueued task? PASSED*",
        ]
    )


def test_a_diff_fails_with_its_line(
    pytester: pytest.Pytester, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if actionhero_unavailable(ACTIONHERO_DIR):
        pytest.skip(actionhero_unavailable(ACTIONHERO_DIR) or "")
    # pyresque's side of the Actionhero checks, with another default than Actionhero's task
    other = {"id": Input(required=True), "note": Input(default="other")}
    monkeypatch.setattr(actionhero.ConfRecord, "inputs", other)
    result = run(pytester, redis_url, ACTIONHERO_DIR, "-k", "actionhero or own")
    # the rows where pyresque enqueues confRecord fail; its worker (running Actionhero's
    # enqueues) and the periodic task do not use those inputs
    result.assert_outcomes(passed=3, failed=5, deselected=10 + RUBY_ROWS)
    result.stdout.fnmatch_lines(
        ['*task.enqueue bytes (actionhero 29.3.5 (node-resque 9.7.1)): DIFF: *"note":"other"*']
    )


def test_peers_that_cannot_run_skip_with_why(
    pytester: pytest.Pytester, redis_url: str, tmp_path: Path
) -> None:
    result = run(pytester, redis_url, tmp_path, *NOT_RUBY)
    result.assert_outcomes(passed=1, skipped=17, deselected=RUBY_ROWS)
    result.stdout.fnmatch_lines(
        [f"*actionhero: task.enqueue bytes: node-resque is not installed in {tmp_path}*"]
    )


def test_without_the_option_nothing_is_added(pytester: pytest.Pytester, redis_url: str) -> None:
    pytester.makeini(INI)
    pytester.makepyfile("def test_own():\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
