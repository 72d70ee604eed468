"""The conformance report: a plain-text table (check, peer and version, result) or JSON, and
the exit status (0 all ran checks ok, 1 any DIFF)."""

from __future__ import annotations

import json

from pyresque.conformance.common import Result

__all__ = ["exit_status", "json_report", "table"]


def table(results: list[Result]) -> str:
    """The results as an aligned text table, one row per check, and a summary line."""
    rows = [("CHECK", "PEER", "RESULT")]
    for r in results:
        outcome = r.status if not r.detail else f"{r.status}: {r.detail}"
        rows.append((r.check, f"{r.version}" if r.version != "?" else r.peer, outcome))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows]
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "DIFF", "skipped")}
    lines.append(f"{counts['ok']} ok, {counts['DIFF']} DIFF, {counts['skipped']} skipped")
    return "\n".join(lines) + "\n"


def json_report(results: list[Result]) -> str:
    """The results as a JSON document: ``{"results": [...], "exit_status": n}``."""
    document = {"results": [r.as_json() for r in results], "exit_status": exit_status(results)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def exit_status(results: list[Result]) -> int:
    """1 when any check found a difference, else 0."""
    return 1 if any(r.status == "DIFF" for r in results) else 0
