"""Plans for operating the ``failed`` list at any size: pages, search, and actions on one
entry, on selected entries and on every entry a filter matches (what a repair CLI and a
dashboard call; see ``spec/admin.md``).

Reading never blocks Redis for long: a page is one ``LRANGE`` window (with ``LLEN``, one
round trip); a search walks the list in windows of :data:`WINDOW` entries with a read-only
script that keeps only the entries holding every needle (plain substrings), several
windows per round trip, and filters those candidates in Python.

Acting never acts on the wrong entry: an entry is named by its index *and* the bytes read
there. By index, every entry of a chunk must still be at its index, else nothing of the
chunk is written and :class:`~pyresque.errors.FailedEntryMovedError` names the key and
index. For everything a filter matches, an entry that moved is found by value instead.
Chunks hold at most :data:`CHUNK` entries, each chunk one atomic script.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pyresque.errors import FailedEntryMovedError, PayloadDecodeError
from pyresque.protocol.context import Context
from pyresque.protocol.failures import style_context, with_retried_at
from pyresque.protocol.payloads import decode_failed
from pyresque.protocol.plan import (
    Arg,
    Batch,
    Call,
    Eval,
    Plan,
    as_bytes,
    as_int,
    as_list,
    load_script,
)
from pyresque.protocol.plans.failed import retry_target
from pyresque.protocol.status import Unreadable

__all__ = [
    "CHUNK",
    "WINDOW",
    "FailedAction",
    "FailedEntry",
    "FailedFilter",
    "FailedPage",
    "act",
    "act_matching",
    "clear",
    "entry_at",
    "page",
    "search",
]

WINDOW = 2000
"""Entries one search script reads (Redis is busy for one window at a time)."""

_WINDOWS_PER_TRIP = 8  # windows sent in one round trip (each its own script call)

CHUNK = 100
"""Entries one action script changes at most (each chunk is atomic)."""

FailedAction = Literal["retry", "requeue", "remove"]
"""``retry``: enqueue the job and remove the entry (node-resque's ``retryAndRemoveFailed``);
``requeue``: enqueue the job and stamp the entry with ``retried_at``, keeping it (resque's
``Failure.requeue``, resque-web's "Retry"); ``remove``: delete the entry."""

# Characters every peer's JSON writer leaves as they are inside a string: a value made only
# of them appears verbatim (quoted) in the stored bytes, so it can be a search needle.
_VERBATIM = re.compile(r"[A-Za-z0-9 _.:#$@%()*+,;=?!\[\]{}|~^`'-]*")


def _needle(value: str) -> bytes | None:
    """``"value"`` as stored, when every writer stores it so; else None (filtered in Python)."""
    return b'"' + value.encode() + b'"' if _VERBATIM.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class FailedFilter:
    """What a search keeps; every given criterion must hold (None: any).

    ``queue``: the entry's queue (its ``queue``, else its payload's). ``job_class``: the
    payload's ``class``. ``exception``: the exception class name as stored (e.g.
    ``"Resque::DirtyExit"``, ``"RuntimeError"``). ``text``: a substring of the stored entry
    (error message, backtrace, args, worker ...), case-sensitive, matched on its bytes.
    ``retried``: True for entries stamped with ``retried_at`` (resque-web's "clear
    retried"), False for the others. Unreadable entries match ``text`` only."""

    queue: str | None = None
    job_class: str | None = None
    exception: str | None = None
    text: str | None = None
    retried: bool | None = None

    @property
    def empty(self) -> bool:
        """True when the filter keeps everything."""
        return all(v is None for v in (self.queue, self.job_class, self.exception, self.text)) and (
            self.retried is None
        )

    def needles(self) -> list[bytes]:
        """Substrings every matching entry's bytes hold (for the server-side scan)."""
        found = [
            n
            for n in (_needle(v) for v in (self.queue, self.job_class, self.exception) if v)
            if n is not None
        ]
        if self.text:
            found.append(self.text.encode("utf-8", "surrogateescape"))
        if self.retried:
            found.append(b'"retried_at"')
        return found

    @property
    def exact_by_needles(self) -> bool:
        """True when the needles alone decide (no structured criterion to check)."""
        structured = (self.queue, self.job_class, self.exception)
        return all(v is None for v in structured) and self.retried is not False

    def matches(self, entry: FailedEntry) -> bool:
        """Whether ``entry`` passes every criterion."""
        if self.text is not None and self.text.encode("utf-8", "surrogateescape") not in entry.raw:
            return False
        if entry.entry is None:
            return self.exact_by_needles and not self.retried
        checks = ((self.queue, entry.queue), (self.job_class, entry.job_class))
        if any(want is not None and want != got for want, got in checks):
            return False
        if self.exception is not None and self.exception != entry.exception:
            return False
        return self.retried is None or self.retried == (entry.retried_at is not None)


@dataclass(frozen=True, slots=True)
class FailedEntry:
    """One entry of the failed list, as read at ``index``.

    ``raw``: its stored bytes (what actions check before they act). ``entry``: the decoded
    entry, None when it cannot be decoded; then ``unreadable`` says why, with its text.
    The properties read either peer's shape and are None where the entry lacks a value."""

    index: int
    raw: bytes
    entry: dict[str, Any] | None
    unreadable: Unreadable | None = None

    @classmethod
    def decode(cls, index: int, raw: bytes, key: str) -> FailedEntry:
        """The entry at ``index``, decoded tolerantly (never raises for its contents)."""
        try:
            return cls(index, raw, dict(decode_failed(raw, key=key)))
        except PayloadDecodeError as exc:
            shown = raw.decode("utf-8", "backslashreplace")
            reason = f"the failed entry at index {index} of {key} cannot be read: {exc}"
            return cls(index, raw, None, Unreadable(unreadable=reason, key=key, raw=shown))

    def _get(self, name: str) -> str | None:
        value = (self.entry or {}).get(name)
        return value if isinstance(value, str) else None

    @property
    def payload(self) -> dict[str, Any] | None:
        """The failed job (``class``, ``args`` ...), None when it is not a JSON object."""
        value = (self.entry or {}).get("payload")
        return value if isinstance(value, dict) else None

    @property
    def queue(self) -> str | None:
        """The queue the job failed on (the entry's ``queue``, else its payload's)."""
        found = self._get("queue")
        if not found and self.payload is not None and isinstance(self.payload.get("queue"), str):
            return str(self.payload["queue"])
        return found

    @property
    def job_class(self) -> str | None:
        """The payload's ``class``."""
        value = (self.payload or {}).get("class")
        return value if isinstance(value, str) else None

    @property
    def args(self) -> list[Any] | None:
        """The payload's ``args`` (Lua's ``{}`` read as an empty list)."""
        value = (self.payload or {}).get("args")
        if value == {}:
            return []
        return value if isinstance(value, list) else None

    @property
    def exception(self) -> str | None:
        """The exception class name as stored."""
        return self._get("exception")

    @property
    def error(self) -> str | None:
        """The error message."""
        return self._get("error")

    @property
    def worker(self) -> str | None:
        """The worker that failed it."""
        return self._get("worker")

    @property
    def failed_at(self) -> str | None:
        """When it failed, as its peer wrote it (node: a JS date string; Ruby: ``%Y/%m/%d
        %H:%M:%S %Z``)."""
        return self._get("failed_at")

    @property
    def retried_at(self) -> str | None:
        """When resque's ``Failure.requeue`` (or :data:`requeue <FailedAction>`) retried it."""
        return self._get("retried_at")

    @property
    def backtrace(self) -> list[str]:
        """Its backtrace lines (none: an empty list)."""
        value = (self.entry or {}).get("backtrace")
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def peer(self) -> Literal["node", "ruby"] | None:
        """Whose entry it is, by its key order: node-resque's start with ``worker``, Ruby
        resque's with ``failed_at``; None when unreadable."""
        if self.entry is None:
            return None
        first = next(iter(self.entry), None)
        return "ruby" if first == "failed_at" else "node"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON: index, peer, the fields above and the decoded entry (or the
        unreadable marker)."""
        return {
            "index": self.index,
            "peer": self.peer,
            "queue": self.queue,
            "class": self.job_class,
            "args": self.args,
            "exception": self.exception,
            "error": self.error,
            "worker": self.worker,
            "failed_at": self.failed_at,
            "retried_at": self.retried_at,
            "entry": self.entry if self.entry is not None else self.unreadable,
        }


@dataclass(frozen=True, slots=True)
class FailedPage:
    """Entries ``[offset, offset + limit)`` of the list (or of the matches of a filter).

    ``total``: the list's length when read. ``matched``: how many entries the filter
    matched (``total`` without one). ``windows``: search windows read (0 for a plain page).
    The list may change while a search walks it: it is no snapshot."""

    entries: list[FailedEntry]
    offset: int
    limit: int
    total: int
    matched: int
    windows: int = 0


def _check_window(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must be >= 0, not {offset} and {limit}")


def page(ctx: Context, offset: int = 0, limit: int = 50) -> Plan[FailedPage]:
    """Entries ``[offset, offset + limit)`` with their indexes: ``LLEN`` and one ``LRANGE``
    in one round trip."""
    _check_window(offset, limit)
    key = ctx.keys.failed()
    if limit == 0:
        total = as_int((yield Call("LLEN", key)))
        return FailedPage([], offset, limit, total, total)
    length, items = yield Batch.of(
        [Call("LLEN", key), Call("LRANGE", key, offset, offset + limit - 1)]
    )
    entries = [
        FailedEntry.decode(offset + i, as_bytes(raw) or b"", key)
        for i, raw in enumerate(as_list(items))
    ]
    return FailedPage(entries, offset, limit, as_int(length), as_int(length))


def entry_at(ctx: Context, index: int) -> Plan[FailedEntry | None]:
    """The entry at ``index`` (negative: from the end), None when there is none."""
    key = ctx.keys.failed()
    raw = as_bytes((yield Call("LINDEX", key, index)))
    return None if raw is None else FailedEntry.decode(index, raw, key)


def _scan(
    ctx: Context, start: int, needles: Sequence[bytes], with_bytes: bool
) -> Plan[tuple[int, list[tuple[int, bytes | None]]]]:
    """Several windows from ``start`` in one round trip: the list's length and the
    candidates ``(index, bytes or None)`` in order."""
    key = ctx.keys.failed()
    script = load_script("failed_search")
    steps = [
        Eval(
            script,
            (key,),
            (w, w + WINDOW - 1, "1" if with_bytes else "0", *needles),
        )
        for w in range(start, start + WINDOW * _WINDOWS_PER_TRIP, WINDOW)
    ]
    replies = as_list((yield Batch.of(steps)))
    length = 0
    found: list[tuple[int, bytes | None]] = []
    for reply in replies:
        values = as_list(reply)
        length = max(length, as_int(values[0]))
        rest = values[1:]
        if with_bytes:
            found.extend((as_int(rest[i]), as_bytes(rest[i + 1])) for i in range(0, len(rest), 2))
        else:
            found.extend((as_int(i), None) for i in rest)
    return length, found


def search(ctx: Context, where: FailedFilter, offset: int = 0, limit: int = 50) -> Plan[FailedPage]:
    """The entries ``where`` matches, ``[offset, offset + limit)`` of the matches, with how
    many matched in all (the whole list is walked, a window at a time)."""
    _check_window(offset, limit)
    if where.empty:
        return (yield from page(ctx, offset, limit))
    key = ctx.keys.failed()
    needles = where.needles()
    exact = where.exact_by_needles
    matched = windows = total = 0
    picked: list[FailedEntry] = []
    wanted: list[int] = []  # exact mode: indexes of the page, read afterwards
    start = 0
    while True:
        length, found = yield from _scan(ctx, start, needles, with_bytes=not exact)
        total = max(total, length)
        windows += len(range(start, min(length, start + WINDOW * _WINDOWS_PER_TRIP), WINDOW))
        for index, raw in found:
            if exact:
                if offset <= matched < offset + limit:
                    wanted.append(index)
                matched += 1
                continue
            entry = FailedEntry.decode(index, raw or b"", key)
            if where.matches(entry):
                if offset <= matched < offset + limit:
                    picked.append(entry)
                matched += 1
        start += WINDOW * _WINDOWS_PER_TRIP
        if start >= length:
            break
    if wanted:
        raws = as_list((yield Batch.of([Call("LINDEX", key, i) for i in wanted])))
        for index, raw in zip(wanted, raws, strict=True):
            if raw is not None:  # gone since the scan
                entry = FailedEntry.decode(index, as_bytes(raw) or b"", key)
                if where.matches(entry):
                    picked.append(entry)
    return FailedPage(picked, offset, limit, total, matched, windows)


# -- actions --------------------------------------------------------------------------------


def _retry_value(
    ctx: Context, entry: FailedEntry, action: FailedAction
) -> tuple[str, bytes, bytes]:
    """``(queue, payload, replacement)`` for retrying ``entry`` as its own peer would: the
    payload in the entry's peer's shape (node ``{"class","queue","args"}``, Ruby
    ``{"class","args"}``); for ``requeue`` the entry stamped with ``retried_at``."""
    if entry.entry is None:
        raise PayloadDecodeError(
            f"the failed entry at index {entry.index} cannot be read, so it cannot be retried",
            key=ctx.keys.failed(),
        )
    peer = style_context(ctx, entry.peer or "node")
    queue, job_class, args = retry_target(peer, entry.entry)
    payload = peer.dialect.job(queue, job_class, args)
    replacement = b""
    if action == "requeue":
        replacement = peer.dialect.dumps(with_retried_at(peer, entry.entry))
    return queue, payload, replacement


def _act_chunk(
    ctx: Context, entries: Sequence[FailedEntry], action: FailedAction, mode: str
) -> Plan[list[bool]]:
    keys: list[str] = [ctx.keys.failed()]
    if action != "remove":
        keys.append(ctx.keys.queues())
    args: list[Arg] = [action, mode, f"pyresque:acting:{uuid.uuid4().hex}", len(entries)]
    replacements: list[bytes] = []
    for entry in entries:
        queue, payload, replacement = "", b"", b""
        if action != "remove":
            queue, payload, replacement = _retry_value(ctx, entry, action)
            keys.append(ctx.keys.queue(queue))
        args.extend((entry.index, entry.raw, queue, payload))
        replacements.append(replacement)
    if action == "requeue":
        args.extend(replacements)
    reply = as_list((yield Eval(load_script("failed_act"), tuple(keys), tuple(args))))
    if as_int(reply[0]) < 0:
        moved = entries[as_int(reply[1]) - 1]
        raise FailedEntryMovedError(ctx.keys.failed(), moved.index)
    return [as_int(r) == 1 for r in reply[2:]]


def act(
    ctx: Context, entries: Iterable[FailedEntry], action: FailedAction, *, chunk: int = CHUNK
) -> Plan[int]:
    """``action`` on each of ``entries`` (as read: index and bytes), in chunks of ``chunk``,
    each atomic and all-or-nothing: an entry no longer at its index raises
    :class:`FailedEntryMovedError` naming the key and index, with nothing of its chunk
    written (earlier chunks stay done). Returns how many entries were acted on.

    Entries are taken from the highest index down, so removing one chunk does not move the
    entries of the next."""
    ordered = sorted(entries, key=lambda e: e.index, reverse=True)
    done = 0
    for start in range(0, len(ordered), max(1, chunk)):
        part = ordered[start : start + max(1, chunk)]
        done += sum((yield from _act_chunk(ctx, part, action, "index")))
    return done


def act_matching(
    ctx: Context, where: FailedFilter, action: FailedAction, *, chunk: int = CHUNK
) -> Plan[int]:
    """``action`` on every entry ``where`` matches (every entry for an empty filter: see
    :func:`clear` to remove them all at once), in atomic chunks; an entry that moved
    meanwhile is acted on by value, one gone meanwhile is skipped. Unreadable entries are
    skipped by ``retry``/``requeue`` (nothing to enqueue). Returns how many entries were
    acted on.

    The list is walked from its end, a window at a time, and matches are gathered into
    chunks: removing entries never moves the ones still to be read, and each chunk is one
    script whatever the windows it came from. Entries appended meanwhile are left alone."""
    key = ctx.keys.failed()
    needles = where.needles()
    size = max(1, chunk)
    done = 0
    pending: list[FailedEntry] = []
    high = as_int((yield Call("LLEN", key)))
    while high > 0 or pending:
        if high > 0:
            low = max(0, high - WINDOW)
            found = yield from _scan_one(ctx, key, low, high - 1, needles)
            hits = [FailedEntry.decode(i, r, key) for i, r in reversed(found)]
            pending.extend(e for e in hits if where.matches(e))
            if action != "remove":
                pending = [e for e in pending if e.entry is not None]
            high = low
        while len(pending) >= size or (pending and high == 0):
            part, pending = pending[:size], pending[size:]
            done += sum((yield from _act_chunk(ctx, part, action, "value")))
    return done


def _scan_one(
    ctx: Context, key: str, start: int, stop: int, needles: Sequence[bytes]
) -> Plan[list[tuple[int, bytes]]]:
    window: tuple[Arg, ...] = (start, stop, "1", *needles)
    values = as_list((yield Eval(load_script("failed_search"), (key,), window)))
    rest = values[1:]
    return [(as_int(rest[i]), as_bytes(rest[i + 1]) or b"") for i in range(0, len(rest), 2)]


def clear(ctx: Context) -> Plan[int]:
    """Delete the failed list; how many entries it held (``LLEN`` and ``DEL`` in one
    MULTI/EXEC)."""
    length, _deleted = yield Batch.of(
        [Call("LLEN", ctx.keys.failed()), Call("DEL", ctx.keys.failed())], atomic=True
    )
    return as_int(length)
