"""Every Redis key name resque, resque-scheduler and node-resque use, in one place.

Keys are built the way node-resque's ``Connection.key`` builds them: the namespace
(a string, or a list of parts) followed by the parts, joined with ``:``, where parts
that are empty or only whitespace vanish. For the keys Ruby resque writes the result is
the same as ``Redis::Namespace`` gives, except the scheduler master lock, which Ruby
prefixes twice (``resque:resque:resque_scheduler_master_lock``).

Keys are ``str``; bytes read back from Redis are decoded with ``surrogateescape`` so
that encoding them again (see :func:`to_bytes`) gives the original bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyresque.errors import ConfigurationError

__all__ = ["KeySpace", "glob_escape", "text", "to_bytes"]

_GLOB_SPECIALS = frozenset("*?[]\\")
# JavaScript's \s (what node-resque's Retry strips from its keys); Python's differs.
_JS_SPACE = re.compile(
    r"[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)


def text(value: bytes | str) -> str:
    """Decode a value read from Redis without losing any byte."""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape")


def to_bytes(value: bytes | str) -> bytes:
    """Inverse of :func:`text`."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


def glob_escape(literal: str) -> str:
    """Escape a literal so SCAN MATCH treats it verbatim (node-resque does not)."""
    return "".join("\\" + c if c in _GLOB_SPECIALS else c for c in literal)


def _kept(part: object) -> bool:
    # JS keeps a part when String(part).trim() is truthy; null survives the filter and
    # then joins as an empty segment.
    return part is None or bool(str(part).strip())


def _render(part: object) -> str:
    return "" if part is None else str(part)


