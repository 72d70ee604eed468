"""``pyresque conformance`` against the real peers: interop/node's node-resque (and Ruby
resque where RUBYLIB or the gems load), and a different node-resque 9.x installed from npm
into a temporary folder (once per session; skipped with the reason when npm cannot)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyresque.conformance import Options, actionhero_app, node, run_checks
from pyresque.conformance.common import Context
from pyresque.conformance.drivers import (
    actionhero_unavailable,
    node_unavailable,
    ruby_unavailable,
)

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "interop" / "node"
ACTIONHERO_DIR = ROOT / "interop" / "actionhero"
"""Actionhero 29.3.5 with node-resque 9.7.1 in its node_modules: node-resque and Actionhero rows."""
ACTIONHERO_ROWS = {
    "task.enqueue bytes",
    "task.enqueueIn bytes",
    "Actionhero runs pyresque-enqueued task",
    "pyresque runs Actionhero-enqueued task",
    "periodic task bytes",
    "admin calls on pyresque state",
    "task middleware",
}
RUBY_ROWS = 9
PEERS = Path(os.environ.get("PYRESQUE_RUBY_PEERS", Path.home() / "peers"))
"""Where interop/README.md has resque's sources unpacked (each pair's ``lib`` folders)."""
RESQUE_3 = ("resque-3.0.0", "resque-scheduler-5.0.0")
OTHER_NODE_RESQUE = "9.3.8"
"""Another node-resque 9.x than interop/node's 9.7.1 (all its rows but "plugin lock keys"
were ok, 2026-12)."""


def conformance(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pyresque", "conformance", "--redis", redis_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    print(result.stdout, result.stderr, sep="\n")
    return result


def rows(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(result.stdout)["results"]
    return found


def _or_skip(folder: Path, reason: str | None) -> Path:
    if reason:
        pytest.skip(reason)
    return folder


@pytest.fixture
def node_dir() -> Path:
    """interop/node (node-resque 9.7.1), or the test skips saying why it cannot run."""
    return _or_skip(NODE_DIR, node_unavailable(NODE_DIR))


@pytest.fixture
def actionhero_dir() -> Path:
    """interop/actionhero (Actionhero 29.3.5), or the test skips saying why."""
    return _or_skip(ACTIONHERO_DIR, actionhero_unavailable(ACTIONHERO_DIR))


@pytest.fixture(scope="session")
def other_node_resque(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH")
    folder = tmp_path_factory.mktemp("node-resque-other")
    install = subprocess.run(
        ["npm", "install", "--prefix", str(folder), f"node-resque@{OTHER_NODE_RESQUE}"]
        + ["--silent", "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if install.returncode != 0:
        reason = " ".join((install.stderr or install.stdout).split())[:200]
        pytest.skip(f"npm could not install node-resque@{OTHER_NODE_RESQUE}: {reason}")
    return folder


def test_every_check_is_ok_against_the_pinned_node_resque(node_dir: Path, redis_url: str) -> None:
    result = conformance("--node", str(node_dir), redis_url=redis_url)
    assert result.returncode == 0
    assert "node-resque 9.7.1" in result.stdout
    assert "10 ok, 0 DIFF, 7 skipped" in result.stdout  # no Actionhero in interop/node
    assert "skipped: no node_modules/actionhero in" in result.stdout


def test_the_actionhero_rows_are_ok_against_the_pinned_actionhero_app(
    actionhero_dir: Path, redis_url: str
) -> None:
    result = conformance("--node", str(actionhero_dir), "--json", redis_url=redis_url)
    assert result.returncode == 0
    found = rows(result)
    actionhero = [r for r in found if r["peer"] == "actionhero"]
    assert {r["check"] for r in actionhero} == ACTIONHERO_ROWS
    assert {r["status"] for r in actionhero} == {"ok"}
    assert {r["version"] for r in actionhero} == {"actionhero 29.3.5 (node-resque 9.7.1)"}
    # and the node-resque rows, from the same folder, too
    node = [r for r in found if r["peer"] == "node-resque"]
    assert len(node) == 10 and {r["status"] for r in node} == {"ok"}


def test_the_actionhero_rows_say_why_they_skip_without_actionhero(
    node_dir: Path, redis_url: str
) -> None:
    result = conformance("--node", str(node_dir), "--only", "task", "--json", redis_url=redis_url)
    assert result.returncode == 0
    found = rows(result)
    assert {r["check"] for r in found} == {row for row in ACTIONHERO_ROWS if "task" in row}
    assert {(r["status"], r["detail"]) for r in found} == {
        ("skipped", f"no node_modules/actionhero in {node_dir}")
    }


def test_a_check_needing_a_task_function_actionhero_lacks_skips_saying_which(
    actionhero_dir: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs = actionhero_app.needs  # as if this Actionhero lacked one more task function

    def more(ctx: Context, *methods: str) -> None:
        needs(ctx, *methods, "enqueueEverything")

    monkeypatch.setattr(actionhero_app, "needs", more)
    options = Options(redis_url=redis_url, node=actionhero_dir, only="periodic task bytes")
    found = [(r.peer, r.check, r.status, r.detail) for r in run_checks(options)]
    assert found == [
        (
            "actionhero",
            "periodic task bytes",
            "skipped",
            "this Actionhero has no task.enqueueEverything",
        )
    ]


def test_a_check_that_breaks_is_its_own_diff_row_and_the_others_still_run(
    node_dir: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Context) -> tuple[str, Any]:
        return {}["no such key"]

    checks = {"broken check": broken, "enqueue bytes": node.NODE_CHECKS["enqueue bytes"]}
    monkeypatch.setattr(node, "NODE_CHECKS", checks)
    options = Options(redis_url=redis_url, node=node_dir, only="e")
    found = [(r.check, r.status, r.detail) for r in run_checks(options) if r.peer == "node-resque"]
    assert found == [
        ("broken check", "DIFF", "error: KeyError: 'no such key'"),
        ("enqueue bytes", "ok", ""),
    ]


def test_every_check_is_ok_against_ruby_resque(redis_url: str) -> None:
    reason = ruby_unavailable(os.environ.get("RUBYLIB"))
    if reason:
        pytest.skip(reason)
    result = conformance("--ruby", "--json", redis_url=redis_url)
    assert result.returncode == 0
    found = rows(result)
    assert len(found) == RUBY_ROWS and {r["status"] for r in found} == {"ok"}
    assert all(r["version"].startswith("resque ") for r in found)


def test_resque_3_rows_are_ok_and_answer_what_the_other_resque_recorded(
    redis_url: str, tmp_path: Path
) -> None:
    """resque 3.0.0 + resque-scheduler 5.0.0 from PEERS against the vectors of the resque on
    RUBYLIB (or the gems; 2.7.0 + 4.11.0 here): no row differs (found so, 2026-12)."""
    resque_3 = os.pathsep.join(str(PEERS / name / "lib") for name in RESQUE_3)
    reason = ruby_unavailable(os.environ.get("RUBYLIB")) or ruby_unavailable(resque_3)
    if reason:
        pytest.skip(reason)
    vectors = tmp_path / "vectors"
    assert conformance("--ruby", "--record", str(vectors), redis_url=redis_url).returncode == 0
    result = conformance(
        "--ruby-lib", resque_3, "--against", str(vectors), "--json", redis_url=redis_url
    )
    found = rows(result)
    assert {r["version"] for r in found} == {"resque 3.0.0 + resque-scheduler 5.0.0"}
    assert len(found) == RUBY_ROWS
    assert [r for r in found if r["status"] != "ok"] == []
    assert result.returncode == 0


def test_another_node_resque_version_and_the_recorded_vectors(
    node_dir: Path, redis_url: str, other_node_resque: Path, tmp_path: Path
) -> None:
    vectors = tmp_path / "vectors"
    recorded = conformance("--node", str(node_dir), "--record", str(vectors), redis_url=redis_url)
    assert recorded.returncode == 0 and len(list(vectors.glob("*.json"))) == 10

    result = conformance(
        "--node", str(other_node_resque), "--against", str(vectors), "--json", redis_url=redis_url
    )
    found = [r for r in rows(result) if r["peer"] == "node-resque"]  # no Actionhero there
    assert {r["version"] for r in found} == {f"node-resque {OTHER_NODE_RESQUE}"}
    # node-resque 9.3.8 writes and answers what 9.7.1 does in every check but two (found
    # so), for one cause: its pluginRunner gives a plugin named by a string ("QueueLock",
    # "Retry") no pluginOptions (its name lookup tests the wrong variable; 9.7.1 fixed it).
    # So the QueueLock lock lives 3600 s, not the job's lockTimeout of 30, and Retry runs
    # with retryLimit 1: the first failure is the last, no reEnqueue.
    diffs = {r["check"]: r["detail"] for r in found if r["status"] != "ok"}
    lock_ttl = "['held']['lock:confQueueLock:conformance:[7]']['ttl']"
    retried = "[['reEnqueue', 300000, 2], ['success']]"
    assert result.returncode == 1
    assert diffs == {
        "plugin lock keys": f"vs recorded (node-resque 9.7.1): {lock_ttl}: "
        "peer '(0,30]' vs pyresque '> 30'",
        "retry plugin keys": "vs recorded (node-resque 9.7.1): ['attempt 1']['events']: "
        f"peer {retried} vs pyresque [['failure']]",
    }
    live = conformance(
        "--node", str(other_node_resque), "--only", "plugin", "--json", redis_url=redis_url
    )  # fmt: skip
    assert [(r["status"], r["detail"]) for r in rows(live) if r["peer"] == "node-resque"] == [
        ("DIFF", f"{lock_ttl}: peer '> 30' vs pyresque '(0,30]'"),
        ("DIFF", f"['attempt 1']['events']: peer [['failure']] vs pyresque {retried}"),
    ]


def test_a_recorded_vector_that_differs_is_a_diff(
    node_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    vectors = tmp_path / "vectors"
    only = ("--node", str(node_dir), "--only", "enqueue bytes")
    assert conformance(*only, "--record", str(vectors), redis_url=redis_url).returncode == 0
    (path,) = vectors.glob("*.json")
    document = json.loads(path.read_text())
    document["vectors"]["queues"]["value"] = ["another"]
    path.write_text(json.dumps(document))

    result = conformance(*only, "--record", str(vectors), redis_url=redis_url)
    assert result.returncode == 1
    assert "DIFF: vs recorded (node-resque 9.7.1): ['queues']['value'][0]" in result.stdout


def test_bad_options_exit_2(redis_url: str, tmp_path: Path) -> None:
    assert conformance(redis_url=redis_url).returncode == 2
    result = conformance("--node", str(tmp_path), redis_url=redis_url)
    assert result.returncode == 2 and "no node_modules/node-resque" in result.stderr
    assert conformance("--ruby-lib", str(tmp_path / "nope"), redis_url=redis_url).returncode == 2
