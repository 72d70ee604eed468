"""``python -m tests.faults [--full] [--with-node] [--scenario NAME ...]``: run the fault
scenarios and print, per scenario, jobs, lost, unexplained duplicates, failed with a
reason, still queued, for pyresque's processes (asserted by the tests) and, with
``--with-node``, for node-resque 9.x's processes in the same scenario (reported only).
Run from the repository root. Exit status 1 when a pyresque scenario has problems."""

from __future__ import annotations

import argparse
import sys
import time

from tests.faults.harness import kill_leftovers, node_unavailable
from tests.faults.run import Outcome, Row, format_table
from tests.faults.scenarios import SCENARIOS, run_scenario


def _run(name: str, side: str, full: bool) -> Outcome:
    print(f"... {name} ({side})", file=sys.stderr, flush=True)
    try:
        return run_scenario(name, side, full=full)
    except Exception as exc:  # a harness error: shown as a failed row, the rest still run
        row = Row(scenario=name, side=side, notes=[f"harness error: {exc!r}"])
        return Outcome(row, [f"harness error: {exc!r}"], "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--full", action="store_true", help="full sizes (default: short)")
    parser.add_argument("--with-node", action="store_true", help="also run node-resque's side")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="only these (repeatable)"
    )
    options = parser.parse_args(argv)
    if options.with_node and (why := node_unavailable()):
        parser.error(f"--with-node: {why}")
    names = options.scenario or list(SCENARIOS)
    started = time.monotonic()
    ours: list[Outcome] = []
    theirs: list[Row | None] = []
    try:
        for name in names:
            ours.append(_run(name, "pyresque", options.full))
            if options.with_node:
                node_ok = "node" in SCENARIOS[name].sides
                theirs.append(_run(name, "node", options.full).row if node_ok else None)
    finally:
        kill_leftovers()
    size = "full" if options.full else "short"
    print(f"\nfault scenarios ({size}), {time.monotonic() - started:.0f} s; "
          "dup? = ran more than once with no failure entry explaining it")  # fmt: skip
    print(format_table([o.row for o in ours], theirs if options.with_node else ()))
    for outcome in ours:
        if outcome.details and not outcome.problems:
            print(f"\n=== {outcome.row.scenario} (pyresque)\n{outcome.details}")
        if outcome.problems:
            print(f"\n=== {outcome.row.scenario} (pyresque): problems")
            print("\n".join(f"  - {p}" for p in outcome.problems))
            if outcome.details:
                print(outcome.details)
    return 1 if any(o.problems for o in ours) else 0


if __name__ == "__main__":
    raise SystemExit(main())
