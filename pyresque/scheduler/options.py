"""A scheduler's options, in one frozen object checked once: what :class:`Scheduler` is
built from, and what ``pyresque scheduler`` and an app's configuration map onto.

``Scheduler(redis, timeout=50)`` and ``Scheduler(redis, options=SchedulerOptions(
timeout=50))`` build the same scheduler; keywords given beside ``options`` replace its
fields. Adding an option is a field here (and its line in :class:`SchedulerKeywords`); a
test fails until the command line and the app configuration can set it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from pyresque.errors import ConfigurationError
from pyresque.protocol.context import Context
from pyresque.protocol.dialect import Dialect
from pyresque.scheduler.events import EVENTS
from pyresque.worker.options import check_number, common_options

__all__ = ["SchedulerKeywords", "SchedulerOptions"]


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """What a scheduler does, apart from its connection and jobs. Times are in ms unless
    named otherwise."""

    name: str | None = None
    """The value it holds its lock(s) with; default ``host:pid`` as the dialect's peer
    writes it (see :func:`~pyresque.protocol.plans.scheduler.lock_values`)."""
    namespace: str | Sequence[str] = "resque"
    """The key prefix; a list of parts is joined with ``:`` as node-resque does."""
    dialect: str | Dialect = "node"
    """Whose lock it takes and whose bytes it writes: ``"node"``, ``"ruby"`` or a
    :class:`Dialect`."""
    timeout: float = 5000
    """How often it polls: takes or refreshes the lock, moves due jobs; more than 0."""
    leader_lock_timeout: int = 180
    """Whole seconds the lock lives unless refreshed; more than 0."""
    stuck_worker_timeout: float | None = 3_600_000
    """Workers whose ping or heartbeat is older than this are cleaned up; 0 or None:
    never."""
    retry_stuck_jobs: bool = False
    """Re-enqueue the jobs of dead workers after each clean-up."""
    both_locks: bool = False
    """Lead only while holding node-resque's and resque-scheduler's locks both."""
    log_levels: Mapping[str, int | str | None] | None = None
    """A log level per event, on top of
    :data:`~pyresque.scheduler.events.DEFAULT_LOG_LEVELS` (None or ``"off"`` silences
    one)."""
    clock: Callable[[], float] | None = None
    """Unix time in seconds (default ``time.time``); tests inject a fixed one."""

    def __post_init__(self) -> None:
        namespace, dialect, levels = common_options(
            self.namespace, self.dialect, self.clock, self.log_levels, EVENTS
        )
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "log_levels", levels)
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigurationError(f"name must be a string (the lock value), not {self.name!r}")
        object.__setattr__(self, "timeout", check_number("timeout", self.timeout))
        lock = check_number("leader_lock_timeout", self.leader_lock_timeout, whole=True)
        object.__setattr__(self, "leader_lock_timeout", int(lock))
        if self.stuck_worker_timeout is not None:
            stuck = check_number("stuck_worker_timeout", self.stuck_worker_timeout, above=False)
            object.__setattr__(self, "stuck_worker_timeout", stuck)
        for option in ("retry_stuck_jobs", "both_locks"):
            if not isinstance(getattr(self, option), bool):
                raise ConfigurationError(
                    f"{option} must be True or False, not {getattr(self, option)!r}"
                )

    def context(self) -> Context:
        """The key space, dialect and clock these options give."""
        return Context.create(self.namespace, self.dialect, clock=self.clock)


class SchedulerKeywords(TypedDict, total=False):
    """:class:`SchedulerOptions`' fields, as keyword arguments of ``Scheduler`` (kept
    equal to them by a test)."""

    name: str | None
    namespace: str | Sequence[str]
    dialect: str | Dialect
    timeout: float
    leader_lock_timeout: int
    stuck_worker_timeout: float | None
    retry_stuck_jobs: bool
    both_locks: bool
    log_levels: Mapping[str, int | str | None] | None
    clock: Callable[[], float] | None
