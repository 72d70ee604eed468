"""Shapes of the JSON values stored in Redis, and their strict decoding.

The wire names stay as the peers spell them (``class``, ``run_at``, ``failed_at`` ...);
the TypedDicts below describe what pyresque returns when it reads them. Both dialects'
shapes are accepted: Ruby's queue payload has no ``queue`` field, its working-on record
no ``worker`` field.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from pyresque.errors import PayloadDecodeError
from pyresque.protocol.jsjson import JSONValue, loads

__all__ = [
    "FailedJob",
    "Job",
    "WorkingOn",
    "decode_failed",
    "decode_job",
    "decode_json",
    "decode_working_on",
]

Job = TypedDict(
    "Job",
    {"class": str, "queue": NotRequired[str], "args": list[JSONValue]},
)
"""A queue payload or delayed item."""


class WorkingOn(TypedDict):
    """A worker's current-job record (``worker:<name>:<queues>``)."""

    run_at: str
    queue: str
    payload: Job
    worker: NotRequired[str]


class FailedJob(TypedDict):
    """An entry of the ``failed`` list. ``payload`` is the job, or the raw text of a
    payload that was not JSON (pyresque keeps such jobs as failures)."""

    worker: str
    queue: str
    payload: Job | str
    exception: NotRequired[str]
    error: NotRequired[str]
    backtrace: list[str] | None
    failed_at: str
    retried_at: NotRequired[str]


def decode_json(raw: bytes | str, *, key: str | None = None) -> JSONValue:
    """Parse a stored value; a corrupt one raises :class:`PayloadDecodeError` naming the key."""
    try:
        return loads(raw)
    except PayloadDecodeError as exc:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        raise PayloadDecodeError(f"invalid JSON: {exc}", key=key, raw=data) from None


def _object(raw: bytes | str, key: str | None, what: str) -> dict[str, Any]:
    value = decode_json(raw, key=key)
    if not isinstance(value, dict):
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        raise PayloadDecodeError(
            f"{what} is a JSON {type(value).__name__}, not an object", key=key, raw=data
        )
    return value


def decode_job(raw: bytes | str, *, key: str | None = None) -> Job:
    """A queue payload: any JSON object (the peers keep unknown fields, and so do we)."""
    return _object(raw, key, "job payload")  # type: ignore[return-value]


def decode_working_on(raw: bytes | str, *, key: str | None = None) -> WorkingOn:
    return _object(raw, key, "working-on record")  # type: ignore[return-value]


def decode_failed(raw: bytes | str, *, key: str | None = None) -> FailedJob:
    return _object(raw, key, "failed entry")  # type: ignore[return-value]
