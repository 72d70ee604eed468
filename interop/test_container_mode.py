"""``PYRESQUE_PEERS=containers`` without a Docker engine: every interop test skips with one
short reason, and under ``CI=true`` fails instead (the container job must really run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interop import containers

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[1]
ONE_TEST = "interop/test_node_queue.py::test_queue_reads_match_node_resque_after_node_enqueues"


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "REDIS_URL")}
    full.update(PYRESQUE_PEERS="containers", DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", ONE_TEST, "-rs", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_without_docker_the_container_mode_skips_saying_why(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "PYRESQUE_PEERS=containers: no Docker engine answers here" in done.stdout
    assert "interop: Docker unavailable here; -v shows why" in done.stdout


def test_without_docker_the_container_mode_fails_in_ci(tmp_path: Path) -> None:
    done = _run(tmp_path, CI="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CI=true: the container mode must run" in done.stdout


def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "MODE", "kubernetes")
    with pytest.raises(RuntimeError, match="use local"):
        containers.enabled()
