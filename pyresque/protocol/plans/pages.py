"""Reads for pages that show part of a large list: a window of a queue, read with one
``LRANGE`` however long the queue is, every item shown (one that is not a job as its
text, with why), and the Redis server's own facts (``INFO``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyresque.errors import PayloadDecodeError
from pyresque.protocol.context import Context
from pyresque.protocol.payloads import decode_job
from pyresque.protocol.plan import Batch, Call, Plan, as_bytes, as_int, as_list

__all__ = ["INFO_FIELDS", "Item", "Window", "queue_window", "redis_info"]


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a list: its index, its text (bytes that are no UTF-8 escaped), and its
    value, a job or failure entry (None when it is none: ``problem`` says why)."""

    index: int
    raw: str
    value: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """Items ``offset`` onwards of a list ``length`` long."""

    length: int
    offset: int
    items: list[Item]


def queue_window(ctx: Context, queue: str, offset: int, limit: int) -> Plan[Window]:
    """Jobs ``offset`` to ``offset + limit - 1`` of ``queue`` and its length, in one
    round trip."""
    key = ctx.keys.queue(queue)
    length, items = as_list(
        (yield Batch.of((Call("LLEN", key), Call("LRANGE", key, offset, offset + limit - 1))))
    )
    found = []
    for index, item in enumerate(as_list(items), offset):
        raw = as_bytes(item) or b""
        try:
            found.append(Item(index, _shown(raw), dict(decode_job(raw, key=key))))
        except PayloadDecodeError as exc:
            found.append(Item(index, _shown(raw), None, str(exc)))
    return Window(as_int(length), offset, found)


def _shown(raw: bytes) -> str:
    """Text to show: bytes that are no UTF-8 escaped (a page is UTF-8)."""
    return raw.decode("utf-8", "backslashreplace")


INFO_FIELDS = (
    "redis_version",
    "redis_mode",
    "uptime_in_seconds",
    "connected_clients",
    "blocked_clients",
    "used_memory_human",
    "maxmemory_human",
    "maxmemory_policy",
    "role",
    "instantaneous_ops_per_sec",
)
"""What a dashboard shows of ``INFO``."""


def redis_info(ctx: Context) -> Plan[dict[str, str]]:
    """The :data:`INFO_FIELDS` the server gives (a managed Redis may hide some)."""
    del ctx  # the server's, not the namespace's
    text = _shown(as_bytes((yield Call("INFO"))) or b"")
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name in INFO_FIELDS:
            found[name] = value.strip()
    return found
