"""pyresque.protocol.times against what Node 20 and Ruby 3.1 really wrote (spec/vectors/times-*)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyresque.errors import ConfigurationError
from pyresque.protocol import times
from pyresque.protocol.times import (
    UNKNOWN_ZONE,
    js_bucket,
    js_date_string,
    js_retry_failed_at,
    js_round,
    js_zone_name,
    local_zone_name,
    parse_peer_time,
    ruby_bucket,
    ruby_failed_at,
    ruby_iso8601,
    ruby_iso8601_utc,
    ruby_retried_at,
    ruby_time_to_s,
)
from tests.vectors import load

NODE = load("times-node.json")
RUBY = load("times-ruby.json")
ROOT = Path(__file__).resolve().parents[3]
NAMES_FILE = Path(times.__file__).with_name("js_zone_names.json")
ZONES = sorted(zoneinfo.available_timezones() - {"localtime"})
YEAR_1000_MS = -30610224000000
YEAR_1973_MS = 94694400000
YEAR_2100_MS = 4102444800000


def _rows(document: dict[str, Any], section: str = "zones") -> list[tuple[str, dict[str, Any]]]:
    return [(zone, row) for zone, body in document[section].items() for row in body["instants"]]


def _ids(case: tuple[str, dict[str, Any]]) -> str:
    return f"{case[0] or '<empty>'}@{case[1]['ms']}"


NODE_ROWS = _rows(NODE)
RUBY_ROWS = _rows(RUBY)


def _split(text: str) -> tuple[str, str]:
    head, _, name = text.partition(" (")
    return head, name.removesuffix(")")


@pytest.fixture
def libc_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set TZ for this process, libc included, and put it back afterwards."""

    def set_tz(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("TZ", raising=False)
        else:
            monkeypatch.setenv("TZ", value)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


# -- Math.round and buckets -----------------------------------------------------------------


@pytest.mark.parametrize(("x", "expected"), NODE["rounds"], ids=repr)
def test_js_round_matches_node_math_round(x: float, expected: int) -> None:
    assert js_round(x) == expected


@pytest.mark.parametrize(("ms", "expected"), NODE["buckets"], ids=repr)
def test_js_bucket_matches_node_math_round_of_seconds(ms: float, expected: int) -> None:
    assert js_bucket(ms) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_round_is_exact_floor_of_x_plus_half(x: float) -> None:
    assert js_round(x) == math.floor(Fraction(x) + Fraction(1, 2))


@given(st.integers(min_value=-(2**50), max_value=2**50))
def test_js_round_sends_halves_toward_positive_infinity(n: int) -> None:
    assert js_round(n + 0.5) == n + 1
    assert js_round(n - 0.5) == n
    assert round(n + 0.5) != js_round(n + 0.5) or n % 2 == 1  # Python's round differs on evens


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
def test_js_round_refuses_values_with_no_integer(x: float) -> None:
    with pytest.raises(ValueError, match="Math.round"):
        js_round(x)


@pytest.mark.parametrize(("value", "time_to_i", "number_to_i"), RUBY["to_i"], ids=repr)
def test_ruby_bucket_matches_time_to_i(
    value: list[int] | float, time_to_i: int, number_to_i: int
) -> None:
    seconds = Fraction(value[0], value[1]) if isinstance(value, list) else value
    assert ruby_bucket(seconds) == time_to_i
    assert time_to_i == number_to_i or seconds < 0  # Float#to_i truncates: differs only before 1970


@given(st.fractions(min_value=-(10**10), max_value=10**10))
def test_ruby_bucket_is_the_second_at_or_before(seconds: Fraction) -> None:
    bucket = ruby_bucket(seconds)
    assert bucket <= seconds < bucket + 1


# -- node-resque strings --------------------------------------------------------------------


@pytest.mark.parametrize("case", NODE_ROWS, ids=_ids)
def test_js_date_string_matches_node_to_string(case: tuple[str, dict[str, Any]]) -> None:
    zone, row = case
    ours = js_date_string(row["ms"], zone)
    head, name = _split(row["to_string"])
    assert _split(ours)[0] == head
    if row["name_rule"] == "toString":
        assert ours == row["to_string"]
    elif row["name_rule"] == "Intl":  # far from the recording: the name at the instant itself
        assert _split(ours)[1] == row["intl_name"]
    else:
        assert _split(ours)[1] in {name, row["intl_name"]}
    assert js_zone_name(row["ms"], zone) == _split(ours)[1]


@pytest.mark.parametrize("case", NODE_ROWS, ids=_ids)
def test_js_retry_failed_at_matches_node_retry_plugin(case: tuple[str, dict[str, Any]]) -> None:
    zone, row = case
    assert js_retry_failed_at(row["ms"], zone) == row["retry_failed_at"]


# V8's Date.parse reads years below 1000 as 20xx: those rows say nothing about parsing.
@pytest.mark.parametrize("case", [c for c in NODE_ROWS if c[1]["ms"] >= YEAR_1000_MS], ids=_ids)
def test_parse_peer_time_reads_node_strings_as_date_parse_does(
    case: tuple[str, dict[str, Any]],
) -> None:
    zone, row = case
    assert parse_peer_time(row["to_string"]) == row["date_parse"] / 1000
    assert parse_peer_time(row["retry_failed_at"], zone) == row["retry_date_parse"] / 1000


def test_js_date_string_spells_the_documented_examples() -> None:
    ms = 1795957544000
    assert js_date_string(ms, "UTC") == (
        "Sun Nov 29 2026 13:05:44 GMT+0000 (Coordinated Universal Time)"
    )
    assert js_date_string(ms, "America/Los_Angeles").endswith("GMT-0800 (Pacific Standard Time)")
    assert js_date_string(ms, "Asia/Kolkata").endswith("GMT+0530 (India Standard Time)")
    assert js_date_string(ms, "Asia/Kathmandu").endswith("GMT+0545 (Nepal Time)")
    assert js_date_string(ms, "Africa/Casablanca").endswith("GMT+0100 (GMT+01:00)")


def test_js_strings_truncate_fractional_milliseconds_like_time_clip() -> None:
    # -1000.5 ms is clipped to -1000 (toward zero), i.e. the second before the epoch.
    assert js_date_string(-1000.5, "UTC").startswith("Wed Dec 31 1969 23:59:59")
    assert js_retry_failed_at(-1000.5, "UTC") == "1969/12/31 23:59:59"


@pytest.mark.parametrize("ms", [math.nan, math.inf, 8.64e15 + 1])
def test_js_date_string_refuses_invalid_time_values(ms: float) -> None:
    with pytest.raises(ValueError, match="time value"):
        js_date_string(ms, "UTC")


def test_every_zone_has_recorded_icu_names() -> None:
    data = json.loads(NAMES_FILE.read_text(encoding="utf-8"))
    assert set(data["zones"]) | set(data["icu_unknown"]) == set(ZONES)
    assert NAMES_FILE.stat().st_size < 300_000


def test_zone_names_are_loaded_only_when_a_js_string_needs_one() -> None:
    code = (
        "import pyresque.protocol.times as t\n"
        "t.ruby_time_to_s(0, 'UTC'); t.js_retry_failed_at(0, 'UTC'); t.parse_peer_time('0')\n"
        "before = t._name_data.cache_info().currsize\n"
        "t.js_date_string(0, 'UTC')\n"
        "print(before, t._name_data.cache_info().currsize)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.split() == ["0", "1"]


@given(
    st.integers(min_value=YEAR_1973_MS, max_value=YEAR_2100_MS),
    st.sampled_from(ZONES),
)
def test_parse_peer_time_reads_js_date_string_back_to_the_second(ms: int, zone: str) -> None:
    assert parse_peer_time(js_date_string(ms, zone)) == ms // 1000


@given(
    st.integers(min_value=YEAR_1973_MS, max_value=YEAR_2100_MS),
    st.sampled_from(ZONES),
)
def test_js_retry_failed_at_reads_back_to_the_same_wall_clock(ms: int, zone: str) -> None:
    text = js_retry_failed_at(ms, zone)
    seconds = parse_peer_time(text, zone)
    assert seconds is not None
    assert js_retry_failed_at(seconds * 1000, zone) == text  # ambiguous hours keep the wall time


# -- Ruby strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", RUBY_ROWS, ids=_ids)
def test_ruby_writers_match_ruby(case: tuple[str, dict[str, Any]]) -> None:
    zone, row = case
    seconds = Fraction(row["ms"], 1000)
    assert ruby_time_to_s(seconds, zone) == row["to_s"]
    assert ruby_iso8601(seconds, zone) == row["iso8601"]
    assert ruby_iso8601_utc(seconds) == row["utc_iso8601"]
    assert ruby_failed_at(seconds, zone) == row["failed_at"]
    assert ruby_retried_at(seconds, zone) == row["retried_at"]
    assert ruby_retried_at(seconds, zone, with_zone=True) == row["failed_at"]
    assert ruby_bucket(seconds) == row["to_i"]


@pytest.mark.parametrize("case", RUBY_ROWS, ids=_ids)
def test_parse_peer_time_reads_ruby_strings_as_time_parse_does(
    case: tuple[str, dict[str, Any]],
) -> None:
    zone, row = case
    assert parse_peer_time(row["to_s"], zone) == row["time_parse_to_s"]
    assert parse_peer_time(row["iso8601"], zone) == row["time_parse_iso8601"]
    assert parse_peer_time(row["utc_iso8601"], zone) == row["to_i"]
    assert parse_peer_time(row["failed_at"], zone) == row["time_parse_failed_at"]


def _ruby_knows_abbreviation(row: dict[str, Any]) -> bool:
    # An abbreviation Ruby does not know (LMT, DMT ...) is UTC to DateTime.parse and local
    # time to Time.parse: no single answer to compare with.
    abbr = str(row["failed_at"]).rsplit(" ", 1)[1]
    return RUBY["abbreviations"].get(abbr) is not None or abbr[0] in "+-"


@pytest.mark.parametrize("case", [c for c in RUBY_ROWS if _ruby_knows_abbreviation(c[1])], ids=_ids)
def test_parse_peer_time_reads_a_foreign_abbreviation_as_datetime_parse_does(
    case: tuple[str, dict[str, Any]],
) -> None:
    _zone, row = case
    assert parse_peer_time(row["failed_at"], "UTC") == row["datetime_parse_failed_at"]


@pytest.mark.parametrize(("abbr", "offset"), sorted(RUBY["abbreviations"].items()))
def test_parse_peer_time_knows_the_abbreviations_ruby_knows(abbr: str, offset: int | None) -> None:
    wall = datetime(2026, 11, 28, 13, 15, 53, tzinfo=UTC).timestamp()
    got = parse_peer_time(f"2026/11/28 13:15:53 {abbr}", "UTC")
    assert got == wall - (offset or 0)  # unknown to Ruby: the reader's wall time (UTC here)


def test_parse_peer_time_prefers_the_readers_own_meaning_of_an_abbreviation() -> None:
    assert parse_peer_time("2026/07/02 14:46:40 IST", "Europe/Dublin") == 1783000000  # Irish
    assert parse_peer_time("2026/11/29 15:05:44 IST", "Asia/Jerusalem") == 1795957544  # Israel
    assert parse_peer_time("2026/11/29 18:35:44 IST", "UTC") == 1795957544  # Ruby's: India


@given(
    st.integers(min_value=YEAR_1973_MS // 1000, max_value=YEAR_2100_MS // 1000),
    st.sampled_from(ZONES),
)
def test_ruby_strings_read_back_to_the_same_text(seconds: int, zone: str) -> None:
    for write in (ruby_time_to_s, ruby_iso8601, ruby_failed_at):
        text = write(seconds, zone)
        parsed = parse_peer_time(text, zone)
        assert parsed is not None
        assert write(parsed, zone) == text
    assert parse_peer_time(ruby_iso8601(seconds, zone)) == seconds
    assert parse_peer_time(ruby_iso8601_utc(seconds)) == seconds


# -- parse_peer_time's other inputs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795957544", 1795957544.0),
        (b"1795957544", 1795957544.0),
        ("-1.5", -1.5),
        ("2026-11-28T13:18:49Z", 1795871929.0),
        ("2026-11-28T13:18:49.250Z", 1795871929.25),
        ("2026-11-28T18:48:49+05:30", 1795871929.0),
        ("2026-11-28T18:48:49+0530", 1795871929.0),
        ("2026-11-28 13:18:49 +0000", 1795871929.0),
        ("Sat Nov 28 2026 13:18:49 GMT+0000", 1795871929.0),
        ("Sat Nov 28 2026 05:18:49 GMT-0800 (PST)", 1795871929.0),
        ("2026/11/28 13:18:49 UTC", 1795871929.0),
        ("2026/11/28 14:18:49 +01", 1795871929.0),
    ],
)
def test_parse_peer_time_reads_iso_and_epoch_forms(text: str | bytes, expected: float) -> None:
    assert parse_peer_time(text, "Asia/Tokyo") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "nan",
        "inf",
        "2026-13-01T00:00:00Z",
        "Sat Foo 28 2026 13:18:49 GMT+0000",
        b"\xff",
    ],
)
def test_parse_peer_time_returns_none_for_what_no_peer_writes(text: str | bytes) -> None:
    assert parse_peer_time(text, "UTC") is None


