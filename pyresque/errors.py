"""Every error pyresque raises on purpose derives from :class:`PyresqueError`.

::

    PyresqueError
    ├── ConfigurationError       bad option: unknown dialect, wrong namespace type, bad URL
    │   ├── CronSyntaxError      a cron expression that cannot be parsed or never matches
    │   └── UsageError           command-line options that cannot work (exit status 2)
    │       └── JobsSpecError    --jobs does not name a mapping of jobs
    ├── ArgumentError            an argument of the wrong type (a naive datetime, a job name
    │                            that is no string, a job that is not callable)
    ├── StateError               a call the object's state does not allow (started twice ...)
    ├── ConnectionFailedError    Redis unreachable or the connection dropped (chained)
    │   ├── ReplyTimeoutError    Redis took longer than the reply timeout to answer
    │   │   └── NoReplyError     ... naming the address, operation and timeout
    │   └── ConnectionSetupError Redis refused AUTH or SELECT (password, user, database)
    ├── ProtocolError            bytes that do not fit the resque protocol
    │   ├── PayloadEncodeError   a value the dialect cannot write (not JSON, NaN, non-str keys)
    │   ├── PayloadDecodeError   a value found in Redis that is not what its key should hold
    │   └── ActiveJobError       ActiveJob data pyresque cannot map
    │       └── UnknownActiveJobError  an ActiveJob class with no Python handler
    ├── QueueError               a queue operation refused
    │   ├── DuplicateJobError    enqueue_at of a job already delayed at that second (node)
    │   ├── ReplicationTimeoutError  a job written, but fewer replicas confirmed it than asked
    │   └── JobNotFoundError     the failed entry / worker named is not in Redis
    │       └── FailedEntryMovedError  a failed entry is no longer at the index read
    ├── UnknownJobError          a payload names a class the worker has no job for
    ├── JobTimeoutError          a job ran longer than the worker's job_timeout
    ├── TaskError                the task layer's errors
    │   ├── TaskDefinitionError  a task class that cannot be loaded
    │   └── InputValidationError inputs a task refuses
    ├── DrainLimitError          pyresque.testing.drain: jobs kept coming past its limits
    ├── PeerError                pyresque.testing.peers: a node-resque / Ruby peer failed
    ├── ConformanceJobError      the failing job of a `pyresque conformance` check, on purpose
    ├── ConformanceSkipError     a conformance check the peer lacks an API for (row skipped)
    ├── MissingExtraError        an optional dependency is not installed (names the extra)
    └── RedisReplyError          Redis answered an operation with an error (names op and key)
        ├── WrongTypeError       a key holds another type than the operation needs
        └── TransientReplyError  refused for now, nothing ran: wait and try again
            ├── RedisLoadingError      LOADING (a restart reading its dataset)
            ├── RedisBusyError         BUSY (a script runs past its time limit)
            ├── RedisReadOnlyError     READONLY (a replica: a failover is under way)
            ├── RedisMasterDownError   MASTERDOWN (a replica lost its master)
            ├── RedisTryAgainError     TRYAGAIN
            ├── RedisNoReplicasError   NOREPLICAS (min-replicas-to-write not met)
            └── RedisOutOfMemoryError  OOM (maxmemory reached under noeviction)

Every error pyresque raises is one of these (a test reads every ``raise`` in the package).

Every :class:`RedisReplyError` is also a ``redis.exceptions.ResponseError``, and each
transient one also redis-py's own class for that reply where it has one
(``OutOfMemoryError``, ``BusyLoadingError``, ``ReadOnlyError`` ...), so callers that
already handle those keep working. Its message names the operation and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis import exceptions as _redis

__all__ = [
    "ActiveJobError",
    "ArgumentError",
    "ConfigurationError",
    "ConformanceJobError",
    "ConformanceSkipError",
    "ConnectionFailedError",
    "ConnectionSetupError",
    "CronSyntaxError",
    "DrainLimitError",
    "DuplicateJobError",
    "FailedEntryMovedError",
    "InputValidationError",
    "JobNotFoundError",
    "JobTimeoutError",
    "JobsSpecError",
    "MissingExtraError",
    "NoReplyError",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "PeerError",
    "ProtocolError",
    "PyresqueError",
    "QueueError",
    "RedisBusyError",
    "RedisLoadingError",
    "RedisMasterDownError",
    "RedisNoReplicasError",
    "RedisOutOfMemoryError",
    "RedisReadOnlyError",
    "RedisReplyError",
    "ReplicationTimeoutError",
    "RedisTryAgainError",
    "ReplyTimeoutError",
    "StateError",
    "TaskDefinitionError",
    "TaskError",
    "TransientReplyError",
    "UnknownActiveJobError",
    "UnknownJobError",
    "UsageError",
    "WebRequestError",
    "WrongTypeError",
]


class PyresqueError(Exception):
    """Root of pyresque's own errors."""


