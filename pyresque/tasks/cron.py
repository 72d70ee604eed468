"""Cron schedules for tasks: expressions read by cronsim, and the ticker that enqueues
``Task.schedule`` tasks, once per matching minute across every scheduler node.

This is the Actionhero guide's recipe for cron-like tasks (an initializer that enqueues
a task when ``api.resque.scheduler.leader`` is true, on a node-schedule timer) built in:
the current scheduler leader enqueues, and a ``SET NX`` tick key per task and minute
makes sure nobody enqueues the same tick twice, even across a change of leader.

Fields: minute, hour, day of month, month (or JAN-DEC), day of week (0-7, 0 and 7 being
Sunday, or SUN-SAT), each ``*``, a value, a range, a step, or a comma list of these, plus
the ``@hourly``-style nicknames; day of month and day of week combine as in Vixie cron
(``spec/tasks.md`` has the details). The fields are parsed and matched by cronsim, which
follows Debian's cron (Vixie cron's descendant) and has no dependencies; croniter was
weighed and not taken: it treats ``*/2`` in a day field as a restriction (Vixie cron does
not), accepts backwards ranges such as ``5-1``, and needs python-dateutil and stubs.
pyresque adds the nicknames, the five-field rule (the ticker works in whole minutes, so
cronsim's six-field form with seconds is refused), the errors naming the field at fault,
and its own reading of DST changes (see :meth:`Cron.next_after`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from cronsim import CronSim, CronSimError

from pyresque.connection import AsyncDriver, run_plan
from pyresque.errors import CronSyntaxError
from pyresque.protocol.plans import scheduler as plans
from pyresque.tasks.task import TaskDefinitionError
from pyresque.tasks.tasks import Tasks

__all__ = ["Cron", "CronSyntaxError", "CronTicker", "schedules_of"]

log = logging.getLogger("pyresque.scheduler")

# (name, what it takes) per field, for the errors
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31, L or LW"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-7 or SUN-SAT, 5L or FRI#2"),
)
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Dates and weekdays line up again every 28 years (until 2100), and cronsim looks 50 years
# ahead: an expression with no match from here on has none at all.
_PROBE_FROM = datetime(2001, 1, 1)
# Longest a wall-clock time can be repeated by a DST change; see Cron.next_after.
_MAX_FOLD = timedelta(hours=3)
_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression; build with :meth:`parse`."""

    expression: str
    """As written."""
    fields: str
    """The five fields read (a nickname expanded)."""

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Raises :class:`CronSyntaxError`, naming the field at fault."""
        if not isinstance(expression, str):
            raise CronSyntaxError(f"a cron expression is a string, not {expression!r}")
        parts = _NICKNAMES.get(expression.strip().lower(), expression).split()
        if len(parts) != 5:
            raise CronSyntaxError(
                f"{expression!r}: expected 5 fields (minute hour day-of-month month "
                f"day-of-week), got {len(parts)}"
            )
        cron = cls(expression, " ".join(parts))
        try:
            found = next(cron._walls(_PROBE_FROM), None)
        except CronSimError:
            _raise_for_field(expression, parts)
            found = None  # every field reads on its own: they cannot match together
        if found is None:
            # "0 0 30 2 *" would be accepted by cron and never run: say so instead.
            raise CronSyntaxError(f"{expression!r}: no date fits every field; it never matches")
        return cron

    def __str__(self) -> str:
        return self.expression

    def matches(self, moment: datetime) -> bool:
        """Whether the wall-clock minute of ``moment`` (in its own zone) matches."""
        wall = moment.replace(tzinfo=None, second=0, microsecond=0)
        return next(self._walls(wall - _SECOND), None) == wall

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment``, in ``moment``'s zone
        (naive in, naive out). A wall time a DST change skips never matches; one it repeats
        matches twice (each occurrence is its own instant), as the ticker, which matches
        each real minute's wall time, sees them. (cronsim, given an aware time, would run
        a skipped time at the end of the gap and a repeated one once, as Debian's cron.)"""
        zone = moment.tzinfo
        if zone is None or isinstance(zone, timezone):  # no DST: wall order is time order
            found = next(self._walls(moment.replace(tzinfo=None)), None)
            if found is None:  # pragma: no cover - parse() rejects what never matches
                raise CronSyntaxError(f"{self.expression!r} never matches")
            return found.replace(tzinfo=zone)
        after = moment.astimezone(UTC)
        # A repeated hour puts later instants at earlier wall times: start the walk early
        # enough to see them, and keep the earliest instant found.
        start = moment.replace(tzinfo=None, second=0, microsecond=0) - _MAX_FOLD
        best: datetime | None = None
        limit: datetime | None = None
        for wall in self._walls(start - _SECOND):
            if limit is not None and wall > limit:
                break
            for fold in (0, 1):
                candidate = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                if candidate.astimezone(zone).replace(tzinfo=None) != wall:
                    continue  # skipped by a DST change
                if candidate > after and (best is None or candidate < best):
                    best = candidate
                    limit = wall + _MAX_FOLD
        if best is None:  # pragma: no cover - parse() rejects what never matches
            raise CronSyntaxError(f"{self.expression!r} never matches")
        return best.astimezone(zone)

    def _walls(self, after: datetime) -> Iterator[datetime]:
        """Matching naive wall-clock minutes strictly after naive ``after``, in order
        (cronsim skips whole days and months that cannot match, so Feb 29 is found at
        once); the iterator ends 50 years on. Raises CronSimError for a bad expression."""
        return CronSim(self.fields, after)


