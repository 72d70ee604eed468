"""Command plans: protocol operations written once, run by any Redis driver.

A plan is a generator that yields :class:`Call`, :class:`Eval` or :class:`Batch` steps
and receives each step's reply, then returns its result. The async client, the sync
client and the tests all run the same plans, so the logic of an operation exists once.

Each yielded step is one round trip. Replies arrive as raw Redis replies (RESP2 shapes:
``bytes``, ``int``, ``None``, lists; a RESP3 connection may give sets and dicts instead),
which the ``as_*`` helpers below normalise. An error reply is thrown into the plan at the
``yield`` as the driver's exception.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

__all__ = [
    "Arg",
    "Batch",
    "Call",
    "Eval",
    "Plan",
    "Script",
    "Segment",
    "Step",
    "as_bytes",
    "as_int",
    "as_list",
    "as_pairs",
    "as_ruby_int",
    "as_scan",
    "count_args",
    "flatten",
    "load_script",
    "run_plan_sync",
]

Arg = bytes | str | int | float
T = TypeVar("T")


class Segment:
    """Arguments that stay the same from one call to the next (a worker's keys, say).

    A step may hold one where it holds an argument; it stands for all of its ``args``.
    Drivers may keep their encoding of it (``wire``) and reuse it on every call.
    """

    __slots__ = ("args", "wire")

    def __init__(self, *args: bytes | str | int | float) -> None:
        self.args = args
        self.wire: bytes | None = None

    def __len__(self) -> int:
        return len(self.args)

    def __repr__(self) -> str:
        return f"Segment{self.args!r}"


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script shipped as a package file under ``pyresque/protocol/lua``."""

    name: str
    source: bytes
    sha: str = field(init=False)
    evalsha: Segment = field(init=False, repr=False)
    """``EVALSHA <sha>``, for drivers to encode once."""

    def __post_init__(self) -> None:
        sha = hashlib.sha1(self.source).hexdigest()
        object.__setattr__(self, "sha", sha)
        object.__setattr__(self, "evalsha", Segment("EVALSHA", sha))


_SCRIPTS: dict[str, Script] = {}
_LUA = resources.files("pyresque.protocol").joinpath("lua")
# The checks every script makes before its first write (lua/lib/checks.lua).
_PRELUDE = _LUA.joinpath("lib", "checks.lua").read_bytes()


def load_script(name: str) -> Script:
    """The script ``lua/<name>.lua`` behind the shared checks, read once per process."""
    script = _SCRIPTS.get(name)
    if script is None:
        source = _PRELUDE + b"\n" + _LUA.joinpath(f"{name}.lua").read_bytes()
        script = _SCRIPTS[name] = Script(name, source)
    return script


def flatten(args: tuple[Arg | Segment, ...]) -> tuple[Arg, ...]:
    """``args`` with every :class:`Segment` spelled out."""
    if not any(type(a) is Segment for a in args):
        return args  # type: ignore[return-value]
    out: list[Arg] = []
    for a in args:
        if type(a) is Segment:
            out.extend(a.args)
        else:
            out.append(a)  # type: ignore[arg-type]
    return tuple(out)


def count_args(args: tuple[Arg | Segment, ...]) -> int:
    return sum(len(a) if type(a) is Segment else 1 for a in args)


# Steps are built per call on hot paths: plain slotted classes, cheap to make. Treat them
# as immutable.
class Call:
    """One Redis command."""

    __slots__ = ("args",)

    def __init__(self, *args: Arg) -> None:
        self.args: tuple[Arg, ...] = args

    def __repr__(self) -> str:
        return f"Call{self.args!r}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and other.args == self.args

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class Eval:
    """One script call (EVALSHA, loading the script first where the server lacks it)."""

    script: Script
    keys: tuple[Arg | Segment, ...] = ()
    args: tuple[Arg | Segment, ...] = ()


@dataclass(slots=True)
class Batch:
    """Commands sent in one write and answered in one read.

    ``atomic`` wraps them in MULTI/EXEC. The reply is the list of the commands' replies.
    """

    steps: tuple[Call | Eval, ...]
    atomic: bool = False

    @classmethod
    def of(cls, steps: Iterable[Call | Eval], *, atomic: bool = False) -> Batch:
        return cls(tuple(steps), atomic)


Step = Call | Eval | Batch
Plan = Generator[Step, Any, T]


def as_int(reply: Any) -> int:
    if reply is None:
        return 0
    if isinstance(reply, bool):
        return int(reply)
    return int(reply)


_RUBY_INT = re.compile(rb"\s*([+-]?\d+(?:_\d+)*)")


def as_ruby_int(reply: Any) -> int:
    """A reply read as Ruby's ``String#to_i`` reads it, as resque reads its counters and
    schedule: its leading integer, else 0 (``"12abc"`` -> 12, ``"abc"`` and nil -> 0)."""
    if isinstance(reply, int):
        return int(reply)
    found = _RUBY_INT.match(as_bytes(reply) or b"")
    return int(found[1].replace(b"_", b"")) if found else 0


def as_bytes(reply: Any) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    if isinstance(reply, str):
        return reply.encode("utf-8", "surrogateescape")
    return str(reply).encode()


def as_list(reply: Any) -> list[Any]:
    """Array-ish replies (RESP3 sets included) as a list; nil as empty."""
    if reply is None:
        return []
    if isinstance(reply, list):
        return reply
    return list(reply)


def as_pairs(reply: Any) -> list[tuple[bytes, bytes]]:
    """HGETALL-style replies (flat RESP2 list or RESP3 map) as (field, value) pairs."""
    if reply is None:
        return []
    if isinstance(reply, Mapping):
        return [(as_bytes(k) or b"", as_bytes(v) or b"") for k, v in reply.items()]
    flat = list(reply)
    return [
        (as_bytes(flat[i]) or b"", as_bytes(flat[i + 1]) or b"") for i in range(0, len(flat), 2)
    ]


def as_scan(reply: Any) -> tuple[int, list[bytes]]:
    cursor, keys = reply
    return int(cursor), [as_bytes(k) or b"" for k in keys]


def run_plan_sync(plan: Plan[T], execute: Any) -> T:
    """Drive ``plan`` with a blocking ``execute(step) -> reply`` function."""
    try:
        step = next(plan)
        while True:
            try:
                reply = execute(step)
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