class ConfigurationError(PyresqueError, ValueError):
    """An option pyresque cannot work with."""


class CronSyntaxError(ConfigurationError):
    """A cron expression that cannot be parsed, or that can never match."""


class UsageError(ConfigurationError):
    """The command-line options (or the app's configuration) cannot work: exit status 2."""


class JobsSpecError(UsageError):
    """``--jobs`` does not name a mapping of jobs."""


class ArgumentError(PyresqueError, TypeError):
    """An argument of the wrong type: a naive datetime, a time that is no number, a job
    name that is no string, a job that is neither callable nor a JobDefinition."""


class StateError(PyresqueError, RuntimeError):
    """A call the object's state does not allow (starting a started worker ...)."""


class ConnectionFailedError(PyresqueError, ConnectionError):
    """Redis could not be reached, or the connection was lost mid-command.

    A command that was sent when the connection dropped may or may not have run
    (``maybe_sent``); pyresque never re-sends it on its own (a re-sent pop could take a
    second job).
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class ReplyTimeoutError(ConnectionFailedError, TimeoutError):
    """Redis accepted the command but did not answer within the reply timeout.

    The connection is closed (its replies can no longer be matched to commands) and the
    command may have run.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=True)


class ConnectionSetupError(ConnectionFailedError):
    """Redis refused a new connection's setup (``AUTH``, ``SELECT``): a wrong password,
    user or database. Trying again will not help, so nothing retries it."""


class NoReplyError(ReplyTimeoutError):
    """A :class:`ReplyTimeoutError` that keeps its parts, so a driver can name the
    operation better than the connection can (a script by name, not ``EVALSHA``)."""

    def __init__(self, address: str, operation: str, seconds: float) -> None:
        super().__init__(
            f"Redis at {address} did not answer {operation} within {seconds:g} s; "
            "connection closed, the command may have run"
        )
        self.address = address
        self.operation = operation
        self.seconds = seconds

    def naming(self, operation: str) -> NoReplyError:
        """The same timeout, naming ``operation`` instead."""
        return NoReplyError(self.address, operation, self.seconds)


class ProtocolError(PyresqueError):
    """Bytes that do not fit the resque protocol."""


