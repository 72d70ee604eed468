"""Every error pyresque raises on purpose derives from :class:`PyresqueError`.

::

    PyresqueError
    ├── ConfigurationError       bad option: unknown dialect, wrong namespace type, bad URL
    ├── ConnectionFailedError    Redis unreachable or the connection dropped (chained)
    ├── ProtocolError            bytes that do not fit the resque protocol
    │   ├── PayloadEncodeError   a value the dialect cannot write (not JSON, NaN, non-str keys)
    │   └── PayloadDecodeError   a value found in Redis that is not what its key should hold
    └── QueueError               a queue operation refused
        ├── DuplicateJobError    enqueue_at of a job already delayed at that second (node)
        └── JobNotFoundError     the failed entry / worker named is not in Redis

Errors Redis itself returns (``WRONGTYPE``, ``OOM`` ...) propagate as redis-py's
``redis.exceptions.ResponseError`` so callers that already handle those keep working.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConnectionFailedError",
    "DuplicateJobError",
    "JobNotFoundError",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "ProtocolError",
    "PyresqueError",
    "QueueError",
]


class PyresqueError(Exception):
    """Root of pyresque's own errors."""


class ConfigurationError(PyresqueError, ValueError):
    """An option pyresque cannot work with."""


class ConnectionFailedError(PyresqueError, ConnectionError):
    """Redis could not be reached, or the connection was lost mid-command.

    A command that was sent when the connection dropped may or may not have run
    (``maybe_sent``); pyresque never re-sends it on its own (a re-sent pop could take a
    second job).
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class ProtocolError(PyresqueError):
    """Bytes that do not fit the resque protocol."""


class PayloadEncodeError(ProtocolError, ValueError):
    """A value the chosen dialect cannot write. Nothing was sent to Redis."""


class PayloadDecodeError(ProtocolError, ValueError):
    """A value read from Redis is not what its key should hold.

    The value is left in Redis untouched; ``key`` and ``raw`` say where and what it is.
    """

    def __init__(self, message: str, *, key: str | None = None, raw: bytes | None = None) -> None:
        detail = message
        if key is not None:
            detail += f" (key {key!r}"
            if raw is not None:
                shown = raw if len(raw) <= 200 else raw[:200] + b"..."
                detail += f", value {shown!r}"
            detail += ")"
        super().__init__(detail)
        self.key = key
        self.raw = raw


class QueueError(PyresqueError):
    """A queue operation that was refused."""


class DuplicateJobError(QueueError):
    """The same job is already delayed at that second (node-resque's duplicate rule)."""


class JobNotFoundError(QueueError, LookupError):
    """The job, failed entry or worker named is not in Redis."""
