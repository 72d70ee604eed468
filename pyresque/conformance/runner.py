"""Run the conformance checks against the peers the user named, and compare with golden
vectors recorded earlier (``--record`` / ``--against``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyresque.conformance.common import Check, Context, Result, first_difference
from pyresque.conformance.drivers import (
    Peer,
    actionhero_unavailable,
    node_unavailable,
    ruby_unavailable,
    start_actionhero,
    start_node,
    start_ruby,
)
from pyresque.errors import ConformanceSkipError, PyresqueError

__all__ = ["Options", "compare_vectors", "record_vectors", "run_checks"]


@dataclass
class Options:
    """What to check: ``node`` a folder with node_modules/node-resque, ``ruby_lib`` a Ruby
    load path (``""``: installed gems), ``None`` to leave that peer out."""

    redis_url: str
    node: Path | None = None
    ruby_lib: str | None = None
    only: str | None = None
    """Run only the checks whose name contains this text."""


def _node_version(peer: Peer) -> str:
    found = peer.call("version")
    version = f"node-resque {found['node-resque']}"
    if found.get("actionhero"):
        version += f" (actionhero {found['actionhero']})"
    return version


def _actionhero_version(peer: Peer) -> str:
    found = peer.call("version")
    return f"actionhero {found['actionhero']} (node-resque {found['node-resque']})"


def _ruby_version(peer: Peer) -> str:
    found = peer.call("version")
    return f"resque {found['resque']} + resque-scheduler {found['resque-scheduler']}"


def _run_peer(
    label: str,
    checks: dict[str, Check],
    start: Callable[[], Peer],
    describe: Callable[[Peer], str],
    options: Options,
) -> list[Result]:
    chosen = {name: check for name, check in checks.items() if _wanted(name, options)}
    if not chosen:
        return []
    try:
        peer = start()
        version = describe(peer)
    except PyresqueError as exc:
        return [Result(name, label, "?", "skipped", f"peer failed: {exc}") for name in chosen]
    results = []
    try:
        for name, check in chosen.items():
            ctx = Context(peer, options.redis_url)
            quiet = logging.getLogger("pyresque.worker")
            was, quiet.disabled = quiet.disabled, True  # its failure lines are expected
            try:
                found, vectors = check(ctx)
                status = "DIFF" if found else "ok"
                results.append(Result(name, label, version, status, found, vectors))
            except ConformanceSkipError as exc:
                results.append(Result(name, label, version, "skipped", str(exc)))
            except PyresqueError as exc:
                results.append(Result(name, label, version, "DIFF", f"error: {exc}"))
            except Exception as exc:  # a check's own failure: its row says so, the rest run
                found = f"error: {type(exc).__name__}: {exc}"
                results.append(Result(name, label, version, "DIFF", found))
            finally:
                quiet.disabled = was
                ctx.cleanup()
    finally:
        peer.close()
    return results


def _peer_rows(
    label: str,
    checks: dict[str, Check],
    reason: str | None,
    start: Callable[[], Peer],
    describe: Callable[[Peer], str],
    options: Options,
) -> list[Result]:
    if reason:
        return [
            Result(name, label, "?", "skipped", reason) for name in checks if _wanted(name, options)
        ]
    return _run_peer(label, checks, start, describe, options)


def _wanted(name: str, options: Options) -> bool:
    return options.only is None or options.only in name


def run_checks(options: Options) -> list[Result]:
    """Every check for each peer named in ``options`` (a peer that cannot run: its rows
    skipped, with why)."""
    from pyresque.conformance.actionhero import ACTIONHERO_CHECKS
    from pyresque.conformance.node import NODE_CHECKS
    from pyresque.conformance.ruby import RUBY_CHECKS

    results: list[Result] = []
    if options.node is not None:
        node_dir = options.node
        results += _peer_rows(
            "node-resque",
            NODE_CHECKS,
            node_unavailable(node_dir),
            lambda: start_node(node_dir, options.redis_url),
            _node_version,
            options,
        )
        results += _peer_rows(
            "actionhero",
            ACTIONHERO_CHECKS,
            actionhero_unavailable(node_dir),
            lambda: start_actionhero(node_dir, options.redis_url),
            _actionhero_version,
            options,
        )
    if options.ruby_lib is not None:
        ruby_lib = options.ruby_lib or None
        results += _peer_rows(
            "ruby resque",
            RUBY_CHECKS,
            ruby_unavailable(ruby_lib),
            lambda: start_ruby(ruby_lib, options.redis_url),
            _ruby_version,
            options,
        )
    return results


def _file_name(result: Result) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", f"{result.peer} {result.check}").strip("-") + ".json"


def record_vectors(results: list[Result], folder: Path) -> int:
    """Write what each check's peer wrote or answered as JSON files in ``folder``; the
    number of files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for result in results:
        if result.vectors is None:
            continue
        document = {**result.as_json(), "vectors": result.vectors}
        (folder / _file_name(result)).write_text(
            json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
            encoding="utf-8",
        )
        written += 1
    return written


def compare_vectors(results: list[Result], folder: Path) -> None:
    """Mark as DIFF each ran check whose peer wrote or answered other than recorded in
    ``folder`` (a check with no recording there is left as it is)."""
    for result in results:
        path = folder / _file_name(result)
        if result.vectors is None or not path.exists():
            continue
        recorded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        found = first_difference(recorded.get("vectors"), result.vectors)
        if found:
            result.status = "DIFF"
            result.detail = f"vs recorded ({recorded.get('version')}): {found}"
