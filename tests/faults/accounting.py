"""Where every job id ended up.

* :class:`FailureTap` watches ``MONITOR`` for every entry pushed onto ``<ns>:failed``, by
  anyone (a worker's script, a scheduler's stuck-worker clean-up, node-resque), so a
  failure entry that ``retry_stuck_jobs`` later took off the list still explains the run
  it caused.
* :class:`Sightings` polls the queues, the delayed schedule, the working-on records and
  the failed list while a scenario runs, and remembers where each id was last seen (for
  the report on a lost id).
* :func:`read_final` reads the final state; :func:`account` classifies every id: done
  (its run completed: ``<ns>:fault:done`` holds ``<id>:<run>`` per completed run),
  failed with a reason (an entry in ``<ns>:failed`` naming the id), still queued (a queue
  list, the delayed schedule, a working-on record), or lost (none of these).
"""

from __future__ import annotations

import collections
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import redis

from tests.faults.jobs import DONE_KEY

__all__ = [
    "Accounted",
    "FailureTap",
    "FinalState",
    "Sightings",
    "account",
    "entry_reason",
    "id_pattern",
    "in_flight",
    "read_final",
]

ID_RE = re.compile(rb"fj-[a-z0-9]+-[0-9]{6}")


def id_pattern() -> re.Pattern[bytes]:
    return ID_RE


def ids_in(raw: bytes) -> set[str]:
    return {m.decode() for m in ID_RE.findall(raw)}


def payload_ids(raw: bytes) -> set[str]:
    """The ids a failure entry's payload names (the whole entry when it is not a JSON
    object with a payload)."""
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return ids_in(raw)
    if not isinstance(entry, dict) or "payload" not in entry:
        return ids_in(raw)
    payload = entry["payload"]
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return ids_in(text.encode("utf-8", "surrogateescape"))


def entry_reason(raw: bytes) -> str:
    """``exception: error`` of a failure entry (or its first bytes when it is no JSON)."""
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return f"(not JSON or too deep) {raw[:80]!r}"
    if not isinstance(entry, dict):
        return f"(not an object) {raw[:80]!r}"
    return f"{entry.get('exception')}: {str(entry.get('error'))[:120]}"


# -- MONITOR --------------------------------------------------------------------------------

_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def monitor_args(line: bytes) -> list[bytes]:
    """The arguments of one MONITOR line (``<time> [<db> <client>] "A" "B" ...``), each
    un-escaped from Redis' ``sdscatrepr`` quoting."""
    start = line.find(b"] ")
    out: list[bytes] = []
    i = start + 2
    while 0 < i < len(line):
        if line[i : i + 1] != b'"':
            i += 1
            continue
        i += 1
        arg = bytearray()
        while i < len(line) and line[i : i + 1] != b'"':
            ch = line[i : i + 1]
            if ch == b"\\":
                nxt = line[i + 1 : i + 2]
                if nxt == b"x":
                    arg += bytes([int(line[i + 2 : i + 4], 16)])
                    i += 4
                    continue
                arg += _ESCAPES.get(nxt, nxt)
                i += 2
                continue
            arg += ch
            i += 1
        out.append(bytes(arg))
        i += 1
    return out


_PUSHES = {b"RPUSH", b"LPUSH", b"RPUSHX", b"LPUSHX", b"LSET", b"LINSERT"}


class FailureTap:
    """Records every value written onto ``<ns>:failed`` (via MONITOR, which shows the
    commands scripts run too). Reconnects when its connection drops; ``gaps`` counts the
    reconnections (time when it saw nothing)."""

    def __init__(self, port: int, namespace: str) -> None:
        self.port = port
        self.key = f"{namespace}:failed".encode()
        self._quoted = b'"' + self.key + b'"'
        self.entries: list[bytes] = []
        self.lines = self.gaps = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="failure-tap", daemon=True)

    def start(self, timeout: float = 5.0) -> FailureTap:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while self._sock is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except OSError:
                pass
            if not self._stop.is_set():
                self.gaps += 1
                self._stop.wait(0.02)

    def _follow(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.settimeout(None)
            sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
            with sock.makefile("rb", buffering=1 << 16) as reader:
                if not reader.readline().startswith(b"+OK"):
                    return
                self._sock = sock
                for line in reader:
                    if self._stop.is_set():
                        return
                    self.lines += 1
                    if self._quoted in line:
                        self._take(monitor_args(line.rstrip(b"\r\n")[1:]))

    def _take(self, args: list[bytes]) -> None:
        if len(args) >= 3 and args[0].upper() in _PUSHES and args[1] == self.key:
            self.entries.extend(args[2:])

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)


