"""Bulk enqueue: many jobs encoded first, then written by one script call per chunk.

:class:`Encoder` turns each job into what a single ``enqueue`` or ``enqueue_at`` would
write (the same bytes: a payload is the peer's encoding of the whole object, written as a
cached prefix, the encoded ``args`` and a cached suffix). :func:`write` sends a list of
them as one ``enqueue_many.lua`` call, whose writes are those of the single calls in the
same order (``spec/keys.md``, "Bulk enqueue").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyresque.errors import PayloadEncodeError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import job_args
from pyresque.protocol.jsjson import JSONValue
from pyresque.protocol.plan import Arg, Eval, Plan, as_int, as_list, load_script
from pyresque.protocol.plans.delayed import to_ms
from pyresque.protocol.plans.jobs import replicated

__all__ = ["MAX_CHUNK", "Encoded", "Encoder", "push", "write"]

MAX_CHUNK = 5000
"""The most jobs one script call takes (Lua's ``unpack`` has a stack of 8000 slots)."""

# Stands for the args while a template is made; as a JSON string token it cannot occur
# anywhere else in the payload (a quote inside a string is always escaped).
_SENTINEL = "pyresque-bulk-args-3f9c1e"
_RUN = 1000  # payloads per RPUSH in the script


@dataclass(slots=True)
class Encoded:
    """One job as it will be written: ``payload`` onto ``list_key``; for a delayed job
    (``ts`` set) also ``member`` into ``set_key`` and ``ts`` into the schedule."""

    queue: str
    list_key: str
    payload: bytes
    ts: int | None = None
    member: str = ""
    set_key: str = ""


class Encoder:
    """Encodes jobs for one context, keeping a template per (queue, class, kind)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._templates: dict[tuple[str, str, bool], tuple[bytes, bytes]] = {}

    def _template(self, queue: str, job_class: str, delayed: bool) -> tuple[bytes, bytes]:
        dialect = self.ctx.dialect
        encode = dialect.delayed_job if delayed else dialect.job
        whole = encode(queue, job_class, [_SENTINEL])
        prefix, found, suffix = whole.partition(f'["{_SENTINEL}"]'.encode())
        if not found or _SENTINEL.encode() in suffix:  # pragma: no cover - cannot happen
            raise PayloadEncodeError(f"cannot template a payload for {job_class!r}")
        if len(self._templates) >= 4096:
            self._templates.clear()
        template = self._templates[(queue, job_class, delayed)] = (prefix, suffix)
        return template

    def payload(
        self,
        queue: str,
        job_class: str,
        args: Sequence[JSONValue],
        delayed: bool,
        extra: Mapping[str, str] | None = None,
    ) -> bytes:
        """The bytes ``Dialect.job`` (or ``delayed_job``) gives for this job."""
        if extra:
            dialect = self.ctx.dialect
            encode = dialect.delayed_job if delayed else dialect.job
            return encode(queue, job_class, args, extra=extra)
        template = self._templates.get((queue, job_class, delayed))
        if template is None:
            template = self._template(queue, job_class, delayed)
        return template[0] + self.ctx.dialect.dumps(list(args)) + template[1]

    def payloads(self, queue: str, job_class: str, args_list: Sequence[object]) -> list[bytes]:
        """The queue payloads of one job of ``job_class`` on ``queue`` per item of
        ``args_list`` (each as ``enqueue`` takes args): what ``Dialect.job`` gives, made
        faster. One that cannot be encoded raises :class:`PayloadEncodeError` whose
        ``index`` is its position in ``args_list``."""
        if not args_list:
            return []
        template = self._templates.get((queue, job_class, False))
        if template is None:
            try:
                template = self._template(queue, job_class, False)
            except PayloadEncodeError as exc:
                raise PayloadEncodeError(str(exc), index=0) from None
        prefix, suffix = template
        values: list[JSONValue] = [a if type(a) is list else job_args(a) for a in args_list]
        dialect = self.ctx.dialect
        try:
            encoded = dialect.dumps_each(values)
        except PayloadEncodeError:
            for position, value in enumerate(values):  # which one: the error names it
                try:
                    dialect.dumps(value)
                except PayloadEncodeError as exc:
                    raise PayloadEncodeError(str(exc), index=position) from None
            raise  # pragma: no cover - dumps_each and dumps agree
        return [prefix + e + suffix for e in encoded]

    def due(self, at: float | datetime | None) -> int | None:
        """The delayed second of ``at``, or None when the job goes to its queue now (no
        due time, or the ruby dialect with a second not in the future, as
        resque-scheduler's ``enqueue_at`` does)."""
        if at is None:
            return None
        ts = self.ctx.dialect.bucket(to_ms(at))
        if not self.ctx.dialect.is_node and ts <= math.floor(self.ctx.clock()):
            return None
        return ts

    def encode(
        self,
        queue: str,
        job_class: str,
        args: Sequence[JSONValue],
        ts: int | None,
        extra: Mapping[str, str] | None = None,
    ) -> Encoded:
        """What enqueue (``ts`` None) or enqueue_at at second ``ts`` writes for this job."""
        keys = self.ctx.keys
        if ts is None:
            payload = self.payload(queue, job_class, args, False, extra)
            return Encoded(queue, keys.queue(queue), payload)
        item = self.payload(queue, job_class, args, True, extra)
        return Encoded(
            queue, keys.delayed(ts), item, ts, keys.delayed_member(ts), keys.timestamps(item)
        )


def push(ctx: Context, queue: str, payloads: Sequence[bytes]) -> Plan[None]:
    """Push ``payloads`` onto ``queue`` with one script call (``write`` of as many
    immediate jobs on one queue, without the per-job records)."""
    if not payloads:
        return
    yield Eval(
        load_script("enqueue_many"),
        (ctx.keys.queues(), ctx.keys.schedule(), ctx.keys.queue(queue)),
        ("1" if ctx.dialect.is_node else "0", 1, 1, queue, 0, *_runs(3, payloads)),
    )
    if ctx.replicas:
        yield from replicated(ctx, ctx.keys.queue(queue))


def _runs(key_index: int, payloads: Sequence[bytes]) -> list[Arg]:
    """The script's "q" records pushing ``payloads`` onto ``KEYS[key_index]``."""
    records: list[Arg] = []
    for start in range(0, len(payloads), _RUN):
        run = payloads[start : start + _RUN]
        records += ("q", key_index, len(run), *run)
    return records


def write(ctx: Context, jobs: Sequence[Encoded]) -> Plan[list[int]]:
    """Write ``jobs`` with one script call; the positions (in ``jobs``) of the delayed
    ones refused as already due at that second (node dialect only)."""
    if not jobs:
        return []
    lists: dict[str, int] = {}
    sets: dict[str, int] = {}
    names: dict[str, None] = {}
    runs: dict[str, list[bytes]] = {}
    delayed_at: list[int] = []
    records: list[Arg] = []
    for position, job in enumerate(jobs):
        if job.ts is None:
            names[job.queue] = None
            runs.setdefault(job.list_key, []).append(job.payload)
            continue
        delayed_at.append(position)
        i = lists.setdefault(job.list_key, len(lists) + 3)
        j = sets.setdefault(job.set_key, len(sets))
        records += ("d", i, j, job.ts, job.member, job.payload)
    pushes: list[Arg] = []
    for key, payloads in runs.items():
        pushes += _runs(lists.setdefault(key, len(lists) + 3), payloads)
    # Set indexes so far count from 0: they follow the lists in KEYS.
    first_set = len(lists) + 3
    for n in range(2, len(records), 6):
        records[n] = int(records[n]) + first_set
    keys = (ctx.keys.queues(), ctx.keys.schedule(), *lists, *sets)
    refused = yield Eval(
        load_script("enqueue_many"),
        keys,
        (
            "1" if ctx.dialect.is_node else "0",
            len(lists),
            len(names),
            *names,
            len(delayed_at),
            *pushes,
            *records,
        ),
    )
    if ctx.replicas:
        yield from replicated(ctx, f"{len(lists)} job lists ({', '.join(lists)})")
    return [delayed_at[as_int(ordinal) - 1] for ordinal in as_list(refused)]
