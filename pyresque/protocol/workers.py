"""How a worker presents itself in Redis: its id, liveness values and failure entries.

node-resque: a worker *name* (``host:pid`` by default) plus its queues; the ``workers`` set
holds ``<name>:<q1,q2>``, the working-on record is ``worker:<name>:<q1,q2>``, liveness is a
ping key refreshed every ``timeout`` ms. Ruby resque: the id ``host:pid:q1,q2`` is the set
member and names every key; liveness is the ``workers:heartbeat`` hash.
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyresque._version import __version__
from pyresque.errors import ConfigurationError
from pyresque.protocol import times
from pyresque.protocol.context import Context
from pyresque.protocol.failures import failure_entry
from pyresque.protocol.jsjson import JSONValue, js_dumps

__all__ = [
    "RUNTIME",
    "RUNTIME_PREFIX",
    "Identity",
    "backtrace_lines",
    "exception_entry",
    "ping_value",
    "pool_worker_name",
    "process_owns",
    "ruby_record",
    "run_at",
    "runtime_ttl",
    "worker_name",
    "worker_queues",
]


RUNTIME_PREFIX = "pyresque/"
"""What the value of a ``worker:<member>:runtime`` key starts with."""

RUNTIME = f"{RUNTIME_PREFIX}{__version__}"
"""The value a pyresque worker keeps in its ``worker:<member>:runtime`` key, so that
listings can tell it from the peer whose bytes it writes (no peer reads the key)."""


def runtime_ttl(interval: float) -> int:
    """Seconds the runtime key lives between refreshes every ``interval`` seconds (the ping
    or heartbeat interval): three intervals, and at least a minute, so a live worker never
    loses it while a dead one's (a peer's cleanup does not know the key) soon goes."""
    return max(60, math.ceil(3 * interval))


def worker_name(ctx: Context, name: str | None, pid: int) -> str:
    """The name a worker registers under, checked so the peers' tools can parse its id.

    Default: ``host:pid``. node: any name with at most one ``:`` (node-resque's
    ``workers()`` and stuck-worker cleanup split ``<name>:<queues>`` at the second colon).
    ruby: resque-web and ``Resque::Worker.find`` split the id ``host:pid:queues`` at each
    colon (any other shape answers HTTP 500 on resque-web's pages for everyone), so a name
    without a colon becomes the host part, ``<name>:<pid>``, and a name with one colon
    must end in a pid (digits). Anything else raises :class:`ConfigurationError`.
    """
    if name is None:
        return f"{ctx.hostname}:{pid}"
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ConfigurationError(f"a worker name must be a non-blank string, not {name!r}")
    if "," in name:
        raise ConfigurationError(f"worker name {name!r}: a comma would split it as queues")
    colons = name.count(":")
    if ctx.dialect.is_node:
        if colons > 1:
            raise ConfigurationError(
                f"worker name {name!r}: node-resque splits worker ids at the second colon, "
                "so a name may hold one colon at most (host:pid)"
            )
        return name
    if colons == 0:
        return f"{name}:{pid}"
    host, _, number = name.partition(":")
    if colons > 1 or not host or not number.isdigit():
        raise ConfigurationError(
            f"worker name {name!r}: Ruby resque reads worker ids as host:pid:queues, so a "
            "ruby-dialect name is a host (its pid is added) or host:pid with a numeric pid"
        )
    return name


def pool_worker_name(ctx: Context, host: str | None, pid: int, wid: int) -> str:
    """The name of a MultiWorker's worker ``wid``, ``host`` being the pool's name (default:
    this machine's), checked as :func:`worker_name` checks names.

    node-resque's is ``host:pid+id``. Ruby prunes same-host workers whose pid part is not a
    live process, and ``1234+1`` never is: in the ruby dialect the id goes on the host part
    instead (``host+1:1234``), which Ruby's pid check skips (another host) while the
    heartbeat keeps it alive, and prunes 300 s after it stops beating.
    """
    host = ctx.hostname if host is None else host
    if isinstance(host, str) and ":" in host:
        shape = "NAME:pid+N" if ctx.dialect.is_node else "NAME+N:pid"
        raise ConfigurationError(
            f"a MultiWorker's name is the host part of its workers' names ({shape}), which "
            f"hold one colon at most: it cannot hold one as {host!r} does"
        )
    worker_name(ctx, host, pid)  # blank, padded, a comma: refused as in any name
    return f"{host}:{pid}+{wid}" if ctx.dialect.is_node else f"{host}+{wid}:{pid}"


def process_owns(ctx: Context, host: str | None, pid: int, name: str) -> bool:
    """Whether ``name`` (a ``workers`` member's name part) is one that process ``pid``
    registers, ``host`` being its workers' name or host part (default: this machine's):
    a Worker's ``host:pid``, or a MultiWorker child's ``host:pid+N`` (node) or
    ``host+N:pid`` (ruby). What a supervisor cleans once that process is dead."""
    host = ctx.hostname if host is None else host
    if name == f"{host}:{pid}":
        return True
    if name.startswith(f"{host}:{pid}+"):
        return name[len(f"{host}:{pid}+") :].isdigit()
    if name.startswith(f"{host}+") and name.endswith(f":{pid}"):
        return name[len(f"{host}+") : -len(f":{pid}")].isdigit()
    return False


def worker_queues(queues: Sequence[str]) -> list[str]:
    """The queue list as a worker registers it, refused when empty or when a name would
    not survive the comma-joined id (``*`` must be spelled out for every queue)."""
    names = list(queues)
    if not names:
        raise ConfigurationError("a worker needs at least one queue (use '*' for every queue)")
    for queue in names:
        if not isinstance(queue, str) or not queue.strip():
            raise ConfigurationError(f"queue names must be non-blank strings, not {queue!r}")
        if "," in queue:
            raise ConfigurationError(f"queue name {queue!r}: a comma would split it in two")
    return names


@dataclass(frozen=True, slots=True)
class Identity:
    """A worker's names. ``name`` is node's worker name (also Ruby's ``host:pid``);
    ``queues`` the comma-joined queue list; ``member`` the ``workers`` set member, which
    names the working-on and ``started`` keys; ``stats`` the suffix of per-worker stat keys
    (node: the name; Ruby: the full id)."""

    name: str
    queues: str
    member: str
    stats: str

    @classmethod
    def create(cls, ctx: Context, name: str, queues: Sequence[str]) -> Identity:
        csv = ",".join(queues) if queues else "*"
        member = f"{name}:{csv}"
        return cls(name, csv, member, name if ctx.dialect.is_node else member)

    def with_queues(self, ctx: Context, queues: Sequence[str]) -> Identity:
        return Identity.create(ctx, self.name, queues)


def ping_value(name: str, queues: str, now_ms: float) -> bytes:
    """node-resque's ping: ``{"time":<s>,"name":...,"queues":...}``."""
    return js_dumps({"time": times.js_bucket(now_ms), "name": name, "queues": queues})


def run_at(ctx: Context, now_ms: float, zone: str | None = None) -> str:
    """The working-on record's ``run_at`` in the dialect's format."""
    if ctx.dialect.is_node:
        return times.js_date_string(now_ms, zone)
    return times.ruby_iso8601_utc(now_ms / 1000)


def ruby_record(ctx: Context, queue: str, started: str, payload: JSONValue) -> bytes:
    """Ruby's working-on record, ``{"queue","run_at","payload"}``, as MultiJson writes it."""
    return ctx.dialect.dumps({"queue": queue, "run_at": started, "payload": payload})


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PLUMBING = (os.sep + "concurrent" + os.sep + "futures" + os.sep, os.sep + "asyncio" + os.sep)


def _plumbing(filename: str) -> bool:
    """Frames of pyresque itself and of the executor/event loop that called the job."""
    return filename.startswith(_PACKAGE) or any(part in filename for part in _PLUMBING)


def backtrace_lines(ctx: Context, exc: BaseException) -> list[str]:
    """The job's traceback frames, innermost first, in the dialect's style.

    node: ``    at perform (/app/jobs.py:12)`` like a V8 stack line; ruby:
    ``/app/jobs.py:12:in `perform'`` like a Ruby backtrace line. The frames that led into
    the job (pyresque's worker, the thread pool, the event loop) are left out, as resque
    cuts its own frames.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and _plumbing(frames[0].filename):
        frames.pop(0)
    lines = []
    for frame in reversed(frames):
        if ctx.dialect.is_node:
            lines.append(f"    at {frame.name} ({frame.filename}:{frame.lineno})")
        else:
            lines.append(f"{frame.filename}:{frame.lineno}:in `{frame.name}'")
    return lines


def exception_entry(
    ctx: Context,
    *,
    worker: str,
    queue: str,
    payload: JSONValue,
    exc: BaseException,
    exception: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The failure entry for a job that raised ``exc``; ``exception``/``error`` override the
    class name and message (for failures that are not Python exceptions of the job)."""
    return failure_entry(
        ctx,
        worker=worker,
        queue=queue,
        payload=payload,
        exception=exception if exception is not None else type(exc).__name__,
        error=error if error is not None else str(exc),
        backtrace=backtrace_lines(ctx, exc),
    )