# -- the state of a namespace ---------------------------------------------------------------


def _working_records(client: redis.Redis, namespace: str) -> dict[str, bytes]:
    """``worker:<member>`` records of the registered workers (no SCAN: cheap)."""
    members = sorted(cast(set[bytes], client.smembers(f"{namespace}:workers")))
    if not members:
        return {}
    keys = [f"{namespace}:worker:".encode() + m for m in members]
    values = cast(list[bytes | None], client.mget(keys))
    return {k.decode(errors="replace"): v for k, v in zip(keys, values, strict=True) if v}


def _lists(client: redis.Redis, keys: Iterable[str]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for key in keys:
        if client.type(key) == b"list":
            found[key] = cast(list[bytes], client.lrange(key, 0, -1))
    return found


def _queue_keys(client: redis.Redis, namespace: str, queues: Iterable[str]) -> list[str]:
    names = {m.decode(errors="replace") for m in client.smembers(f"{namespace}:queues")}
    return [f"{namespace}:queue:{q}" for q in sorted(names | set(queues))]


def _delayed_keys(client: redis.Redis, namespace: str) -> list[str]:
    stamps = client.zrange(f"{namespace}:delayed_queue_schedule", 0, -1)
    return [f"{namespace}:delayed:{s.decode(errors='replace')}" for s in stamps]


def in_flight(client: redis.Redis, namespace: str, queues: Iterable[str]) -> int:
    """Jobs queued, delayed or held in a worker's record (no SCAN: cheap enough to poll)."""
    total = 0
    for key in _queue_keys(client, namespace, queues):
        if client.type(key) == b"list":
            total += client.llen(key)
    total += sum(client.llen(k) for k in _delayed_keys(client, namespace))
    return total + len(_working_records(client, namespace))


@dataclass
class FinalState:
    runs: collections.Counter[str]
    failed: list[bytes]
    places: dict[str, list[str]]  # id -> where it still waits
    scanned_keys: int


def read_final(client: redis.Redis, namespace: str, queues: Iterable[str]) -> FinalState:
    """Everything that names a job id, with one SCAN of the namespace (working-on records
    of unregistered workers and delayed lists missing from the schedule included)."""
    runs = collections.Counter(
        m.decode().rsplit(":", 1)[0] for m in client.smembers(f"{namespace}:{DONE_KEY}")
    )
    failed = (
        client.lrange(f"{namespace}:failed", 0, -1)
        if client.type(f"{namespace}:failed") == b"list"
        else []
    )
    keys = [k.decode(errors="replace") for k in client.scan_iter(f"{namespace}:*", count=5000)]
    places: dict[str, list[str]] = collections.defaultdict(list)
    queue_keys = set(_queue_keys(client, namespace, queues))
    delayed = re.compile(re.escape(namespace) + r":delayed:-?\d+$")
    worker = re.compile(re.escape(namespace) + r":worker:(?!ping:)(.*)(?<!:started)$")
    candidates = set(_delayed_keys(client, namespace)) | queue_keys
    candidates |= {k for k in keys if delayed.match(k) or worker.match(k)}
    for key in sorted(candidates):
        kind = client.type(key)
        if kind == b"list" and (key in queue_keys or delayed.match(key)):
            where = key[len(namespace) + 1 :]
            for item in client.lrange(key, 0, -1):
                for job_id in ids_in(item):
                    places[job_id].append(where)
        elif kind == b"string" and worker.match(key):
            for job_id in ids_in(client.get(key) or b""):
                places[job_id].append("working " + key[len(namespace) + 1 :])
    return FinalState(runs, failed, dict(places), len(keys))


class Sightings:
    """Where each id was last seen, polled while the scenario runs (errors ignored: Redis
    may be down, paused or killing our connection)."""

    def __init__(
        self, client: redis.Redis, namespace: str, queues: Sequence[str], every: float = 0.25
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.queues = queues
        self.every = every
        self.last: dict[str, tuple[str, float]] = {}
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sightings", daemon=True)

    def start(self) -> Sightings:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.look()
            except (redis.RedisError, OSError):
                pass
            spent = time.monotonic() - began
            self._stop.wait(max(self.every, 3 * spent))

    def look(self) -> None:
        c, ns = self.client, self.namespace
        now = time.monotonic() - self.t0
        seen: list[tuple[bytes, str]] = []
        for key, items in _lists(c, _queue_keys(c, ns, self.queues)).items():
            seen += [(item, key[len(ns) + 1 :]) for item in items]
        for key, items in _lists(c, _delayed_keys(c, ns)).items():
            seen += [(item, key[len(ns) + 1 :]) for item in items]
        for key, record in _working_records(c, ns).items():
            seen.append((record, "working " + key[len(ns) + 1 :]))
        failed = cast(list[bytes], c.lrange(f"{ns}:failed", 0, -1))
        seen += [(entry, "failed") for entry in failed]
        done = cast(set[bytes], c.smembers(f"{ns}:{DONE_KEY}"))
        seen += [(member, "done") for member in done]
        for raw, where in seen:
            for job_id in ids_in(raw):
                self.last[job_id] = (where, now)

    def where(self, job_id: str) -> str:
        found = self.last.get(job_id)
        return "never seen" if found is None else f"{found[0]} at t={found[1]:.1f}s"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


# -- classification -------------------------------------------------------------------------


@dataclass
class Accounted:
    jobs: int
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    queued: dict[str, list[str]] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # id -> runs (> 1)
    unexplained: list[str] = field(default_factory=list)
    delayed_not_once: dict[str, int] = field(default_factory=dict)  # id -> runs (!= 1)
    never_enqueued: list[str] = field(default_factory=list)
    failure_entries_seen: int = 0


def account(
    final: FinalState,
    ids: Sequence[str],
    *,
    tapped: Sequence[bytes] = (),
    delayed: Iterable[str] = (),
    uncertain: Iterable[str] = (),
) -> Accounted:
    """Classify each id. ``tapped``: failure entries seen written (some since retried and
    gone from the list); ``delayed``: ids enqueued with ``enqueue_at`` (each must run
    exactly once); ``uncertain``: ids whose enqueue call failed without saying whether it
    ran: found nowhere, they were never enqueued (reported, not lost)."""
    failed_now: dict[str, str] = {}
    for raw in final.failed:
        for job_id in payload_ids(raw):
            failed_now.setdefault(job_id, entry_reason(raw))
    explained: set[str] = set(failed_now)
    entries = set(tapped) | set(final.failed)
    for raw in tapped:
        explained |= payload_ids(raw)
    result = Accounted(jobs=len(ids), failure_entries_seen=len(entries))
    maybe = set(uncertain)
    for job_id in ids:
        runs = final.runs.get(job_id, 0)
        if runs:
            result.done.append(job_id)
        elif job_id in failed_now:
            result.failed[job_id] = failed_now[job_id]
        elif job_id in final.places:
            result.queued[job_id] = final.places[job_id]
        elif job_id in maybe:
            result.never_enqueued.append(job_id)
        else:
            result.lost.append(job_id)
        if runs > 1:
            result.duplicates[job_id] = runs
            if job_id not in explained:
                result.unexplained.append(job_id)
    result.jobs -= len(result.never_enqueued)
    for job_id in delayed:
        runs = final.runs.get(job_id, 0)
        if runs != 1 and job_id not in result.never_enqueued:
            result.delayed_not_once[job_id] = runs
    return result
