"""One scenario on one side (pyresque's processes, or node-resque's): its temp dir, private
Redis, processes, failure tap and sightings, all cleaned up whatever happens; and the
result: a table row, the claims that did not hold (``problems``) and the details a
failure report needs (lost ids and where each was last seen, dead processes' stderr).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from tests.faults.accounting import (
    Accounted,
    FailureTap,
    Sightings,
    account,
    in_flight,
    read_final,
)
from tests.faults.harness import Fleet, RedisProcess, Spawned

__all__ = ["Outcome", "Row", "Run", "format_table"]

SHOWN = 15  # ids listed per problem


@dataclass
class Row:
    scenario: str
    side: str
    jobs: int = 0
    done: int = 0
    lost: int = 0
    unexplained: int = 0
    failed: int = 0
    queued: int = 0
    seconds: float = 0.0
    ok: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    row: Row
    problems: list[str]
    details: str

    def report(self) -> str:
        lines = [format_table([self.row])]
        if self.problems:
            lines.append("PROBLEMS:")
            lines += [f"  - {p}" for p in self.problems]
        if self.details:
            lines.append(self.details)
        return "\n".join(lines)


def format_table(rows: Sequence[Row], node: Sequence[Row | None] = ()) -> str:
    head = (
        f"{'scenario':28} {'jobs':>6} {'lost':>5} {'dup?':>5} {'failed':>6} {'queued':>6} "
        f"{'secs':>6} {'result':6}"
    )
    node_head = (
        f" | {'node jobs':>9} {'lost':>5} {'dup?':>5} {'failed':>6} {'queued':>6} "
        f"{'secs':>6} {'ok?':4}"
    )
    lines = [head + (node_head if node else "")]
    for i, row in enumerate(rows):
        line = (
            f"{row.scenario:28} {row.jobs:>6} {row.lost:>5} {row.unexplained:>5} "
            f"{row.failed:>6} {row.queued:>6} {row.seconds:>6.1f} {'PASS' if row.ok else 'FAIL':6}"
        )
        if node:
            other = node[i] if i < len(node) else None
            if other is None:
                line += f" | {'n/a':>9}"
            else:
                line += (
                    f" | {other.jobs:>9} {other.lost:>5} {other.unexplained:>5} "
                    f"{other.failed:>6} {other.queued:>6} {other.seconds:>6.1f} "
                    f"{'yes' if other.ok else 'no':4}"
                )
        lines.append(line)
    notes = [(r, "") for r in rows] + [(r, " (node)") for r in node if r is not None]
    for row, which in notes:
        for note in row.notes:
            lines.append(f"  {row.scenario}{which}: {note}")
    return "\n".join(lines)


class Run:
    """The resources of one scenario run; use as a context manager."""

    def __init__(self, scenario: str, side: str) -> None:
        self.scenario = scenario
        self.side = side
        self.tag = "".join(ch for ch in scenario.lower() if ch.isalnum())[:10]
        self.namespace = f"faults-{self.tag}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"pyresque-faults-{self.tag}-"))
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.t0 = time.monotonic()
        self.redis: RedisProcess | None = None
        self.fleet: Fleet | None = None
        self.tap: FailureTap | None = None
        self.sightings: Sightings | None = None
        self._clients: list[redis.Redis] = []

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- set-up -----------------------------------------------------------------------------
    def start_redis(self, *options: str) -> RedisProcess:
        self.redis = RedisProcess(self.dir / "redis", options)
        self.redis.start()
        self.fleet = Fleet(self.side, self.redis.url, self.namespace)
        return self.redis

    def client(self, **options: float) -> redis.Redis:
        assert self.redis is not None
        client = self.redis.client(**options)
        self._clients.append(client)
        return client

    def watch(self, queues: Sequence[str]) -> None:
        """Start the failure tap and the sightings poller."""
        assert self.redis is not None
        self.queues = list(queues)
        self.tap = FailureTap(self.redis.port, self.namespace).start()
        watcher = self.client(socket_timeout=2, socket_connect_timeout=1)
        self.sightings = Sightings(watcher, self.namespace, self.queues).start()

    def ids(self, count: int, start: int = 0) -> list[str]:
        return [f"fj-{self.tag}-{n:06d}" for n in range(start, start + count)]

    @property
    def procs(self) -> Fleet:
        assert self.fleet is not None
        return self.fleet

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- waiting ----------------------------------------------------------------------------
    def drain(self, timeout: float, *, settle: float = 0.6, stall: float = 8.0) -> bool:
        """Wait until no job is queued, delayed or held for ``settle`` seconds straight.
        Gives up at ``timeout``, when no worker is alive any more, or when nothing moved
        for ``stall`` seconds; True if drained."""
        client = self.client(socket_timeout=2, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        zero_since: float | None = None
        last: tuple[int, int] | None = None
        moved = time.monotonic()
        while time.monotonic() < deadline:
            try:
                left = in_flight(client, self.namespace, self.queues)
                done = client.scard(f"{self.namespace}:fault:done")
            except (redis.RedisError, OSError):
                time.sleep(0.1)
                continue
            now = time.monotonic()
            if left == 0:
                zero_since = now if zero_since is None else zero_since
                if now - zero_since >= settle:
                    return True
            else:
                zero_since = None
            if (left, done) != last:
                last, moved = (left, done), now
            if not self.procs.alive("worker") or now - moved > stall:
                break
            time.sleep(0.1)
        self.note(f"not drained: {last[0] if last else '?'} jobs still in flight")
        return False

    # -- the result -------------------------------------------------------------------------
    def finish(
        self,
        ids: Sequence[str],
        *,
        delayed: Iterable[str] = (),
        uncertain: Iterable[str] = (),
        require_done: Iterable[str] = (),
        expect_exited: Iterable[Spawned] = (),
    ) -> Outcome:
        """Check liveness, read the final state, classify every id and check the claims.
        ``require_done``: ids that must have run (the scenario promises every job finishes);
        ``expect_exited``: processes whose own exit (burst) the scenario checks itself."""
        assert self.redis is not None
        details: list[str] = []
        expected = set(map(id, expect_exited))
        for proc in self.procs.procs:
            if proc.exited_on_its_own and id(proc) not in expected:
                self.problem(f"{proc.describe()} exited on its own")
                details.append(f"--- stderr tail of {proc.describe()}:\n{proc.tail()}")
        if os.environ.get("FAULTS_VERBOSE"):
            for proc in self.procs.procs:
                details.append(f"--- stderr tail of {proc.describe()}:\n{proc.tail(40)}")
        for stopper in (self.sightings, self.tap):
            if stopper is not None:
                stopper.stop()
        client = self.client(socket_timeout=30)
        final = read_final(client, self.namespace, self.queues)
        tapped = self.tap.entries if self.tap is not None else []
        seen = self.sightings.last if self.sightings is not None else {}
        uncertain = [i for i in uncertain if i not in seen]  # seen in Redis: it was enqueued
        found = account(final, ids, tapped=tapped, delayed=delayed, uncertain=uncertain)
        self._claims(found, set(require_done), details)
        row = Row(
            scenario=self.scenario, side=self.side, jobs=found.jobs, done=len(found.done),
            lost=len(found.lost), unexplained=len(found.unexplained), failed=len(found.failed),
            queued=len(found.queued), seconds=time.monotonic() - self.t0,
            ok=not self.problems, notes=self.notes,
        )  # fmt: skip
        if found.duplicates:
            self.note(f"{len(found.duplicates)} ids ran more than once")
        if self.tap is not None:
            self.note(f"{len(tapped)} failure entries written ({self.tap.gaps} tap reconnects)")
        return Outcome(row, list(self.problems), "\n".join(details))

    def where(self, job_id: str) -> str:
        return self.sightings.where(job_id) if self.sightings is not None else "?"

    def _claims(self, found: Accounted, require_done: set[str], details: list[str]) -> None:
        if found.lost:
            self.problem(f"{len(found.lost)} ids lost: " + self._listing(found.lost))
        if found.unexplained:
            runs = {i: found.duplicates[i] for i in found.unexplained}
            self.problem(
                f"{len(found.unexplained)} ids ran more than once with no failure entry: "
                + ", ".join(f"{i} ({n} runs)" for i, n in list(runs.items())[:SHOWN])
            )
        if found.delayed_not_once:
            counts: dict[int, int] = {}
            for runs_of in found.delayed_not_once.values():
                counts[runs_of] = counts.get(runs_of, 0) + 1
            self.problem(
                f"{len(found.delayed_not_once)} delayed jobs not run exactly once "
                f"(runs: count {dict(sorted(counts.items()))}): "
                + self._listing(list(found.delayed_not_once))
            )
        undone = sorted(require_done - set(found.done) - set(found.never_enqueued))
        if undone:
            self.problem(
                f"{len(undone)} of {len(require_done)} jobs that must finish not done: "
                f"{len(require_done & set(found.failed))} failed, "
                f"{len(require_done & set(found.queued))} still queued, "
                f"{len(require_done & set(found.lost))} lost: " + self._listing(undone)
            )
        reasons: dict[str, int] = {}
        for reason in found.failed.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
            self.note(f"failed x{count}: {reason}")
        places: dict[str, int] = {}
        for where in found.queued.values():
            key = where[0].split(":")[0]
            places[key] = places.get(key, 0) + 1
        if places:
            self.note(f"still queued: {places}")
        if found.never_enqueued:
            self.note(f"{len(found.never_enqueued)} enqueues failed and never landed")
        if found.lost:
            details.append("lost ids, last seen:")
            details += [f"  {i}: {self.where(i)}" for i in found.lost[:50]]

    def _listing(self, ids: Sequence[str]) -> str:
        shown = ", ".join(f"{i} [{self.where(i)}]" for i in ids[:SHOWN])
        return shown + (f" ... (+{len(ids) - SHOWN})" if len(ids) > SHOWN else "")

    def close(self) -> None:
        for stopper in (self.sightings, self.tap):
            if stopper is not None:
                stopper.stop()
        if self.fleet is not None:
            self.fleet.close()
        for client in self._clients:
            try:
                client.close()
            except redis.RedisError:
                pass
        if self.redis is not None:
            self.redis.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
