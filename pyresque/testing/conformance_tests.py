"""The tests ``pytest --pyresque-conformance`` adds: one per ``pyresque conformance`` check
(:mod:`pyresque.conformance`), against the node-resque / Actionhero folder and the Ruby
load path the options name, on the session's Redis (the ``redis_url`` fixture).

The plugin (:mod:`pyresque.testing.plugin`) collects this module when the option is given:
:func:`collect` makes its items. Each item passes on ``ok``, fails with the DIFF line, and
skips with the reason a peer cannot run. The checks run once, at the first item.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["collect", "planned_rows", "test_conformance"]

_PEERS = ("node-resque", "actionhero", "ruby resque")


def _node_dir(config: pytest.Config) -> Path:
    given = config.getoption("--pyresque-conformance-node")
    return Path(given) if given else config.rootpath


def _ruby_lib(config: pytest.Config) -> str:
    given = config.getoption("--pyresque-conformance-ruby-lib")
    return str(given).replace(os.pathsep, ":") if given else ""


def planned_rows() -> list[tuple[str, str]]:
    """Every (peer, check) row the conformance run makes, in report order."""
    from pyresque.conformance.actionhero import ACTIONHERO_CHECKS
    from pyresque.conformance.node import NODE_CHECKS
    from pyresque.conformance.ruby import RUBY_CHECKS

    checks = (NODE_CHECKS, ACTIONHERO_CHECKS, RUBY_CHECKS)
    return [(peer, name) for peer, found in zip(_PEERS, checks, strict=True) for name in found]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One item per conformance row."""
    if "conformance_row" in metafunc.fixturenames:
        rows = planned_rows()
        metafunc.parametrize("conformance_row", rows, ids=[f"{p}: {c}" for p, c in rows])


@pytest.fixture(scope="session")
def pyresque_conformance_results(
    request: pytest.FixtureRequest, redis_url: str
) -> dict[tuple[str, str], Any]:
    """Every row's :class:`~pyresque.conformance.Result`, by (peer, check): the checks run
    once, on the session's Redis."""
    from pyresque.conformance import Options, run_checks

    config = request.config
    options = Options(redis_url=redis_url, node=_node_dir(config), ruby_lib=_ruby_lib(config))
    return {(r.peer, r.check): r for r in run_checks(options)}


def test_conformance(
    conformance_row: tuple[str, str],
    pyresque_conformance_results: dict[tuple[str, str], Any],
) -> None:
    """One conformance check: ok passes, DIFF fails with its line, skipped skips."""
    peer, check = conformance_row
    result = pyresque_conformance_results.get(conformance_row)
    if result is None:
        pytest.fail(f"{peer}: {check}: the conformance run made no such row", pytrace=False)
    if result.status == "skipped":
        pytest.skip(f"{peer}: {check}: {result.detail}")
    if result.status != "ok":
        pytest.fail(f"{check} ({result.version}): DIFF: {result.detail}", pytrace=False)


def collect(session: pytest.Session) -> list[pytest.Item]:
    """This module's items (one per conformance row), for the plugin to add."""
    module = pytest.Module.from_parent(session, path=Path(__file__), nodeid="pyresque-conformance")
    items: list[pytest.Item] = []
    for node in module.collect():
        if isinstance(node, pytest.Item):
            items.append(node)
    return items
