"""Cron schedules for tasks: a 5-field cron parser and the ticker that enqueues
``Task.schedule`` tasks, once per matching minute across every scheduler node.

This is the Actionhero guide's recipe for cron-like tasks (an initializer that enqueues
a task when ``api.resque.scheduler.leader`` is true, on a node-schedule timer) built in:
the current scheduler leader enqueues, and a ``SET NX`` tick key per task and minute
makes sure nobody enqueues the same tick twice, even across a change of leader.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of
week (0-7, 0 and 7 being Sunday, or SUN-SAT). Each is ``*``, a value, a range ``a-b``,
any of these with a step (``*/15``, ``1-30/5``; ``a/s`` means ``a-max/s``), or a comma
list of them. ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``) and ``@hourly`` stand for their usual expansions.

Day of month and day of week combine as in Vixie cron: when either field starts with
``*`` both must match (``*/2`` counts as a star there too, as in Vixie cron), otherwise
either may (``0 0 1 * MON`` is the 1st of the month *and* every Monday).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from pyresque.connection import AsyncDriver, run_plan
from pyresque.errors import ConfigurationError
from pyresque.protocol.plans import scheduler as plans
from pyresque.tasks.task import TaskDefinitionError
from pyresque.tasks.tasks import Tasks

__all__ = ["Cron", "CronSyntaxError", "CronTicker", "schedules_of"]

log = logging.getLogger("pyresque.scheduler")

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
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
# Longest a wall-clock time can be repeated by a DST change; see Cron.next_after.
_MAX_FOLD = timedelta(hours=3)
_MINUTE = timedelta(minutes=1)


class CronSyntaxError(ConfigurationError):
    """A cron expression that cannot be parsed, or that can never match."""


def _number(text: str, field: str, names: Mapping[str, int], expression: str) -> int:
    if text.isdigit():
        return int(text)
    found = names.get(text.upper()) if len(text) == 3 else None
    if found is None:
        kind = "a number or a name" if names else "a number"
        raise CronSyntaxError(f"{expression!r}: {field}: expected {kind}, got {text!r}")
    return found


def _parse_field(text: str, index: int, expression: str) -> frozenset[int]:
    field, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronSyntaxError(
                    f"{expression!r}: {field}: step must be a whole number >= 1, got {step_text!r}"
                )
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start = _number(first, field, names, expression)
            end = _number(last, field, names, expression)
            if start > end:
                raise CronSyntaxError(f"{expression!r}: {field}: range {body!r} runs backwards")
        elif body:
            start = _number(body, field, names, expression)
            end = high if slash else start
        else:
            raise CronSyntaxError(f"{expression!r}: {field}: empty item in {text!r}")
        if start < low or end > high:
            raise CronSyntaxError(f"{expression!r}: {field}: {body!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression; build with :meth:`parse`."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday (7 is folded into 0)."""
    days_star: bool
    weekdays_star: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Raises :class:`CronSyntaxError`, naming the field at fault."""
        if not isinstance(expression, str):
            raise CronSyntaxError(f"a cron expression is a string, not {expression!r}")
        text = _NICKNAMES.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise CronSyntaxError(
                f"{expression!r}: expected 5 fields (minute hour day-of-month month "
                f"day-of-week), got {len(parts)}"
            )
        fields = [_parse_field(part, i, expression) for i, part in enumerate(parts)]
        cron = cls(
            expression=expression,
            minutes=tuple(sorted(fields[0])),
            hours=tuple(sorted(fields[1])),
            days=fields[2],
            months=fields[3],
            weekdays=frozenset(d % 7 for d in fields[4]),
            days_star=parts[2].startswith("*"),
            weekdays_star=parts[4].startswith("*"),
        )
        if cron.weekdays_star and not any(
            day <= _longest(month) for month in cron.months for day in cron.days
        ):
            # "0 0 30 2 *" would be accepted by cron and never run: say so instead.
            raise CronSyntaxError(f"{expression!r}: no month has that day; it never matches")
        return cron

    def __str__(self) -> str:
        return self.expression

    def day_matches(self, day: date) -> bool:
        in_month = day.day in self.days
        in_week = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_star or self.weekdays_star:
            return in_month and in_week
        return in_month or in_week  # Vixie cron's rule when both are restricted

    def matches(self, moment: datetime) -> bool:
        """Whether the wall-clock minute of ``moment`` (in its own zone) matches."""
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self.day_matches(moment.date())
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment``, in ``moment``'s zone
        (naive in, naive out). A wall time a DST change skips never matches; one it repeats
        matches twice (each occurrence is its own instant)."""
        zone = moment.tzinfo
        if zone is None or isinstance(zone, timezone):  # no DST: wall order is time order
            start = moment.replace(second=0, microsecond=0) + _MINUTE
            return next(self._walls(start.replace(tzinfo=None))).replace(tzinfo=zone)
        after = moment.astimezone(UTC)
        # A repeated hour puts later instants at earlier wall times: start the walk early
        # enough to see them, and keep the earliest instant found.
        start = moment.replace(tzinfo=None, second=0, microsecond=0) - _MAX_FOLD
        best: datetime | None = None
        limit: datetime | None = None
        for wall in self._walls(start):
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
            raise ValueError(f"{self.expression!r} never matches")
        return best.astimezone(zone)

    def _walls(self, start: datetime) -> Iterator[datetime]:
        """Matching naive wall-clock minutes from ``start`` on, in order (whole days and
        months that cannot match are skipped, so Feb 29 is found quickly)."""
        day, first = start.date(), True
        # Feb 29 of a leap year at most 8 years on (2096 -> 2104); 9 is always enough.
        while day.year <= start.year + 9:
            if day.month not in self.months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                first = False
                continue
            if self.day_matches(day):
                for hour in self.hours:
                    if first and hour < start.hour:
                        continue
                    for minute in self.minutes:
                        if first and hour == start.hour and minute < start.minute:
                            continue
                        yield datetime.combine(day, time(hour, minute))
            day += timedelta(days=1)
            first = False


def _longest(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


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
                await asyncio.wait_for(self._wake.wait(), delay)
