"""Fixtures for the interop tests: one node-resque and one Ruby resque peer per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interop.harness import Peer, node_unavailable, ruby_unavailable, start_node, start_ruby
from pyresque.testing.plugin import delete_namespace

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def spawn_worker(redis_url: str, resque_namespace: str) -> Iterator[Any]:
    """Start ``pyresque worker`` processes (the real CLI, jobs from interop/jobs.py) on the
    test's namespace; leftovers are killed afterwards.

    ``spawn_worker(queues, *extra_cli_args, dialect="node")`` returns the process.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(queues: str, *extra: str, dialect: str = "node") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pyresque", "worker", "--dialect", dialect,
                "--redis", redis_url, "--namespace", resque_namespace,
                "--queues", queues, "--jobs", "interop.jobs:JOBS", *extra,
            ],
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": redis_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