class PayloadEncodeError(ProtocolError, ValueError):
    """A value the chosen dialect cannot write. Nothing was sent to Redis (a bulk enqueue:
    nothing of the chunk holding it; ``index`` is its position in the input)."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


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


class ActiveJobError(ProtocolError):
    """Job data or arguments that ActiveJob would not write or that pyresque cannot map."""


class UnknownActiveJobError(ActiveJobError):
    """An ActiveJob job class with no Python handler (the job goes to the failed list)."""


class QueueError(PyresqueError):
    """A queue operation that was refused."""


class DuplicateJobError(QueueError):
    """The same job is already delayed at that second (node-resque's duplicate rule)."""


class ReplicationTimeoutError(QueueError):
    """A job was written on the master, but fewer replicas than the connection's
    ``wait_replicas`` confirmed it within ``wait_timeout``: a failover now would lose it.
    Sending it again makes sure of it (the job may then run twice)."""


class JobNotFoundError(QueueError, LookupError):
    """The job, failed entry or worker named is not in Redis."""


class FailedEntryMovedError(JobNotFoundError):
    """The failed entry at ``index`` of ``key`` is no longer the one read (the list changed
    meanwhile): nothing was written. Read the entries again and act on what they are now."""

    def __init__(self, key: str, index: int) -> None:
        super().__init__(
            f"{key}[{index}] no longer holds the entry read there (the failed list changed "
            "meanwhile): nothing was done; read it again"
        )
        self.key = key
        self.index = index


class UnknownJobError(PyresqueError, LookupError):
    """A payload names a class that is not in the worker's ``jobs``."""


class JobTimeoutError(PyresqueError, TimeoutError):
    """A job ran longer than the worker's ``job_timeout``."""


class TaskError(PyresqueError):
    """Root of the task layer's errors."""


class TaskDefinitionError(TaskError, ValueError):
    """A task class that cannot be loaded (missing name, bad queue, duplicate ...)."""


class InputValidationError(TaskError, ValueError):
    """Inputs a task refuses; nothing was enqueued. ``inputs`` are the offending inputs."""

    def __init__(self, message: str, *, task: str, key: str, inputs: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.task = task
        self.key = key
        self.inputs = dict(inputs)


class DrainLimitError(PyresqueError):
    """Jobs kept coming past ``max_jobs`` runs or ``max_rounds`` rounds (a chain that
    never ends)."""


class PeerError(PyresqueError):
    """A node-resque or Ruby resque peer process (``pyresque conformance``'s, or
    :mod:`pyresque.testing.peers`') could not start, died, answered a request with an error,
    or did not run the jobs asked for in time. ``name``: the peer's error class
    (``"Error"``, ``"NameError"`` ...), when it answered with one."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class ConformanceJobError(PyresqueError):
    """What the failing job of a `pyresque conformance` check raises, on purpose."""


class ConformanceSkipError(PyresqueError):
    """A `pyresque conformance` check cannot run against this peer (it lacks an API the
    check needs): the row is ``skipped`` with the message as its reason, not a DIFF."""


class MissingExtraError(PyresqueError, ImportError):
    """An optional dependency is not installed: the message names the extra to install
    (``pip install 'pyresque[metrics]'``)."""


class WebRequestError(PyresqueError):
    """A dashboard request refused: answered with HTTP ``status`` and the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RedisReplyError(PyresqueError, _redis.ResponseError):
    """Redis answered with an error. ``reply`` is Redis' own text; ``operation`` the
    command or pyresque script; ``key`` the key concerned, when one is known."""

    def __init__(
        self, message: str, *, reply: str = "", operation: str = "", key: str | None = None
    ) -> None:
        super().__init__(message)
        self.reply = reply or message
        self.operation = operation
        self.key = key

    @property
    def code(self) -> str:
        """The reply's first word (``WRONGTYPE``, ``OOM``, ``ERR`` ...)."""
        return self.reply.split(" ", 1)[0]


class WrongTypeError(RedisReplyError):
    """A key holds another Redis type (or a string that is not an integer) than the
    operation needs. Nothing was written by the operation."""

    def __init__(
        self,
        message: str,
        *,
        reply: str = "",
        operation: str = "",
        key: str | None = None,
        found: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message, reply=reply, operation=operation, key=key)
        self.found = found
        self.expected = expected


class TransientReplyError(RedisReplyError):
    """Redis refused the command for now (restarting, failing over, busy, out of memory):
    the command did not run, so it is safe to send again after a pause."""


class RedisLoadingError(TransientReplyError, _redis.BusyLoadingError):
    """``LOADING``: the server is reading its dataset after a restart."""


class RedisBusyError(TransientReplyError):
    """``BUSY``: a script or function runs past the server's time limit."""


class RedisReadOnlyError(TransientReplyError, _redis.ReadOnlyError):
    """``READONLY``: the server is a replica (a failover moved the master)."""


class RedisMasterDownError(TransientReplyError, _redis.MasterDownError):
    """``MASTERDOWN``: a replica lost its link to the master."""


class RedisTryAgainError(TransientReplyError, _redis.TryAgainError):
    """``TRYAGAIN``."""


class RedisNoReplicasError(TransientReplyError):
    """``NOREPLICAS``: the master has fewer good replicas than ``min-replicas-to-write``."""


class RedisOutOfMemoryError(TransientReplyError, _redis.OutOfMemoryError):
    """``OOM``: ``maxmemory`` is reached and the policy evicts nothing. A script is refused
    only at its first write, so nothing it was to write was written."""
