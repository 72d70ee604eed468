"""What every conformance check shares: its result, the check context (a peer, Redis, fresh
namespaces that are cleaned up), byte snapshots of a namespace, and one-line diffs."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis

from pyresque.conformance.drivers import Peer
from pyresque.errors import ConformanceJobError
from pyresque.protocol.keys import KeySpace
from pyresque.queue import Queue

__all__ = [
    "ARGS",
    "FUTURE_S",
    "Check",
    "Context",
    "Result",
    "failing_job",
    "first_difference",
    "same_bytes",
    "ok_job",
    "shape",
]

FUTURE_S = 1_900_000_000
"""A fixed future second for delayed jobs (so their bytes are the same every run)."""

ARGS: list[Any] = [1, "two", {"k": [3.5, None, True]}, "é ü 😀", -7]
"""The argument list the checks enqueue: numbers, text beyond ASCII, nesting, null."""

_DIGITS = re.compile(r"\d+")


@dataclass
class Result:
    """One row of the report: ``status`` is ``ok``, ``DIFF`` or ``skipped``."""

    check: str
    peer: str
    version: str
    status: str
    detail: str = ""
    vectors: Any = field(default=None, repr=False)
    """What the peer wrote or answered (JSON-able): ``--record`` keeps it."""

    def as_json(self) -> dict[str, Any]:
        """The row as JSON (without the vectors)."""
        return {
            "check": self.check,
            "peer": self.peer,
            "version": self.version,
            "status": self.status,
            "detail": self.detail,
        }


class Context:
    """A check's peer, Redis and namespaces: every namespace it hands out is random and
    deleted (only its own keys) by :meth:`cleanup`."""

    def __init__(self, peer: Peer, redis_url: str) -> None:
        self.peer = peer
        self.redis_url = redis_url
        self.client = redis.Redis.from_url(redis_url)
        self.namespaces: list[str] = []

    def namespace(self) -> str:
        """A fresh random namespace, deleted at :meth:`cleanup`."""
        name = f"pyresque-conformance-{uuid.uuid4().hex[:12]}"
        self.namespaces.append(name)
        return name

    def run(self, coroutine: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run pyresque's side (a coroutine function) to completion."""
        return asyncio.run(coroutine())

    def snapshot(self, namespace: str) -> dict[str, Any]:
        """Every key under ``namespace`` (unprefixed, the connection test key left out) with
        its type and exact value, as JSON (bytes as UTF-8, invalid bytes escaped)."""
        keys = KeySpace(namespace)
        skip = keys.connection_test()
        out: dict[str, Any] = {}
        for raw in sorted(self.client.scan_iter(match=keys.pattern("*"), count=1000)):
            key = _text(raw)
            if key == skip:
                continue
            kind = _text(self.client.type(raw))
            value: Any = None
            if kind == "string":
                value = _text(self.client.get(raw))
            elif kind == "list":
                value = [_text(v) for v in self.client.lrange(raw, 0, -1)]
            elif kind == "set":
                value = sorted(_text(v) for v in self.client.smembers(raw))
            elif kind == "zset":
                pairs: Any = self.client.zrange(raw, 0, -1, withscores=True)
                value = [[_text(m), s] for m, s in pairs]
            elif kind == "hash":
                value = {_text(k): _text(v) for k, v in sorted(self.client.hgetall(raw).items())}
            out[keys.unprefixed(key)] = {"type": kind, "value": value}
        return out

    def cleanup(self) -> None:
        """Delete the keys of every namespace handed out (nothing else), then disconnect."""
        for namespace in self.namespaces:
            keys = list(self.client.scan_iter(match=KeySpace(namespace).pattern("*"), count=1000))
            for start in range(0, len(keys), 500):
                self.client.delete(*keys[start : start + 500])
        self.namespaces.clear()
        self.client.close()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def shape(value: Any) -> Any:
    """``value`` with every run of digits as ``N``: times, pids and ids compared by form."""
    if isinstance(value, str):
        return _DIGITS.sub("N", value)
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, dict):
        return {shape(k): shape(v) for k, v in value.items()}
    return value


def first_difference(peer: Any, ours: Any, path: str = "") -> str | None:
    """The first place ``peer`` and ``ours`` differ, in one line, or None when equal."""
    if peer == ours:
        return None
    if isinstance(peer, dict) and isinstance(ours, dict):
        for key in sorted(set(peer) | set(ours), key=str):
            where = f"{path}[{key!r}]"
            if key not in ours:
                return f"{where}: only the peer wrote it"
            if key not in peer:
                return f"{where}: only pyresque wrote it"
            found = first_difference(peer[key], ours[key], where)
            if found:
                return found
        return f"{path or 'value'}: key order differs: {list(peer)} vs {list(ours)}"
    if isinstance(peer, list) and isinstance(ours, list) and len(peer) == len(ours):
        for index, (a, b) in enumerate(zip(peer, ours, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
    return f"{path or 'value'}: peer {_short(peer)} vs pyresque {_short(ours)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def ok_job(*args: Any) -> None:
    """A job that succeeds."""


def failing_job(*args: Any) -> None:
    """A job that fails with its first argument as the message."""
    raise ConformanceJobError(str(args[0]) if args else "failed")


Check = Callable[[Context], tuple[str, Any]]
"""A check: returns ``("", vectors)`` when conformant, else ``(one-line diff, vectors)``."""


def same_bytes(
    ctx: Context,
    theirs: Callable[[str], object],
    ours: Callable[[Queue], Awaitable[None]],
    dialect: str,
) -> tuple[str, Any]:
    """The peer's calls (``theirs(namespace)``) and pyresque's (``ours(queue)``, a Queue of
    ``dialect``), each in a fresh namespace: the first difference in what they left, and the
    peer's keys as the vectors."""
    ns_peer, ns_py = ctx.namespace(), ctx.namespace()
    theirs(ns_peer)

    async def pyresque_side() -> None:
        async with Queue(ctx.redis_url, namespace=ns_py, dialect=dialect) as queue:
            await ours(queue)

    ctx.run(pyresque_side)
    peer_keys = ctx.snapshot(ns_peer)
    return first_difference(peer_keys, ctx.snapshot(ns_py)) or "", peer_keys