# -- zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda z: js_date_string(0, z),
        lambda z: js_retry_failed_at(0, z),
        lambda z: ruby_time_to_s(0, z),
        lambda z: ruby_failed_at(0, z),
        lambda z: parse_peer_time("2026/11/28 13:18:49", z),
    ],
)
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "localtime", "/etc/localtime", ""])
def test_unknown_zone_names_are_a_configuration_error(call: Any, zone: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        call(zone)


@pytest.mark.parametrize("case", _rows(NODE, "tz_env"), ids=_ids)
def test_local_zone_follows_tz_as_node_does(case: tuple[str, dict[str, Any]], libc_tz: Any) -> None:
    value, row = case
    libc_tz(value)
    assert js_date_string(row["ms"]) == row["to_string"]
    assert js_retry_failed_at(row["ms"]) == row["retry_failed_at"]


@pytest.mark.parametrize("case", _rows(RUBY, "tz_env"), ids=_ids)
def test_ruby_local_time_follows_tz_as_ruby_does(
    case: tuple[str, dict[str, Any]], libc_tz: Any
) -> None:
    value, row = case
    libc_tz(value)
    seconds = row["ms"] / 1000
    assert ruby_time_to_s(seconds) == row["to_s"]
    assert ruby_iso8601(seconds) == row["iso8601"]
    assert ruby_failed_at(seconds) == row["failed_at"]
    assert ruby_retried_at(seconds) == row["retried_at"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Europe/Paris", "Europe/Paris"),
        (":America/New_York", "America/New_York"),
        ("posix/Asia/Tokyo", "Asia/Tokyo"),
        ("", UNKNOWN_ZONE),
        ("JST-9", "Etc/GMT-9"),
        ("AAA+12", "Etc/GMT+12"),
        ("EST5EDT,M3.2.0,M11.1.0", "UTC"),
    ],
)
def test_local_zone_name_reads_tz(value: str, expected: str, libc_tz: Any) -> None:
    libc_tz(value)
    assert local_zone_name() == expected