class KeySpace:
    """Key names for one namespace.

    ``namespace`` is ``"resque"`` by default; a list such as ``["app", "jobs"]`` gives the
    prefix ``app:jobs``, and ``""`` gives no prefix at all (both as node-resque does).
    """

    __slots__ = ("_parts", "_queue_keys", "namespace", "prefix")

    def __init__(self, namespace: str | Sequence[str] = "resque") -> None:
        if isinstance(namespace, str):
            parts: tuple[str, ...] = (namespace,)
        elif isinstance(namespace, Sequence) and all(isinstance(p, str) for p in namespace):
            parts = tuple(namespace)
        else:
            raise ConfigurationError(
                f"namespace must be a string or a list of strings, not {type(namespace).__name__}"
            )
        self.namespace: str | tuple[str, ...] = namespace if isinstance(namespace, str) else parts
        self._parts = tuple(p for p in parts if p.strip())
        self.prefix = ":".join(self._parts)
        self._queue_keys: dict[str, str] = {}  # queue() is on the enqueue hot path

    def __repr__(self) -> str:
        return f"KeySpace({self.namespace!r})"

    def key(self, *parts: object) -> str:
        """node-resque's ``connection.key(...parts)``."""
        return ":".join([*self._parts, *(_render(p) for p in parts if _kept(p))])

    def unprefixed(self, key: bytes | str) -> str:
        """``key`` without the namespace prefix (as ``locks()`` and ``stats()`` report keys)."""
        name = text(key)
        if self.prefix and name.startswith(self.prefix + ":"):
            return name[len(self.prefix) + 1 :]
        return name

    def pattern(self, *parts: str) -> str:
        """A SCAN MATCH pattern: the namespace escaped, then ``parts`` as glob text."""
        return ":".join([*(glob_escape(p) for p in self._parts), *parts])

    # -- queues ---------------------------------------------------------------------------
    def queues(self) -> str:
        return self.key("queues")

    def queue(self, queue: str) -> str:
        found = self._queue_keys.get(queue)
        if found is None:
            found = self.key("queue", queue)
            if len(self._queue_keys) < 4096:
                self._queue_keys[queue] = found
        return found

    # -- delayed jobs (resque-scheduler layout, shared by node-resque) ---------------------
    def schedule(self) -> str:
        """The zset of due-times: member = score = integer unix seconds."""
        return self.key("delayed_queue_schedule")

    def delayed(self, timestamp: int | str) -> str:
        return self.key("delayed", timestamp)

    @staticmethod
    def delayed_member(timestamp: int | str) -> str:
        """Member of a ``timestamps:`` set: the delayed key *without* the namespace."""
        return f"delayed:{timestamp}"

    def timestamps(self, payload: bytes | str) -> str:
        return self.key("timestamps", text(payload))

    def last_enqueued_at(self) -> str:
        """resque-scheduler's hash of recurring-schedule fire times (matches ``delayed:*``)."""
        return self.key("delayed", "last_enqueued_at")

    def persistent_schedules(self) -> str:
        return self.key("persistent_schedules")

    def schedules_changed(self) -> str:
        return self.key("schedules_changed")

    # -- workers --------------------------------------------------------------------------
    def workers(self) -> str:
        return self.key("workers")

    def worker(self, name: str, queues: str = "") -> str:
        """Working-on record: ``worker:<name>:<queues>`` (node) = ``worker:<id>`` (Ruby)."""
        return self.key("worker", name, queues)

    def worker_started(self, name: str, queues: str = "") -> str:
        return self.key("worker", name, queues, "started")

    def worker_runtime(self, member: str) -> str:
        """``worker:<member>:runtime``: ``pyresque/<version>`` while a pyresque worker runs
        (pyresque only; no peer reads it). It expires unless refreshed with the worker's
        ping or heartbeat, so a peer's cleanup that does not know it leaves it for a
        short while only."""
        return self.key("worker", member, "runtime")

    def worker_ping(self, name: str) -> str:
        """node-resque's liveness key."""
        return self.key("worker", "ping", name)

    def worker_pings(self) -> str:
        """SCAN MATCH pattern for every ``worker:ping:<name>`` key (namespace escaped)."""
        return self.pattern("worker", "ping", "*")

    def heartbeats(self) -> str:
        """Ruby resque's liveness hash ``{worker id: ISO-8601}``."""
        return self.key("workers", "heartbeat")

    def prune_lock(self) -> str:
        return self.key("pruning_dead_workers_in_progress")

    def pause_all(self) -> str:
        return self.key("pause-all-workers")

    # -- bookkeeping ----------------------------------------------------------------------
    def stat(self, name: str, worker: str | None = None) -> str:
        return self.key("stat", name) if worker is None else self.key("stat", name, worker)

    def failed(self) -> str:
        return self.key("failed")

    def connection_test(self) -> str:
        return self.key("connection_test_key")

    # -- scheduler locks -------------------------------------------------------------------
    def leader_lock(self) -> str:
        """node-resque's scheduler lock."""
        return self.key("resque_scheduler_leader_lock")

    def master_lock(self, prefix: str = "") -> str:
        """resque-scheduler's lock, namespaced twice as Ruby builds it."""
        inner = f"{self.prefix}:" if self.prefix else ":"
        if prefix:
            inner += f"{prefix}:"
        return self.key(inner + "resque_scheduler_master_lock")

    # -- cron schedules (pyresque's own) --------------------------------------------------
    def cron_tick(self, task: str, minute: int) -> str:
        """``cron:<task>:<unix seconds of the minute>``: claimed (SET NX EX) by the scheduler
        that enqueues that tick, so a tick is enqueued once across scheduler nodes."""
        return self.key("cron", task, minute)

    def periodic_stop(self, task: str) -> str:
        """``periodic_stop:<task>``: set by ``stop_recurrent_task`` while a run holds the
        task's JobLock; the run takes it and does not re-enqueue (pyresque only)."""
        return self.key("periodic_stop", task)

    # -- plugin locks ---------------------------------------------------------------------
    def queue_lock(self, job_class: str, queue: str, args_json: str) -> str:
        return self.key("lock", job_class, queue, args_json)

    def job_lock(self, job_class: str, queue: str, args_json: str) -> str:
        return self.key("workerslock", job_class, queue, args_json)

    def queue_lock_prefix(self, job_class: str, queue: str) -> str:
        """What every ``queue_lock`` of that class and queue starts with (args JSON next)."""
        return self.key("lock", job_class, queue) + ":"

    def job_lock_prefix(self, job_class: str, queue: str) -> str:
        """What every ``job_lock`` of that class and queue starts with (args JSON next)."""
        return self.key("workerslock", job_class, queue) + ":"

    # -- node-resque's Retry plugin --------------------------------------------------------
    # Both keys go through node's ``.replace(/\s/, "")``: the first whitespace character of
    # the whole key (namespace included) is removed, and only that one.
    def retry(self, job_class: str, args_key: str) -> str:
        """The attempt counter ``resque-retry:<class>:<args key>`` (no ``:`` for no args)."""
        return _JS_SPACE.sub("", self.key("resque-retry", job_class, args_key), count=1)

    def retry_failure(self, job_class: str, args_key: str) -> str:
        """The last error, ``failure-resque-retry:<class>:<args key>``: one part, so the
        trailing ``:`` stays for no args."""
        return _JS_SPACE.sub("", self.key(f"failure-resque-retry:{job_class}:{args_key}"), count=1)
