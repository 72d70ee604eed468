"""The state of a resque namespace, as one model: what ``Queue.status()`` and
``Tasks.details()`` return, what ``pyresque status`` and ``pyresque details`` print (as
text, and as JSON with ``--json``), and what pages and metrics are to be built on.

Numbers are numbers: counts and lengths are integers, times are unix milliseconds (the
peers' own unit for due times), durations are milliseconds. A value Redis cannot give (a
key of another type, a record that is not JSON, a stat that is no integer, a time that is
no time) is an :class:`Unreadable` marker in its place, naming the key and why; every other
value is there all the same.

:meth:`Status.as_dict` is the JSON document, described field by field in
``spec/status.md``. Its field names are the attribute names below. Fields may be added;
none is renamed, removed or given another type.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:  # typing.TypeIs from Python 3.13; type checkers bring their own
    from typing_extensions import TypeIs

__all__ = [
    "Counts",
    "DelayedStatus",
    "QueueStatus",
    "Status",
    "Unreadable",
    "WorkerKind",
    "WorkerStatus",
    "is_unreadable",
]


class Unreadable(TypedDict):
    """A value that could not be read: ``unreadable`` says why (naming the key), ``key`` is
    where it is, ``raw`` its text when there was one. Plain data, so it prints as JSON."""

    unreadable: str
    key: str
    raw: NotRequired[str]


def is_unreadable(value: object) -> TypeIs[Unreadable]:
    """Whether ``value`` is a marker (so, to a type checker, the other types where not)."""
    return isinstance(value, dict) and isinstance(value.get("unreadable"), str) and "key" in value


WorkerKind = Literal["node", "ruby"]
"""Whose worker it is, by the liveness mark it keeps: node-resque's ping (pyresque's node
dialect too) or Ruby resque's heartbeat (pyresque's ruby dialect too)."""


@dataclass(frozen=True, slots=True)
class Counts:
    """The ``stat:`` counters: jobs processed and failed (0 while a counter is not there).

    Ruby resque counts every job it ran in ``processed``, failures included; node-resque
    only the successes."""

    processed: int | Unreadable = 0
    failed: int | Unreadable = 0


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One queue: how many jobs wait in it."""

    length: int | Unreadable


@dataclass(frozen=True, slots=True)
class DelayedStatus:
    """The delayed jobs (resque-scheduler's schedule, shared by node-resque).

    ``jobs``: how many wait, at ``timestamps`` distinct due seconds. ``due``: how many of
    them are due by ``Status.read_at`` (a scheduler moves them; many due jobs mean no
    scheduler leads). ``earliest_at``: the earliest due time that still holds a job (ms;
    None when none does); ``overdue_ms``: how long past that time ``read_at`` is (0 when it
    is still ahead)."""

    jobs: int | Unreadable
    timestamps: int | Unreadable
    due: int | Unreadable
    earliest_at: int | None
    overdue_ms: int


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One registered worker, under its name (``host:pid``, the peers' ``workers()`` key).

    ``id``: its member of the ``workers`` set (Ruby's full id ``host:pid:queues``).
    ``queues``: the queues it registered, in its order (patterns as written).
    ``kind``: ``"node"`` or ``"ruby"`` by its liveness mark, else by its ``started`` value
    (None when it has neither). ``started_at``: when it started; ``seen_at``: its last ping
    or heartbeat (ms; None when there is none). ``working_on``: the record of the job it
    holds (``queue``, ``run_at``, ``payload`` ... as the peer wrote it; its ``payload`` a
    marker when the job cannot be read), None when idle. ``working_since``: that record's
    ``run_at`` in ms. ``skipping``: the queues it names whose key cannot be read, which it
    skips. ``stats``: its own counters. ``runtime``: ``"pyresque/<version>"`` for a pyresque
    worker (its ``worker:<id>:runtime`` mark), None for a peer's worker."""

    id: str
    queues: tuple[str, ...]
    kind: WorkerKind | None
    started_at: int | Unreadable | None
    seen_at: int | Unreadable | None
    working_on: dict[str, Any] | Unreadable | None
    working_since: int | Unreadable | None
    skipping: tuple[str, ...]
    stats: Counts
    runtime: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A namespace's state, every value read on its own.

    ``namespace``: the key prefix read. ``read_at``: when it was read (ms, the reader's
    clock; ``overdue_ms`` is measured from it). ``queues``: the known queues (and the
    queues workers name whose key cannot be read) by name. ``delayed``: see
    :class:`DelayedStatus`. ``workers``: by name. ``failed``: the length of the failed
    list. ``stats``: the namespace's counters; ``other_stats``: every other ``stat:`` key
    (unprefixed, as node-resque's ``stats()`` names them), such as the counters of a worker
    no longer registered. ``leader``: the scheduler holding the leader lock (the reader's
    dialect's lock first, then the other peer's), None when none does."""

    namespace: str
    read_at: int
    queues: dict[str, QueueStatus] | Unreadable
    delayed: DelayedStatus
    workers: dict[str, WorkerStatus] | Unreadable
    failed: int | Unreadable
    stats: Counts
    other_stats: dict[str, int | Unreadable]
    leader: str | Unreadable | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (``spec/status.md``): plain dicts, lists, strings, integers
        and None, with the attribute names as keys."""
        found = _plain(self)
        assert isinstance(found, dict)
        return found


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
