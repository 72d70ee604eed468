"""The failed list counted by queue and class, kept up to date without reading it all
on every scrape.

The failed list only grows at its tail (both peers ``RPUSH``); entries leave it by
``LREM`` (retry, remove) and change in place by ``LSET`` (resque's ``requeue`` stamps
``retried_at``). So :class:`FailedCounts` remembers how many entries it has counted and
the bytes at a few of their indexes (the first, the last, and the last of the update
before). When those indexes still hold those bytes, only the entries past the counted
prefix are read and decoded; otherwise (an entry was removed, or the list was replaced)
the list is counted again from the start, in windows. A steady scrape costs one round
trip: the length, the marks and the first window of the tail are read together.

A scrape decodes at most ``budget`` entries (default 20,000, about 170 ms): a recount of a
long list goes on over the next scrapes, which meanwhile report the last complete counts
(before the first is complete, the counts so far); ``behind`` says how many entries are
left to count.

What this cannot see: an entry removed from the middle while as many identical entries
were added, and the marks shifted onto equal bytes. Such a count stays off until the next
recount (a removal anywhere else, or a restart).
"""

from __future__ import annotations

import json
from typing import Any

from pyresque.errors import PayloadDecodeError
from pyresque.protocol.activejob import WRAPPER
from pyresque.protocol.context import Context
from pyresque.protocol.payloads import decode_failed
from pyresque.protocol.plan import Batch, Call, Plan, as_bytes, as_int, as_list

__all__ = ["FailedCounts", "failed_labels", "job_label"]

Labels = tuple[str, str]


def job_label(payload: Any) -> str:
    """The ``class`` label of a job payload: its resque class, or for an ActiveJob
    wrapper the ActiveJob class it wraps (``args[0].job_class``); ``""`` when the payload
    names none."""
    if not isinstance(payload, dict):
        return ""
    found = payload.get("class")
    if found == WRAPPER:
        args = payload.get("args")
        data = args[0] if isinstance(args, list) and args else None
        inner = data.get("job_class") if isinstance(data, dict) else None
        if isinstance(inner, str):
            return inner
    return found if isinstance(found, str) else ""


def failed_labels(raw: bytes) -> Labels:
    """``(queue, class)`` of a failed entry as stored (node-resque's or Ruby resque's);
    ``("", "")`` for bytes that are no failure record."""
    try:
        entry = json.loads(raw)
    except ValueError:  # not UTF-8, or JSON only a peer's parser reads
        try:
            entry = decode_failed(raw)
        except PayloadDecodeError:
            return "", ""
    if not isinstance(entry, dict):
        return "", ""
    payload = entry.get("payload")
    queue = entry.get("queue")
    if not isinstance(queue, str) and isinstance(payload, dict):
        queue = payload.get("queue")
    return queue if isinstance(queue, str) else "", job_label(payload)


class FailedCounts:
    """Failed entries by ``(queue, class)``, updated by :meth:`update` (a plan).

    ``window``: entries per ``LRANGE``; ``per_trip``: ranges sent per round trip;
    ``budget``: entries decoded per update at most (None: no limit). ``recounts`` and
    ``decoded`` say how much work the updates did (for the benchmark)."""

    def __init__(
        self, *, window: int = 1000, per_trip: int = 10, budget: int | None = 20_000
    ) -> None:
        self.window = window
        self.per_trip = per_trip
        self.budget = budget
        self.counts: dict[Labels, int] = {}
        """The counts of the prefix counted so far."""
        self.behind = 0
        """Entries of the list not counted yet (a recount going on over several updates)."""
        self._complete: dict[Labels, int] | None = None
        self.length = 0
        """Entries counted (the prefix of the list the counts are of)."""
        self.recounts = 0
        self.decoded = 0
        self._marks: list[tuple[int, bytes]] = []

    def _count(self, items: list[Any], start: int) -> None:
        for offset, item in enumerate(items):
            raw = as_bytes(item) or b""
            labels = failed_labels(raw)
            self.counts[labels] = self.counts.get(labels, 0) + 1
            if offset == len(items) - 1:
                self._mark(start + offset, raw)
        self.decoded += len(items)
        self.length = start + len(items)

    def _mark(self, index: int, raw: bytes) -> None:
        """Remember the bytes at ``index``: the first entry and the last two updates' ends."""
        marks = [m for m in self._marks if m[0] != index]
        head = [m for m in marks if m[0] == 0]
        rest = [m for m in marks if m[0] != 0][-1:]
        self._marks = [*head, *rest, (index, raw)]

    def update(self, ctx: Context) -> Plan[dict[Labels, int]]:
        """Bring the counts up to date, within the budget; returns the counts of the whole
        list when they are, else the last complete counts (the counts so far if none)."""
        key = ctx.keys.failed()
        start = self.length
        decoded = self.decoded
        reply = as_list(
            (
                yield Batch.of(
                    [
                        Call("LLEN", key),
                        *(Call("LINDEX", key, index) for index, _ in self._marks),
                        Call("LRANGE", key, start, start + self.window - 1),
                    ]
                )
            )
        )
        size = as_int(reply[0])
        marks = [as_bytes(r) for r in reply[1:-1]]
        if size < start or marks != [raw for _, raw in self._marks]:
            self.counts, self.length, self._marks = {}, 0, []
            self.recounts += 1
        else:
            tail = as_list(reply[-1])[: max(0, size - start)]
            if tail:
                self._count(tail, start)
        while self.length < size and (self.budget is None or self.decoded - decoded < self.budget):
            trips = self.per_trip
            if self.budget is not None:
                left = self.budget - (self.decoded - decoded)
                trips = min(trips, -(-left // self.window))
            starts = list(range(self.length, size, self.window))[:trips]
            ranges = [Call("LRANGE", key, at, min(at + self.window, size) - 1) for at in starts]
            chunks = as_list((yield Batch.of(ranges)))
            before = self.length
            for at, chunk in zip(starts, chunks, strict=True):
                items = as_list(chunk)
                if at != self.length or not items:
                    break  # the list shrank meanwhile: the next update sees it and recounts
                self._count(items, at)
            if self.length == before:
                break
        self.behind = max(0, size - self.length)
        if not self.behind:
            self._complete = dict(self.counts)
        return self._complete if self._complete is not None else dict(self.counts)
