"""Unit tests run without Redis: a test under tests/unit that asks for the session's Redis,
directly or through another fixture, stops the run at collection (it belongs in
tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    using = [
        item.nodeid
        for item in items
        if HERE in item.path.parents and "redis_url" in getattr(item, "fixturenames", ())
    ]
    if using:
        raise pytest.UsageError(
            "unit tests must not need Redis; move these to tests/integration: " + ", ".join(using)
        )
