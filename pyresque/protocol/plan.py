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
    "Step",
    "as_bytes",
    "as_int",
    "as_list",
    "as_pairs",
    "as_scan",
    "load_script",
    "run_plan_sync",
]

Arg = bytes | str | int | float
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script shipped as a package file under ``pyresque/protocol/lua``."""

    name: str
    source: bytes
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source).hexdigest())


_SCRIPTS: dict[str, Script] = {}


def load_script(name: str) -> Script:
    """The script ``lua/<name>.lua``, read once per process."""
    script = _SCRIPTS.get(name)
    if script is None:
        source = resources.files("pyresque.protocol").joinpath("lua", f"{name}.lua").read_bytes()
        script = _SCRIPTS[name] = Script(name, source)
    return script


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
    keys: tuple[Arg, ...] = ()
    args: tuple[Arg, ...] = ()


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
