"""The anchors benchmark and the memory benchmark cannot rot: both run here with tiny counts.

rq and arq come only with the bench extra (not in dev, so not in CI): where they are not
installed, anchors.py and memory.py must skip them, saying why, and still report the rest.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = (
    shutil.which("node") is not None
    and (ROOT / "interop" / "node" / "node_modules" / "node-resque").is_dir()
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_anchors_runs_every_available_system_and_skips_the_rest() -> None:
    out = run(
        "benchmarks/anchors.py",
        "--jobs", "40", "--samples", "3", "--slow-samples", "1", "--rounds", "1",
    )  # fmt: skip
    assert "| pyresque " in out
    assert "verified pyresque" in out
    for module, key in (("rq", "rq"), ("arq", "arq")):
        if importlib.util.find_spec(module) is None:
            assert f"skipped {key}: {module} is not installed" in out
        else:
            assert f"verified {module} " in out
    if NODE:
        assert "| node-resque 9.7.1 " in out
        assert "Ratio to node-resque" in out
    else:
        assert "skipped node:" in out


def test_memory_reports_idle_processes_and_growth() -> None:
    out = run(
        "benchmarks/memory.py", "--growth-jobs", "400", "--points", "2", "--settle", "0.2",
    )  # fmt: skip
    assert "| pyresque worker, 1 worker (asyncio) |" in out
    assert "| pyresque worker, MultiWorker of 10 (asyncio) |" in out
    assert "| pyresque start --app examples/app (task node) |" in out
    if NODE:
        assert "| node-resque MultiWorker of 10 |" in out
    assert "| 400 |" in out