def test_local_zone_name_follows_the_localtime_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libc_tz: Any
) -> None:
    libc_tz(None)
    link = tmp_path / "localtime"
    monkeypatch.setattr(times, "_LOCALTIME", str(link))
    assert local_zone_name() == "UTC"  # no file at all
    link.symlink_to("../usr/share/zoneinfo/posix/America/New_York")
    assert local_zone_name() == "America/New_York"


def test_local_zone_name_finds_a_copied_localtime_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libc_tz: Any
) -> None:
    libc_tz(None)
    source = Path(zoneinfo.TZPATH[0]) / "Asia" / "Kathmandu"
    copy = tmp_path / "localtime"
    copy.write_bytes(source.read_bytes())
    monkeypatch.setattr(times, "_LOCALTIME", str(copy))
    found = local_zone_name()
    assert (Path(zoneinfo.TZPATH[0]) / found).read_bytes() == source.read_bytes()
    assert js_zone_name(1795957544000) == "Nepal Time"


def test_local_zone_name_is_cached_until_tz_changes(libc_tz: Any) -> None:
    libc_tz("Asia/Kolkata")
    assert local_zone_name() == "Asia/Kolkata"
    libc_tz("Europe/London")
    assert local_zone_name() == "Europe/London"
    assert os.environ["TZ"] == "Europe/London"
