"""Cron expressions (parsed by cronsim): fields, names, steps, Vixie cron's day-of-month/
day-of-week rule, ``next_after`` (Feb 29, DST), and the errors for expressions that cannot
work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pyresque.errors import ConfigurationError
from pyresque.tasks.cron import Cron, CronSyntaxError

# (expression, after, the next matches after it)
NEXT = [
    ("* * * * *", "2024-01-01 10:07:30", ["2024-01-01 10:08", "2024-01-01 10:09"]),
    ("*/15 * * * *", "2024-01-01 10:07",
     ["2024-01-01 10:15", "2024-01-01 10:30", "2024-01-01 10:45", "2024-01-01 11:00"]),
    ("0 1-5 * * *", "2024-01-01 03:00",
     ["2024-01-01 04:00", "2024-01-01 05:00", "2024-01-02 01:00"]),
    ("0 9 * * MON-FRI", "2024-01-05 10:00", ["2024-01-08 09:00", "2024-01-09 09:00"]),  # Fri-Mon
    ("0 9 * * 1-5", "2024-01-05 10:00", ["2024-01-08 09:00"]),
    ("0 0 * * 7", "2024-01-01 00:00", ["2024-01-07 00:00"]),  # 7 is Sunday too
    ("0 0 * * sun", "2024-01-01 00:00", ["2024-01-07 00:00"]),  # names in any case
    # Both day fields restricted: either matches (the 1st, and every Monday).
    ("0 0 1 * MON", "2024-01-31 12:00",
     ["2024-02-01 00:00", "2024-02-05 00:00", "2024-02-12 00:00"]),
    # A field starting with * means both must match: every other day that is a Monday.
    ("0 0 */2 * MON", "2024-01-01 00:00", ["2024-01-15 00:00", "2024-01-29 00:00"]),
    ("0 0 29 2 *", "2024-03-01 00:00", ["2028-02-29 00:00", "2032-02-29 00:00"]),
    ("0 0 29 2 *", "2097-01-01 00:00", ["2104-02-29 00:00"]),  # 2100 is no leap year
    ("30 12 1 JAN,jul *", "2024-02-01 00:00", ["2024-07-01 12:30", "2025-01-01 12:30"]),
    ("0-10/5 0 1 1 *", "2024-01-01 00:00",
     ["2024-01-01 00:05", "2024-01-01 00:10", "2025-01-01 00:00"]),
    ("5-5/10 * * * *", "2024-01-01 10:00", ["2024-01-01 10:05", "2024-01-01 11:05"]),  # one value
    ("50/5 0 * * *", "2024-01-01 00:00",
     ["2024-01-01 00:50", "2024-01-01 00:55", "2024-01-02 00:50"]),
    ("0 0 31 * *", "2024-01-31 00:00", ["2024-03-31 00:00", "2024-05-31 00:00"]),
    ("@hourly", "2024-01-01 10:00", ["2024-01-01 11:00"]),
    ("@daily", "2024-12-31 10:00", ["2025-01-01 00:00"]),
    ("@weekly", "2024-01-01 00:00", ["2024-01-07 00:00"]),
    ("@monthly", "2024-01-15 00:00", ["2024-02-01 00:00"]),
    ("@yearly", "2024-01-01 00:00", ["2025-01-01 00:00"]),
    # cronsim's extensions: the last day, the last weekday, the last Friday, the 2nd Friday.
    ("0 0 L * *", "2024-01-31 12:00", ["2024-02-29 00:00", "2024-03-31 00:00"]),
    ("0 0 LW * *", "2024-03-01 00:00", ["2024-03-29 00:00", "2024-04-30 00:00"]),
    ("0 0 * * 5L", "2024-01-01 00:00", ["2024-01-26 00:00", "2024-02-23 00:00"]),
    ("0 9 * * FRI#2", "2024-01-01 00:00", ["2024-01-12 09:00", "2024-02-09 09:00"]),
]  # fmt: skip


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT)
def test_next_after_walks_the_matching_minutes(
    expression: str, after: str, expected: list[str]
) -> None:
    cron = Cron.parse(expression)
    moment = _at(after)
    for want in expected:
        moment = cron.next_after(moment)
        assert moment == _at(want)
        assert cron.matches(moment)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [case for case in NEXT if _at(case[2][0]) - _at(case[1]) <= timedelta(days=40)],
)
def test_nothing_in_between_matches(expression: str, after: str, expected: list[str]) -> None:
    """The minute-by-minute truth over the first gap (the gaps of a few weeks at most)."""
    cron = Cron.parse(expression)
    start, end = _at(after), _at(expected[0])
    minute = start.replace(second=0) + timedelta(minutes=1)
    while minute < end:
        assert not cron.matches(minute), minute
        minute += timedelta(minutes=1)


@pytest.mark.parametrize(
    ("expression", "moment", "matches"),
    [
        ("0 0 1 * MON", "2024-01-01 00:00", True),  # a Monday and the 1st
        ("0 0 1 * MON", "2024-02-01 00:00", True),  # Thursday the 1st
        ("0 0 1 * MON", "2024-02-05 00:00", True),  # Monday the 5th
        ("0 0 1 * MON", "2024-02-06 00:00", False),
        ("0 0 1 * *", "2024-02-05 00:00", False),  # day of week * : the 1st only
        ("0 0 * * MON", "2024-02-01 00:00", False),  # day of month * : Mondays only
        ("*/15 * * * *", "2024-01-01 00:45", True),
        ("*/15 * * * *", "2024-01-01 00:46", False),
        ("0 0 29 2 *", "2024-02-29 00:00", True),
    ],
)
def test_matches(expression: str, moment: str, matches: bool) -> None:
    assert Cron.parse(expression).matches(_at(moment)) is matches


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("* * * * * *", "expected 5 fields"),  # cronsim's seconds field: the ticker has none
        ("60 * * * *", "minute: cannot read '60' (values 0-59;"),
        ("* 24 * * *", "hour: cannot read '24' (values 0-23;"),
        ("* * 0 * *", "day of month: cannot read '0' (values 1-31, L or LW;"),
        ("* * * 13 *", "month: cannot read '13' (values 1-12 or JAN-DEC;"),
        ("* * * * 8", "day of week: cannot read '8' (values 0-7 or SUN-SAT"),
        ("*/0 * * * *", "minute: cannot read '*/0'"),
        ("*/x * * * *", "minute: cannot read '*/x'"),
        ("5-1 * * * *", "minute: cannot read '5-1'"),
        ("* * * * FRI-MON", "day of week: cannot read 'FRI-MON'"),
        ("* * * FOO *", "month: cannot read 'FOO'"),
        ("* * * * MON-FOO", "day of week: cannot read 'MON-FOO'"),
        ("MON * * * *", "minute: cannot read 'MON'"),
        ("1,,2 * * * *", "minute: cannot read '1,,2'"),
        ("-1 * * * *", "minute: cannot read '-1'"),
        ("60/15 * * * *", "minute: cannot read '60/15'"),  # a step from outside the field
        ("* * * * MON#6", "day of week: cannot read 'MON#6'"),
        ("0 0 30 2 *", "never matches"),
        ("0 0 31 4,6,9,11 *", "never matches"),
        ("0 0 */3 2 MON#5", "never matches"),  # a fifth Monday in Feb is the 29th, not in */3
        ("@reboot", "expected 5 fields"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronSyntaxError, match="^" + repr(expression).replace("*", r"\*")) as info:
        Cron.parse(expression)
    assert message in str(info.value)
    assert isinstance(info.value, ConfigurationError)


def test_a_bad_field_says_what_ranges_and_steps_take() -> None:
    with pytest.raises(CronSyntaxError) as info:
        Cron.parse("0 0 * * 6-1")
    assert str(info.value) == (
        "'0 0 * * 6-1': day of week: cannot read '6-1' (values 0-7 or SUN-SAT, 5L or FRI#2; "
        "a range a-b runs upwards, a step /n has n >= 1)"
    )


def test_a_day_restricted_by_both_fields_may_never_exist_in_month_but_still_matches_weekdays() -> (
    None
):
    # Feb 30 never comes, but with a day of week too the OR rule makes it Mondays in Feb.
    cron = Cron.parse("0 0 30 2 MON")
    assert cron.next_after(_at("2024-01-01 00:00")) == _at("2024-02-05 00:00")


def test_aware_times_stay_in_their_zone() -> None:
    cron = Cron.parse("0 9 * * *")
    paris = ZoneInfo("Europe/Paris")
    found = cron.next_after(datetime(2024, 6, 1, 10, 0, tzinfo=paris))
    assert found == datetime(2024, 6, 2, 9, 0, tzinfo=paris)
    assert found.tzinfo is paris
    assert cron.next_after(datetime(2024, 6, 1, 10, 0, tzinfo=UTC)).tzinfo is UTC


def test_a_wall_time_dst_skips_never_matches_and_one_it_repeats_matches_twice() -> None:
    london = ZoneInfo("Europe/London")
    cron = Cron.parse("30 1 * * *")
    # 2024-03-31: clocks go from 01:00 to 02:00, so 01:30 does not exist that day.
    spring = cron.next_after(datetime(2024, 3, 31, 0, 0, tzinfo=london))
    assert spring.replace(tzinfo=None) == _at("2024-04-01 01:30")
    # 2024-10-27: 01:00-02:00 happens twice; 01:30 BST, then 01:30 GMT an hour later.
    first = cron.next_after(datetime(2024, 10, 27, 0, 0, tzinfo=london))
    second = cron.next_after(first)
    assert first.astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    third = cron.next_after(second)
    assert third.astimezone(UTC) == datetime(2024, 10, 28, 1, 30, tzinfo=UTC)


def test_str_is_the_expression_as_written_and_fields_are_what_was_read() -> None:
    assert str(Cron.parse("@daily")) == "@daily"
    assert Cron.parse("@daily").fields == "0 0 * * *"
    assert Cron.parse("  0  9 * *   MON ").fields == "0 9 * * MON"
