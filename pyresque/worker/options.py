"""A worker's options, in one frozen object checked once: what :class:`Worker` and
:class:`MultiWorker` are built from, and what ``pyresque worker`` and an app's
configuration map onto.

``Worker(redis, queues, jobs, timeout=50)`` and ``Worker(redis, queues, jobs,
options=WorkerOptions(timeout=50))`` build the same worker; keywords given beside
``options`` replace its fields. Adding an option is a field here (and its line in
:class:`WorkerKeywords`); the constructors pass it on as it is, and a test fails until the
command line and the app configuration can set it too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from pyresque.errors import ArgumentError, ConfigurationError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect
from pyresque.protocol.workers import worker_name
from pyresque.worker.events import EVENTS, check_event_levels

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Unfinished",
    "WorkerKeywords",
    "WorkerOptions",
    "check_number",
    "common_options",
    "options_with",
]

Unfinished = Literal["fail", "requeue"]
OptionsT = TypeVar("OptionsT", bound="DataclassInstance")


def check_number(
    option: str, value: object, *, low: float = 0, above: bool = True, whole: bool = False
) -> float:
    """``value`` as a float (an int with ``whole``), if it is a number more than ``low``
    (at least ``low`` unless ``above``); else ConfigurationError."""
    kind = int if whole else int | float
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or not (value > low if above else value >= low)
    ):
        bound = f"more than {low:g}" if above else f"{low:g} or more"
        number = "a whole number" if whole else "a number"
        raise ConfigurationError(f"{option} must be {number} {bound}, not {value!r}")
    return int(value) if whole else float(value)


def common_options(
    namespace: str | Sequence[str],
    dialect: str | Dialect,
    clock: Callable[[], float] | None,
    levels: Mapping[str, int | str | None] | None,
    events: Collection[str],
) -> tuple[str | tuple[str, ...], Dialect, Mapping[str, int | None] | None]:
    """The namespace (a list as a tuple), dialect and event log levels a worker's or a
    scheduler's options hold, checked."""
    if isinstance(namespace, Sequence) and not isinstance(namespace, str):
        namespace = tuple(namespace)
    context = Context.create(namespace, dialect)  # refuses a namespace of the wrong type
    if clock is not None and not callable(clock):
        raise ConfigurationError(f"clock must be a function returning unix seconds, not {clock!r}")
    checked = None if levels is None else check_event_levels("log_levels", levels, events)
    return context.keys.namespace, context.dialect, checked


def options_with(
    kind: type[OptionsT], options: OptionsT | None, keywords: Mapping[str, Any]
) -> OptionsT:
    """``options`` (default: ``kind``'s defaults) with ``keywords`` replacing its fields,
    checked again: how the constructors take ``options=`` and keywords."""
    if options is None:
        return kind(**keywords)
    if not isinstance(options, kind):
        raise ArgumentError(f"options must be a {kind.__name__}, not {type(options).__name__}")
    return dataclasses.replace(options, **keywords) if keywords else options


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What a worker does, apart from its connection, queues and jobs. Times are in ms
    unless named otherwise."""

    name: str | None = None
    """The name it registers under (default ``host:pid``), one the peers' tools can parse
    (see :func:`~pyresque.protocol.workers.worker_name`). A MultiWorker's is the host part
    of its workers' names."""
    namespace: str | Sequence[str] = "resque"
    """The key prefix; a list of parts is joined with ``:`` as node-resque does."""
    dialect: str | Dialect = "node"
    """Whose bytes it writes: ``"node"``, ``"ruby"`` or a :class:`Dialect`."""
    timeout: float = 5000
    """How often an idle worker looks again and (node dialect) pings; more than 0. An idle
    worker is woken at once when one of its queues gets a job."""
    job_timeout: float | None = None
    """A job running longer than this fails; None: no limit."""
    shutdown_grace: float = 30.0
    """Seconds a running job may take to finish once the worker stops; then it is cut
    off and settled per ``unfinished``."""
    unfinished: Unfinished = "fail"
    """A cut-off job is recorded as failed (``retry_stuck_jobs`` finds it), or put back at
    the head of its queue (``"requeue"``)."""
    heartbeat_interval: float = 60.0
    """Seconds between Ruby resque's heartbeats (ruby dialect); more than 0."""
    log_levels: Mapping[str, int | str | None] | None = None
    """A log level per event, on top of :data:`~pyresque.worker.events.DEFAULT_LOG_LEVELS`
    (None or ``"off"`` silences one)."""
    clock: Callable[[], float] | None = None
    """Unix time in seconds (default ``time.time``); tests inject a fixed one."""

    def __post_init__(self) -> None:
        namespace, dialect, levels = common_options(
            self.namespace, self.dialect, self.clock, self.log_levels, EVENTS
        )
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "log_levels", levels)
        for option in ("timeout", "heartbeat_interval"):
            object.__setattr__(self, option, check_number(option, getattr(self, option)))
        if self.job_timeout is not None:
            object.__setattr__(self, "job_timeout", check_number("job_timeout", self.job_timeout))
        grace = check_number("shutdown_grace", self.shutdown_grace, above=False)
        object.__setattr__(self, "shutdown_grace", grace)
        if self.unfinished not in ("fail", "requeue"):
            raise ConfigurationError(
                f"unfinished must be 'fail' or 'requeue', not {self.unfinished!r}"
            )
        if self.name is not None:
            worker_name(self.context(), self.name, os.getpid())

    def context(self) -> Context:
        """The key space, dialect and clock these options give."""
        return Context.create(self.namespace, self.dialect, clock=self.clock)


class WorkerKeywords(TypedDict, total=False):
    """:class:`WorkerOptions`' fields, as keyword arguments of ``Worker`` and
    ``MultiWorker`` (kept equal to them by a test)."""

    name: str | None
    namespace: str | Sequence[str]
    dialect: str | Dialect
    timeout: float
    job_timeout: float | None
    shutdown_grace: float
    unfinished: Unfinished
    heartbeat_interval: float
    log_levels: Mapping[str, int | str | None] | None
    clock: Callable[[], float] | None
