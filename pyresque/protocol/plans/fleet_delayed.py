"""Plans for operating delayed jobs: a page of the schedule with its jobs, running one job
now, removing one, and running everything due (see ``spec/admin.md``).

Running a job now never needs the scheduler's lock: it is one script that takes the item
off its second (and its ``timestamps:`` set, and the second off the schedule once empty)
and enqueues it, so it works whichever peer's scheduler leads (resque-web's "queue now"
fails while a resque-scheduler holds its lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pyresque.errors import ArgumentError, PayloadDecodeError, PayloadEncodeError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import NODE, RUBY, Dialect, job_args
from pyresque.protocol.keys import text
from pyresque.protocol.payloads import decode_json
from pyresque.protocol.plan import Batch, Call, Eval, Plan, as_bytes, as_int, as_list, load_script
from pyresque.protocol.plans import scheduler
from pyresque.protocol.status import Unreadable

__all__ = [
    "DelayedJob",
    "DelayedPage",
    "DelayedSlot",
    "delayed_page",
    "remove_delayed_job",
    "run_due",
    "run_now",
]

_RUNNER = "pyresque:run-now"  # ``worker`` of the entry for an item that cannot be enqueued


@dataclass(frozen=True, slots=True)
class DelayedJob:
    """One delayed item, as stored at its second.

    ``timestamp``: the second (unix) it is due at; ``raw``: its bytes (what run-now and
    remove look for); ``job``: the decoded item (``class``, ``queue``, ``args``), None when
    it is no JSON object, with ``unreadable`` saying why."""

    timestamp: int
    raw: bytes
    job: dict[str, Any] | None
    unreadable: Unreadable | None = None

    @classmethod
    def decode(cls, timestamp: int, raw: bytes, key: str) -> DelayedJob:
        """The item, decoded tolerantly."""
        try:
            value = decode_json(raw, key=key)
        except PayloadDecodeError as exc:
            value, why = None, str(exc)
        else:
            why = f"{key} holds an item that is no JSON object"
        if isinstance(value, dict):
            return cls(timestamp, raw, value)
        shown = raw.decode("utf-8", "backslashreplace")
        return cls(timestamp, raw, None, Unreadable(unreadable=why, key=key, raw=shown))

    @property
    def at(self) -> int:
        """When it is due, unix ms."""
        return self.timestamp * 1000

    @property
    def queue(self) -> str | None:
        """The queue it goes to."""
        value = (self.job or {}).get("queue")
        return value if isinstance(value, str) else None

    @property
    def job_class(self) -> str | None:
        """Its ``class``."""
        value = (self.job or {}).get("class")
        return value if isinstance(value, str) else None

    @property
    def args(self) -> list[Any] | None:
        """Its ``args``."""
        value = (self.job or {}).get("args")
        return value if isinstance(value, list) else None

    @property
    def peer(self) -> Literal["node", "ruby"] | None:
        """Whose item it is, by its key order: node-resque writes ``class, queue, args``,
        resque-scheduler ``class, args, queue``; None when unreadable."""
        if self.job is None:
            return None
        order = list(self.job)
        if "queue" in order and "args" in order and order.index("args") < order.index("queue"):
            return "ruby"
        return "node"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "timestamp": self.timestamp,
            "at": self.at,
            "peer": self.peer,
            "queue": self.queue,
            "class": self.job_class,
            "args": self.args,
            "job": self.job if self.job is not None else self.unreadable,
        }


@dataclass(frozen=True, slots=True)
class DelayedSlot:
    """One due second of the schedule: ``count`` items wait there, ``jobs`` the first of
    them (as many as were asked for)."""

    timestamp: int
    count: int
    jobs: list[DelayedJob]

    @property
    def at(self) -> int:
        """The second in unix ms."""
        return self.timestamp * 1000


@dataclass(frozen=True, slots=True)
class DelayedPage:
    """Seconds ``[offset, offset + limit)`` of the schedule (of those due by ``due_by``
    when given), earliest first; ``total``: how many seconds there are in all."""

    slots: list[DelayedSlot]
    offset: int
    limit: int
    total: int


def _second(member: object) -> int | None:
    suffix = text(as_bytes(member) or b"").rsplit(":", 1)[-1]
    try:
        return int(suffix)
    except ValueError:
        return None


def delayed_page(
    ctx: Context,
    offset: int = 0,
    limit: int = 50,
    *,
    per_second: int = 100,
    due_by: float | None = None,
) -> Plan[DelayedPage]:
    """A page of the schedule: the seconds (``ZRANGE ... WITHSCORES``, or by score up to
    ``due_by`` ms) and, for each, its length and its first ``per_second`` items. Two round
    trips."""
    if offset < 0 or limit < 0 or per_second < 0:
        raise ArgumentError("offset, limit and per_second must be >= 0")
    key = ctx.keys.schedule()
    if due_by is None:
        count, reply = yield Batch.of(
            [Call("ZCARD", key), Call("ZRANGE", key, offset, offset + limit - 1, "WITHSCORES")]
        )
    else:
        high = int(due_by // 1000)
        count, reply = yield Batch.of(
            [
                Call("ZCOUNT", key, "-inf", high),
                Call("ZRANGEBYSCORE", key, "-inf", high, "WITHSCORES", "LIMIT", offset, limit),
            ]
        )
    flat = as_list(reply)
    if flat and isinstance(flat[0], list | tuple):  # RESP3 pairs
        flat = [v for pair in flat for v in pair]
    seconds = [s for s in (_second(m) for m in flat[0::2]) if s is not None]
    if limit == 0 or not seconds:
        return DelayedPage([], offset, limit, as_int(count))
    steps: list[Call] = []
    for ts in seconds:
        steps.append(Call("LLEN", ctx.keys.delayed(ts)))
        steps.append(Call("LRANGE", ctx.keys.delayed(ts), 0, max(0, per_second) - 1))
    replies = as_list((yield Batch.of(steps)))
    slots = []
    for i, ts in enumerate(seconds):
        items = as_list(replies[2 * i + 1]) if per_second else []
        where = ctx.keys.delayed(ts)
        jobs = [DelayedJob.decode(ts, as_bytes(raw) or b"", where) for raw in items]
        slots.append(DelayedSlot(ts, as_int(replies[2 * i]), jobs))
    return DelayedPage(slots, offset, limit, as_int(count))


def _peer_dialect(ctx: Context, job: DelayedJob) -> Dialect:
    """The dialect of the item's own peer (the context's own options when it is that one)."""
    wanted = job.peer or ("node" if ctx.dialect.is_node else "ruby")
    if (wanted == "node") == ctx.dialect.is_node:
        return ctx.dialect
    return NODE if wanted == "node" else RUBY


def run_now(ctx: Context, job: DelayedJob) -> Plan[bool]:
    """Move ``job`` from its second to its queue now, in one script (whoever holds the
    scheduler lock): the payload its own peer's scheduler would enqueue (node-resque's
    ``{"class","queue","args"}``, resque-scheduler's ``{"class","args"}``). False when the
    item is no longer delayed at that second (nothing written). An item with no class or
    queue raises :class:`~pyresque.errors.PayloadDecodeError` (nothing written)."""
    where = ctx.keys.delayed(job.timestamp)
    if job.job is None or job.queue is None or job.job_class is None:
        raise PayloadDecodeError(
            f"the delayed item in {where} names no class and queue: it cannot be enqueued",
            key=where,
        )
    try:
        payload = _peer_dialect(ctx, job).job(job.queue, job.job_class, job_args(job.args))
    except PayloadEncodeError as exc:
        raise PayloadDecodeError(f"the delayed item in {where}: {exc}", key=where) from exc
    done = yield Eval(
        load_script("run_delayed_now"),
        (
            where,
            ctx.keys.schedule(),
            ctx.keys.queues(),
            ctx.keys.timestamps(job.raw),
            ctx.keys.queue(job.queue),
        ),
        (job.raw, ctx.keys.delayed_member(job.timestamp), job.timestamp, job.queue, payload),
    )
    return as_int(done) == 1


def remove_delayed_job(ctx: Context, job: DelayedJob) -> Plan[int]:
    """Remove ``job`` (every copy of its exact bytes) from its second and the second from
    its ``timestamps:`` set (the ``delete_delayed`` script); how many copies were removed.
    The emptied second stays in the schedule until a scheduler passes it, as with both
    peers."""
    removed = yield Eval(
        load_script("delete_delayed"),
        (ctx.keys.timestamps(job.raw), ctx.keys.delayed(job.timestamp)),
        (1, job.raw, ctx.keys.delayed_member(job.timestamp)),
    )
    return sum(as_int(n) for n in as_list(removed))


def run_due(ctx: Context, due_by: float | None = None) -> Plan[int]:
    """Enqueue every delayed job due by ``due_by`` (ms; None: every delayed job), second by
    second, earliest first, as a scheduler promotes them (the scheduler's own script: the
    head of each list is moved only while it is still the items read, an item that cannot
    be enqueued goes to ``failed``). Items go in the context's dialect, as its scheduler
    writes them. Returns how many were enqueued (or failed) now."""
    high: str | int = "+inf" if due_by is None else int(due_by // 1000)
    moved = 0
    skip: set[str] = set()
    while True:
        reply = yield Call(
            "ZRANGEBYSCORE", ctx.keys.schedule(), "-inf", high, "LIMIT", 0, len(skip) + 1
        )
        members = [text(as_bytes(m) or b"") for m in as_list(reply)]
        ts = next((m for m in members if m not in skip), None)
        if ts is None:
            return moved
        done = yield from _move_second(ctx, ts)
        if done < 0:
            skip.add(ts)  # cannot be moved now (a queue key of another type ...)
        moved += max(done, 0)


def _move_second(ctx: Context, ts: str) -> Plan[int]:
    """Move a second's items to their queues, a batch at a time; how many moved, or -1
    when the second cannot be moved."""
    moved = 0
    for _attempt in range(1000):
        items = yield from scheduler.read_due(ctx, ts)
        if items is None:
            return -1
        transfers = [scheduler.transfer_for(ctx, raw, ts=ts, worker=_RUNNER) for raw in items]
        result = yield from scheduler.move(ctx, ts, transfers)
        for _bad_queue in transfers:  # each item whose queue key is no list goes to failed
            if result.moved != -3:
                break
            bad = result.left - 1
            transfers[bad] = scheduler.unusable_queue(ctx, transfers[bad], ts=ts, worker=_RUNNER)
            result = yield from scheduler.move(ctx, ts, transfers)
        if result.moved == -2:
            return moved
        if result.moved > 0:
            moved += result.moved
        if result.moved >= 0 and result.left == 0:
            return moved
    return -1