def _raise_for_field(expression: str, parts: list[str]) -> None:
    """Raise the CronSyntaxError naming the first field cronsim refuses on its own."""
    for index, (name, takes) in enumerate(_FIELDS):
        alone = ["*"] * 5
        alone[index] = parts[index]
        try:
            CronSim(" ".join(alone), _PROBE_FROM)
        except CronSimError:
            raise CronSyntaxError(
                f"{expression!r}: {name}: cannot read {parts[index]!r} (values {takes}; "
                "a range a-b runs upwards, a step /n has n >= 1)"
            ) from None


def schedules_of(tasks: Tasks) -> dict[str, tuple[Cron, ...]]:
    """Each scheduled task's parsed expressions; TaskDefinitionError naming the task for
    one that does not parse."""
    found: dict[str, tuple[Cron, ...]] = {}
    for name, task in tasks.tasks.items():
        if not task.schedule:
            continue
        try:
            found[name] = tuple(Cron.parse(text) for text in task.schedule)
        except CronSyntaxError as exc:
            raise TaskDefinitionError(f"schedule of task `{name}`: {exc}") from None
    return found


class CronTicker:
    """Enqueues scheduled tasks at their minutes while ``is_leader()`` says so.

    Each matching minute of each task is claimed with ``SET <ns>:cron:<task>:<unix
    minute> NX EX 3600`` before the enqueue, so it is enqueued at most once cluster-wide
    whoever leads. A minute with no leader (a failover takes up to the leader lock's
    TTL) is not caught up; a minute this leader's own loop overslept is, up to
    ``CATCH_UP`` minutes back. ``now`` (aware, default the real UTC clock) is injectable.
    """

    CATCH_UP = 5

    def __init__(
        self,
        tasks: Tasks,
        driver: AsyncDriver,
        *,
        is_leader: Callable[[], bool],
        zone: tzinfo = UTC,
        name: str = "",
        now: Callable[[], datetime] | None = None,
        log_level: int | None = logging.DEBUG,
    ) -> None:
        self.tasks = tasks
        self.schedules = schedules_of(tasks)
        self.zone = zone
        self.name = name
        self.is_leader = is_leader
        self.log_level = log_level
        self._driver = driver
        self._now = now or (lambda: datetime.now(UTC))
        self._last: datetime | None = None  # the last minute handled as leader (UTC)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Handle the minutes due by ``now``; the names enqueued (in order)."""
        minute = (now or self._now()).astimezone(UTC).replace(second=0, microsecond=0)
        async with self._lock:
            if not self.is_leader():
                # On becoming leader, start with the then current minute, not older ones
                # (another leader had them).
                self._last = minute - _MINUTE
                return []
            first = minute if self._last is None else self._last + _MINUTE
            first = max(first, minute - (self.CATCH_UP - 1) * _MINUTE)
            self._last = max(minute, self._last or minute)
            fired: list[str] = []
            while first <= minute:
                fired.extend(await self._fire(first))
                first += _MINUTE
            return fired

    async def _fire(self, minute: datetime) -> list[str]:
        wall = minute.astimezone(self.zone)
        fired = []
        for name, crons in self.schedules.items():
            if not any(cron.matches(wall) for cron in crons):
                continue
            ctx, at = self.tasks.queue.context, int(minute.timestamp())
            if not await run_plan(plans.claim_cron_tick(ctx, name, at, self.name), self._driver):
                continue  # another node (or an earlier leader) has this tick
            try:
                enqueued = await self.tasks.enqueue(name, {})
            except Exception as exc:
                # Give the tick back so a retry (or the next leader) can have it.
                with contextlib.suppress(Exception):
                    await run_plan(plans.release_cron_tick(ctx, name, at), self._driver)
                log.error("cron: enqueueing %s for %s failed: %s", name, wall, exc, exc_info=exc)
                continue
            if self.log_level is not None:
                what = "enqueued" if enqueued else "vetoed"
                when = f"{wall:%Y-%m-%d %H:%M %Z}"
                log.log(self.log_level, "cron: %s %s for %s", name, what, when)
            if enqueued:
                fired.append(name)
        return fired

    # -- the loop ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="pyresque-cron")

    def wake(self) -> None:
        """Tick now (the scheduler's ``leader`` event calls this)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.wait({task})

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.tick()
            except Exception as exc:  # Redis away: try again next minute
                log.error("cron: tick failed: %s", exc, exc_info=exc)
            now = self._now()
            # Just past the next minute boundary, by the (injectable) clock.
            delay = 60.05 - now.second - now.microsecond / 1_000_000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
