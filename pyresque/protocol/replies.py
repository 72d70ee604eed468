"""What an error reply means: the exception for it, naming the operation and the key.

Drivers hand every error reply of a step (other than ``NOSCRIPT``, which they handle
themselves) to :func:`reply_error`. Redis' own text is kept; the script SHA and Lua line
Redis appends to a script's errors are replaced by the script's name and keys.
"""

from __future__ import annotations

import re

from pyresque.errors import (
    RedisBusyError,
    RedisLoadingError,
    RedisMasterDownError,
    RedisNoReplicasError,
    RedisOutOfMemoryError,
    RedisReadOnlyError,
    RedisReplyError,
    RedisTryAgainError,
    TransientReplyError,
    WrongTypeError,
)
from pyresque.protocol.keys import text
from pyresque.protocol.plan import Call, Eval, flatten

__all__ = ["describe", "reply_error"]

_SCRIPT_SUFFIX = re.compile(r"\s*script: [0-9a-f]{40}, on @user_script:\d+\.?\s*$")
# What lua/lib/checks.lua writes: "WRONGTYPE <key> holds a <type>, not a <type>".
_CHECKED = re.compile(r"^WRONGTYPE (?P<key>.+) holds an? (?P<found>\w+), not an? (?P<want>\w+)$")
_TRANSIENT: dict[str, type[TransientReplyError]] = {
    "LOADING": RedisLoadingError,
    "BUSY": RedisBusyError,
    "READONLY": RedisReadOnlyError,
    "MASTERDOWN": RedisMasterDownError,
    "TRYAGAIN": RedisTryAgainError,
    "NOREPLICAS": RedisNoReplicasError,
    "OOM": RedisOutOfMemoryError,
}
# Commands whose first argument is not a key.
_KEYLESS = frozenset(
    {"PING", "TIME", "INFO", "SCRIPT", "CLIENT", "SELECT", "AUTH", "HELLO", "SCAN", "ROLE",
     "SENTINEL", "CONFIG", "DBSIZE", "QUIT", "COMMAND", "ACL"}
)  # fmt: skip
_SHOWN_KEYS = 4


def describe(step: Call | Eval) -> tuple[str, str | None]:
    """``(operation, key)`` of a step: the command and its key, or the script's name and
    the keys it was given (comma-separated); ``key`` is None for keyless commands."""
    if isinstance(step, Eval):
        keys = [text(k) if isinstance(k, bytes) else str(k) for k in flatten(step.keys)]
        shown = ", ".join(keys[:_SHOWN_KEYS]) + (", ..." if len(keys) > _SHOWN_KEYS else "")
        return f"{step.script.name} script", shown or None
    args = flatten(step.args)
    name = text(args[0]).upper() if isinstance(args[0], bytes) else str(args[0]).upper()
    if name in _KEYLESS or len(args) < 2:
        return name, None
    key = args[1]
    return name, text(key) if isinstance(key, bytes) else str(key)


def reply_error(step: Call | Eval, message: str) -> RedisReplyError:
    """The exception for ``message``, an error reply to ``step``."""
    reply = _SCRIPT_SUFFIX.sub("", message)
    operation, key = describe(step)
    checked = _CHECKED.match(reply)
    if checked is not None:
        return WrongTypeError(
            f"{reply} ({operation})",
            reply=reply,
            operation=operation,
            key=checked["key"],
            found=checked["found"],
            expected=checked["want"],
        )
    joiner = " on " if isinstance(step, Eval) else " "
    where = operation if key is None else operation + joiner + key
    code = reply.split(" ", 1)[0]
    if code == "WRONGTYPE":
        return WrongTypeError(f"{reply} ({where})", reply=reply, operation=operation, key=key)
    cls = _TRANSIENT.get(code, RedisReplyError)
    return cls(f"{reply} ({where})", reply=reply, operation=operation, key=key)
