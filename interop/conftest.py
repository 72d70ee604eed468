"""Fixtures for the interop tests: one node-resque and one Ruby resque peer per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from interop.harness import Peer, node_unavailable, ruby_unavailable, start_node, start_ruby
from pyresque.testing.plugin import delete_namespace


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def node(redis_url: str) -> Iterator[Peer]:
    """The real node-resque 9.7.1 (interop/node). In CI its absence fails the test."""
    reason = node_unavailable()
    if reason is not None:
        if _ci():
            pytest.fail(f"node-resque interop must run in CI: {reason}")
        pytest.skip(reason)
    peer = start_node(redis_url)
    yield peer
    peer.close()


def _ruby(redis_url: str, adapter: str) -> Iterator[Peer]:
    reason = ruby_unavailable()
    if reason is not None:
        print(f"\nRuby interop skipped: {reason}")
        pytest.skip(f"Ruby resque unavailable: {reason}")
    peer = start_ruby(redis_url, adapter=adapter)
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def ruby(redis_url: str) -> Iterator[Peer]:
    """Real Ruby resque 2.7 + resque-scheduler 4.11 with the json gem (resque's default)."""
    yield from _ruby(redis_url, "json_gem")


@pytest.fixture(scope="session")
def ruby_oj(redis_url: str) -> Iterator[Peer]:
    """The same Ruby peer with MultiJson on Oj (what Debian's multi_json picks)."""
    yield from _ruby(redis_url, "oj")


@pytest.fixture
def namespaces(redis_url: str) -> Iterator[list[str]]:
    """Extra namespaces a test fills in; all are deleted afterwards."""
    made: list[str] = []
    yield made
    for namespace in made:
        delete_namespace(redis_url, namespace)
