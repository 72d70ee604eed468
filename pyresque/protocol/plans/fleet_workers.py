"""Plans for the workers of every peer: one listing (kind, host, pid, queues, current job,
last ping or heartbeat, stale or not) and cleaning one worker up (see ``spec/admin.md``).

A worker's *kind* is ``"python"`` when it keeps pyresque's runtime mark
(``worker:<id>:runtime``), else the peer whose liveness mark it keeps: node-resque's ping
(``"node"``) or Ruby resque's heartbeat (``"ruby"``). Its *dialect* is always the latter:
whose bytes it writes, so whose failure entry a clean writes for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pyresque.protocol.context import Context
from pyresque.protocol.plan import Call, Plan
from pyresque.protocol.plans.overview import _names, _workers, read_each
from pyresque.protocol.plans.workers import force_clean_worker, split_member
from pyresque.protocol.status import Unreadable, WorkerKind, WorkerStatus, is_unreadable
from pyresque.protocol.workers import RUNTIME_PREFIX

__all__ = [
    "DEFAULT_STALE_AFTER_MS",
    "FleetKind",
    "WorkerInfo",
    "clean_worker",
    "list_workers",
]

DEFAULT_STALE_AFTER_MS = 3_600_000
"""A worker unseen this long is stale: the scheduler's default ``stuck_worker_timeout``
(node-resque's ``stuckWorkerTimeout``), after which a scheduler cleans it up."""

FleetKind = Literal["node", "ruby", "python"]
"""Whose program a worker is: node-resque, Ruby resque, or pyresque (either dialect)."""

_PID = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One registered worker, of any peer.

    ``id``: its member of the ``workers`` set (what :func:`clean_worker` takes); ``name``:
    ``host:pid`` as the peers' ``workers()`` key it; ``host``/``pid`` split from it (pid
    None when it is not a number, e.g. a pool's ``host:pid+1`` gives its leading digits).
    ``kind``: see :data:`FleetKind`; ``dialect``: the peer it speaks as (by its liveness
    mark or ``started`` value; None when it has neither); ``runtime``: pyresque's mark.
    ``job``: the job it holds (its working-on record: ``queue``, ``run_at``, ``payload`` ...
    as the peer wrote it), None when idle; ``job_since``: when that job started (ms).
    ``seen_at``: its last ping or heartbeat (ms); ``stale``: unseen for longer than the
    threshold, or with no liveness mark at all. Values that cannot be read are
    :class:`~pyresque.protocol.status.Unreadable` markers."""

    id: str
    name: str
    host: str
    pid: int | None
    kind: FleetKind | None
    dialect: WorkerKind | None
    runtime: str | None
    queues: tuple[str, ...]
    started_at: int | Unreadable | None
    seen_at: int | Unreadable | None
    job: dict[str, Any] | Unreadable | None
    job_since: int | Unreadable | None
    stale: bool

    @property
    def job_class(self) -> str | None:
        """The class of the job it holds."""
        value = self._payload().get("class")
        return value if isinstance(value, str) else None

    @property
    def job_queue(self) -> str | None:
        """The queue of the job it holds."""
        job = self.job if isinstance(self.job, dict) and not is_unreadable(self.job) else {}
        value = job.get("queue")
        return value if isinstance(value, str) else None

    @property
    def job_args(self) -> list[Any] | None:
        """The args of the job it holds (Lua's ``{}`` read as an empty list)."""
        value = self._payload().get("args")
        if value == {}:
            return []
        return value if isinstance(value, list) else None

    def _payload(self) -> dict[str, Any]:
        if not isinstance(self.job, dict) or is_unreadable(self.job):
            return {}
        payload = self.job.get("payload")
        return payload if isinstance(payload, dict) and not is_unreadable(payload) else {}

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the fields, plus the job's class, queue and args)."""
        return {
            "id": self.id,
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "kind": self.kind,
            "dialect": self.dialect,
            "runtime": self.runtime,
            "queues": list(self.queues),
            "started_at": self.started_at,
            "seen_at": self.seen_at,
            "stale": self.stale,
            "job": self.job,
            "job_class": self.job_class,
            "job_queue": self.job_queue,
            "job_args": self.job_args,
            "job_since": self.job_since,
        }


def _host_pid(name: str) -> tuple[str, int | None]:
    host, _, pid = name.rpartition(":")
    if not host:
        return name, None
    found = _PID.match(pid)
    return host, int(found[0]) if found else None


def info(status: WorkerStatus, name: str, now_ms: float, stale_after_ms: float) -> WorkerInfo:
    """A :class:`WorkerInfo` from the status model's view of the worker."""
    host, pid = _host_pid(name)
    python = status.runtime is not None and status.runtime.startswith(RUNTIME_PREFIX)
    seen = status.seen_at
    stale = not isinstance(seen, int) or now_ms - seen > stale_after_ms
    return WorkerInfo(
        id=status.id,
        name=name,
        host=host,
        pid=pid,
        kind="python" if python else status.kind,
        dialect=status.kind,
        runtime=status.runtime,
        queues=status.queues,
        started_at=status.started_at,
        seen_at=seen,
        job=status.working_on,
        job_since=status.working_since,
        stale=stale,
    )


def list_workers(
    ctx: Context, stale_after_ms: float = DEFAULT_STALE_AFTER_MS
) -> Plan[list[WorkerInfo]]:
    """Every registered worker, node-resque's, Ruby resque's and pyresque's, sorted by id;
    two round trips (the ``workers`` set; then every record, ping, ``started`` value and
    runtime mark, and the heartbeats, in one batch). A ``workers`` key that cannot be read
    lists nothing; every other unreadable value is a marker in its place."""
    now = ctx.now_ms()
    (members,) = yield from read_each([Call("SMEMBERS", ctx.keys.workers())])
    names = _names(members)
    if is_unreadable(names):
        return []
    registered = {split_member(m)[0]: m for m in names}
    statuses = yield from _workers(ctx, registered, {}, {})
    return sorted(
        (info(s, name, now, stale_after_ms) for name, s in statuses.items()),
        key=lambda w: w.id,
    )


def clean_worker(
    ctx: Context, worker: WorkerInfo | str, dialect: WorkerKind | None = None
) -> Plan[dict[str, Any] | None]:
    """Unregister ``worker`` (a :class:`WorkerInfo`, an id or a ``host:pid`` name) and fail
    the job it held, with the entry its own peer writes for such a job (node-resque's
    ``forceCleanWorker`` entry, resque's ``Resque::DirtyExit``; ``dialect`` overrides, a
    :class:`WorkerInfo` gives its own); its ping, heartbeat, ``started`` value, stats and
    runtime mark are deleted. Returns the failure entry, None when it held no job."""
    if isinstance(worker, str) and dialect is None:
        found = [w for w in (yield from list_workers(ctx)) if worker in (w.id, w.name)]
        worker = found[0] if found else worker
    if isinstance(worker, WorkerInfo):
        dialect = dialect or worker.dialect
        worker = worker.id
    return (yield from force_clean_worker(ctx, worker, style=dialect))
