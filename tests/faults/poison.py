"""Scenario 7: wrong-typed keys and poison payloads.

``<ns>:queue:bad`` is a string (``SET ... x``); a worker works ``bad,good``. Between real
jobs, payloads no worker can run are RPUSHed raw onto ``good``: invalid JSON, a number
JSON cannot hold in a double (``1e400``), invalid UTF-8, an array nested 2,000 deep, an
unknown class, a JSON value that is not an object. Every real job must be done, every
poison payload must be in ``failed`` with its original bytes recoverable from the entry
(as a string in it, or as the decoded payload, numbers compared exactly), the worker must
not die, and ``--burst`` must end.

A scheduler runs too, with delayed jobs due in the same second: most for ``good``, two for
``bad``. The ``good`` ones must be promoted and run exactly once; the ``bad`` ones cannot
be queued, but must not be lost (failed with a reason, or still delayed). The worker starts
once the schedule is empty (or after a timeout), so ``--burst`` sees them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pyresque.sync import Queue as SyncQueue
from tests.faults.harness import wait_until
from tests.faults.run import Outcome, Run

__all__ = ["poison_payloads", "poison_scenario", "recovered"]

GOOD = "good"
BAD = "bad"
_MISSING = object()


def poison_payloads(dialect: str) -> list[tuple[str, bytes]]:
    """(what, raw bytes) of each poison payload, in the dialect's payload shape."""

    def job(job_class: bytes, args: bytes) -> bytes:
        if dialect == "node":
            return b'{"class":"' + job_class + b'","queue":"good","args":' + args + b"}"
        return b'{"class":"' + job_class + b'","args":' + args + b"}"

    return [
        ("invalid JSON", job(b"work", b'["poison-invalid-json"')[:-1]),
        ("number 1e400", job(b"work", b"[1e400]")),
        ("invalid UTF-8", job(b"work", b'["poison-\xff\xfe-utf8"]')),
        ("array nested 2000 deep", job(b"work", b"[" * 2000 + b"]" * 2000)),
        ("unknown class", job(b"NoSuchJob", b'["poison-unknown-class"]')),
        ("not an object", b'["work","poison-not-an-object"]'),
    ]


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(k for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend(item)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        return _MISSING


def _as_bytes(text: str) -> list[bytes]:
    found = []
    for encoding, errors in (("utf-8", "surrogateescape"), ("latin-1", "strict")):
        try:
            found.append(text.encode(encoding, errors))
        except UnicodeEncodeError:
            pass
    return found


def recovered(original: bytes, entries: list[bytes]) -> str | None:
    """How ``original`` can be recovered from one of the failure ``entries``, or None."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        wanted = _loads(original)
        for raw in entries:
            entry = _loads(raw)
            if entry is _MISSING:
                continue
            if any(original in _as_bytes(text) for text in _strings(entry)):
                return "as a string in the entry"
            payload = entry.get("payload", _MISSING) if isinstance(entry, dict) else _MISSING
            if wanted is not _MISSING and not isinstance(payload, str) and payload == wanted:
                return "as the entry's decoded payload"
        return None
    finally:
        sys.setrecursionlimit(limit)


def _enqueue(run: Run, dialect: str, ids: list[str], delayed: dict[str, list[str]]) -> None:
    """Real jobs on ``good`` with the poison payloads RPUSHed raw between them; delayed
    jobs (queue -> ids) interleaved in one second, 1.5 s from now."""
    assert run.redis is not None
    client = run.client(socket_timeout=10)
    key = f"{run.namespace}:queue:{GOOD}"
    poisons = poison_payloads(dialect)
    every = max(1, len(ids) // (len(poisons) + 1))
    due = (time.time() + 1.5) * 1000
    with SyncQueue(run.redis.url, namespace=run.namespace, dialect=dialect) as queue:
        for i, job_id in enumerate(ids):
            queue.enqueue(GOOD, "work", [job_id, 0])
            if i % every == every - 1 and poisons:
                client.rpush(key, poisons.pop(0)[1])
        for _what, raw in poisons:
            client.rpush(key, raw)
        pending = {name: list(chunk) for name, chunk in delayed.items()}
        while any(pending.values()):
            for name, chunk in pending.items():
                if chunk:
                    queue.enqueue_at(due, name, "work", [chunk.pop(0), 0])


def poison_scenario(run: Run, full: bool, dialect: str) -> Outcome:
    real, late = (400, 200) if full else (40, 20)
    run.start_redis()
    client = run.client(socket_timeout=10)
    ns = run.namespace
    client.set(f"{ns}:queue:{BAD}", "x")
    client.sadd(f"{ns}:queues", BAD)
    ids = run.ids(real)
    late_good, late_bad = run.ids(late, start=real), run.ids(2, start=real + late)
    run.watch([BAD, GOOD])
    run.procs.scheduler(timeout_ms=200, name=f"{run.tag}-scheduler")
    _enqueue(run, dialect, ids, {GOOD: late_good, BAD: late_bad})
    schedule = f"{ns}:delayed_queue_schedule"
    if not wait_until(lambda: client.zcard(schedule) == 0, 8 if full else 5):
        run.note(f"the schedule was not emptied: {client.zcard(schedule)} seconds left")
    burst = run.side == "pyresque"
    worker = run.procs.worker([BAD, GOOD], dialect=dialect, burst=burst)
    if burst:
        wait = 30 if full else 10
        if not wait_until(lambda: not worker.alive, wait, interval=0.05):
            run.problem(f"--burst did not end within {wait} s; stderr tail:\n{worker.tail(8)}")
            worker.kill()
        elif worker.proc.returncode != 0:
            run.problem(
                f"the --burst worker exited with code {worker.proc.returncode}; "
                f"stderr tail:\n{worker.tail(8)}"
            )
    else:
        run.drain(15)
    failed = client.lrange(f"{ns}:failed", 0, -1) if client.type(f"{ns}:failed") == b"list" else []
    missing = []
    for what, raw in poison_payloads(dialect):
        how = recovered(raw, failed)
        if how is None:
            missing.append(what)
        else:
            run.note(f"poison {what}: in failed, recoverable {how}")
    if missing:
        run.problem(
            f"{len(missing)} of {len(poison_payloads(dialect))} poison payloads not in failed "
            f"with their bytes recoverable: {', '.join(missing)} ({len(failed)} failure entries)"
        )
    return run.finish(
        ids + late_good + late_bad,
        delayed=late_good,
        require_done=ids + late_good,
        expect_exited=[worker] if burst else [],
    )
