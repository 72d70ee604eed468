"""Time values the resque peers store in Redis, written byte for byte and read back.

Writers, one per stored value (checked against recordings of the real peers in
``spec/vectors/times-node.json`` and ``spec/vectors/times-ruby.json``):

node-resque 9.7.1 (Node 20)
  - working-on ``run_at``, failure ``failed_at``: :func:`js_date_string` (``Date#toString``)
  - Retry plugin ``failed_at``: :func:`js_retry_failed_at` (local ``YYYY/MM/DD HH:MM:SS``)
  - ``started``, ping ``time``, delayed buckets: :func:`js_bucket` (``Math.round(ms / 1000)``)

Ruby resque 2.7 / resque-scheduler 4.11
  - ``worker:<id>:started``, ``delayed:last_enqueued_at``: :func:`ruby_time_to_s`
  - working-on ``run_at``: :func:`ruby_iso8601_utc`
  - ``workers:heartbeat``: :func:`ruby_iso8601` (of Redis ``TIME``)
  - failure ``failed_at`` / ``retried_at``: :func:`ruby_failed_at` / :func:`ruby_retried_at`
  - delayed buckets: :func:`ruby_bucket` (``Time#to_i``)

:func:`parse_peer_time` reads any of them back.

``tz`` is an IANA name; ``None`` means this process's local zone. For the Node formats that is
:func:`local_zone_name` (ICU's detection, measured); for the Ruby formats it is libc's
``localtime``, which Ruby itself calls, so POSIX ``TZ`` rule strings behave as in Ruby.

The name in ``toString``'s parentheses comes from ICU, not tzdata. ``js_zone_names.json``
(recorded from Node 20 / ICU 78 by ``interop/record/record_js_zone_names.py``) holds, per zone and
1900..2040, the en-US name ICU gives an instant in its own metazone: what a Node process whose clock
reads that instant prints, which is every string node-resque writes (checked against ``toString``
for every zone around the recording date: all equal but ``Eire``, where Node misreads ``TZ=Eire`` as
a fixed +01:00). ICU has no metazones before 1970, so earlier instants are named by offset
(``GMT-07:52:58``); after 2040 the 2040 names hold. A Node process asked about an instant far from
its own clock names today's metazone instead. Node follows ``LANG``/``LC_ALL`` for these names
(German under ``de_DE``); only the English ones are recorded.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import zoneinfo
from bisect import bisect_right
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from importlib import resources
from typing import NamedTuple

from pyresque.errors import ConfigurationError, PayloadEncodeError

__all__ = [
    "UNKNOWN_ZONE",
    "js_bucket",
    "js_date_string",
    "js_retry_failed_at",
    "js_round",
    "js_zone_name",
    "local_zone_name",
    "parse_peer_time",
    "ruby_bucket",
    "ruby_failed_at",
    "ruby_iso8601",
    "ruby_iso8601_utc",
    "ruby_retried_at",
    "ruby_time_to_s",
]

#: ICU's zone for a ``TZ`` it cannot read (``TZ=""``, ``TZ=Foo/Bar``, ``TZ=UTC0``): UTC offsets,
#: named ``GMT+00:00``. Accepted wherever a zone name is.
UNKNOWN_ZONE = "Etc/Unknown"

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JS_MAX_MS = 8.64e15  # ECMAScript's time value range; beyond it toString prints "Invalid Date"

# Offsets Ruby's Date._parse (DateTime.parse) gives the alphabetic abbreviations tzdata uses since
# 1970 (keys upper-cased: Ruby ignores case); recorded into spec/vectors/times-ruby.json and checked
# against it by the tests. Those Ruby does not know (HKST, PKST, ...) are absent.
_RUBY_ABBREVIATIONS: dict[str, int] = {
    "ACDT": 37800, "ACST": 34200, "ADT": -10800, "AEDT": 39600, "AEST": 36000, "AHST": -36000,
    "AKDT": -28800, "AKST": -32400, "AST": -14400, "AWDT": 32400, "AWST": 28800, "BST": 3600,
    "CAST": 28800, "CAT": 7200, "CDT": -18000, "CEST": 7200, "CET": 3600, "CHST": 36000,
    "CST": -21600, "EAT": 10800, "EDT": -14400, "EEST": 10800, "EET": 7200, "EST": -18000,
    "GMT": 0, "GST": 36000, "HDT": -32400, "HKT": 28800, "HST": -36000, "IDT": 10800, "IST": 19800,
    "JST": 32400, "KST": 32400, "MDT": -21600, "MEST": 7200, "MET": 3600, "MMT": 23400,
    "MSD": 14400, "MSK": 10800, "MST": -25200, "NDT": -5400, "NST": -9000, "NZDT": 46800,
    "NZST": 43200, "PDT": -25200, "PKT": 18000, "PST": -28800, "SAST": 7200, "SST": -39600,
    "UTC": 0, "WAST": 7200, "WAT": 3600, "WEST": 3600, "WET": 0, "WIB": 25200, "WIT": 32400,
    "WITA": 28800, "YDT": -28800, "YST": -32400,
}  # fmt: skip


class _Local(NamedTuple):
    """A wall-clock reading: calendar fields, UTC offset in seconds, zone abbreviation."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int  # Monday == 0
    offset: int
    abbr: str


# -- numbers --------------------------------------------------------------------------------


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: nearest integer, halves toward +infinity.

    Unlike ``round()`` (halves to even) and unlike ``floor(x + 0.5)`` computed in floats, which
    is wrong for 0.49999999999999994 and for odd integers above 2**52.
    """
    if not math.isfinite(x):
        raise PayloadEncodeError(f"Math.round of {x!r} is not an integer")
    low = math.floor(x)
    return low + 1 if x - low >= 0.5 else low


def js_bucket(epoch_ms: float) -> int:
    """node-resque's whole seconds: ``Math.round(ms / 1000)`` (``started``, ping, delayed keys)."""
    return js_round(epoch_ms / 1000)


def ruby_bucket(epoch_s: float) -> int:
    """resque-scheduler's ``timestamp.to_i`` of a ``Time``: the second at or before the instant.

    ``Time#to_i`` floors (``Time.at(-1.5).to_i == -2``); ``Float#to_i`` would truncate, but only
    before 1970 do the two differ.
    """
    return math.floor(epoch_s)


# -- zones ----------------------------------------------------------------------------------


@cache
def _zone_keys() -> frozenset[str]:
    # "localtime" is Debian's link to /etc/localtime, not an IANA name; ICU rejects it too.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def _is_zone(name: str) -> bool:
    return name == UNKNOWN_ZONE or name in _zone_keys()


@lru_cache(maxsize=64)
def _tzinfo(name: str) -> tzinfo:
    if name == UNKNOWN_ZONE:
        return UTC
    if name not in _zone_keys():
        raise ConfigurationError(f"unknown time zone {name!r} (expected an IANA name)")
    return zoneinfo.ZoneInfo(name)


def _strip_zoneinfo_prefix(name: str) -> str:
    for prefix in ("posix/", "right/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _zone_from_tz_env(value: str) -> str:
    name = _strip_zoneinfo_prefix(value[1:] if value.startswith(":") else value)
    if _is_zone(name):
        return name
    # Not a zone name: Node 20 falls back on libc's standard offset (measured: TZ="JST-9" and
    # TZ=/usr/share/zoneinfo/Europe/Paris print GMT+0900/GMT+0100 with "GMT+09:00"/"GMT+01:00"
    # all year, TZ="" and TZ=UTC0 print "GMT+00:00"), except that rules with DST or a non-hour
    # offset (TZ="EST5EDT,M3.2.0,M11.1.0", TZ="IST-5:30") print plain UTC.
    if time.daylight or time.timezone % 3600:
        return "UTC"
    hours = -time.timezone // 3600
    if hours == 0 or not -12 <= hours <= 14:
        return UNKNOWN_ZONE
    return f"Etc/GMT{-hours:+d}"  # POSIX sign: Etc/GMT-9 is UTC+9


def _zone_from_file(content: bytes) -> str | None:
    for root in zoneinfo.TZPATH:
        for name in sorted(_zone_keys()):
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) != len(content):
                    continue
                with open(path, "rb") as f:
                    if f.read() == content:
                        return name
            except OSError:
                continue
    return None


def _zone_from_localtime(path: str) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = None
    if target is not None and "zoneinfo/" in target:
        name = _strip_zoneinfo_prefix(target.split("zoneinfo/", 1)[1])
        if _is_zone(name):
            return name
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError:
        return "UTC"  # measured: no /etc/localtime -> UTC; /etc/timezone is not read
    return _zone_from_file(content) or "UTC"


_LOCALTIME = "/etc/localtime"
_local_cache: dict[object, str] = {}


def local_zone_name() -> str:
    """The IANA zone a Node process started now would use for ``new Date().toString()``.

    ICU's order: ``TZ`` (a leading ``:`` and ``posix/``/``right/`` dropped), else the target of
    the ``/etc/localtime`` link, else the zoneinfo file with the same bytes, else UTC. A ``TZ``
    that names no zone maps by libc's reading of it (as of the last ``time.tzset()``) to what Node
    prints: ``Etc/GMT-9`` for ``JST-9``, :data:`UNKNOWN_ZONE`, or ``UTC``. Cheap to call again
    (cached on ``TZ`` and the link's status); a worker may also keep the result.
    """
    tz_env = os.environ.get("TZ")
    try:
        st = os.lstat(_LOCALTIME)
        key: object = (tz_env, _LOCALTIME, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        key = (tz_env, _LOCALTIME)
    name = _local_cache.get(key)
    if name is None:
        if tz_env is not None:
            name = _zone_from_tz_env(tz_env)
        else:
            name = _zone_from_localtime(_LOCALTIME)
        _local_cache.clear()
        _local_cache[key] = name
    return name


def _local(seconds: int, zone: str) -> _Local:
    try:
        dt = (_EPOCH + timedelta(seconds=seconds)).astimezone(_tzinfo(zone))
    except OverflowError as exc:
        raise PayloadEncodeError(f"{seconds} s is outside years 1..9999") from exc
    offset = dt.utcoffset()
    assert offset is not None
    abbr = "UTC" if zone == UNKNOWN_ZONE else (dt.tzname() or "")
    return _Local(
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.weekday(),
        int(offset.total_seconds()),
        abbr,
    )


def _libc_local(seconds: int) -> _Local:
    try:
        tm = time.localtime(seconds)
    except (OverflowError, OSError) as exc:
        raise PayloadEncodeError(f"{seconds} s is outside what localtime() handles") from exc
    return _Local(
        tm.tm_year,
        tm.tm_mon,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_wday,
        tm.tm_gmtoff,
        tm.tm_zone,
    )


# -- ICU zone names -------------------------------------------------------------------------


class _Periods(NamedTuple):
    starts: list[int]
    names: list[dict[int, int]]  # offset seconds -> index into the name list, -1 = GMT form


class _NameData(NamedTuple):
    names: list[str]
    zones: dict[str, int]
    records: list[_Periods]


@cache
def _name_data() -> _NameData:
    text = resources.files(__package__).joinpath("js_zone_names.json").read_text("utf-8")
    raw = json.loads(text)
    records = []
    for periods in raw["records"]:
        starts = [p[0] for p in periods]
        names = [dict(zip(p[1::2], p[2::2], strict=True)) for p in periods]
        records.append(_Periods(starts, names))
    return _NameData(raw["names"], raw["zones"], records)


def _gmt_name(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    minutes, secs = divmod(rest, 60)
    return f"GMT{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _icu_name(zone: str, seconds: int, offset: int) -> str:
    data = _name_data()
    index = data.zones.get(zone)
    if index is None:  # Etc/Unknown, Factory, zones newer than the recording
        return _gmt_name(offset)
    periods = data.records[index]
    period = max(bisect_right(periods.starts, seconds) - 1, 0)
    name = periods.names[period].get(offset, -1)
    return _gmt_name(offset) if name < 0 else data.names[name]


def _js_seconds(epoch_ms: float) -> int:
    if not math.isfinite(epoch_ms) or abs(epoch_ms) > _JS_MAX_MS:
        raise PayloadEncodeError(f"{epoch_ms!r} ms is not a valid JavaScript time value")
    return int(epoch_ms) // 1000  # TimeClip truncates fractional ms, then the clock floors


def js_zone_name(epoch_ms: float, tz: str | None = None) -> str:
    """What Node 20 prints in ``toString``'s parentheses, e.g. ``Pacific Daylight Time``."""
    zone = local_zone_name() if tz is None else tz
    seconds = _js_seconds(epoch_ms)
    return _icu_name(zone, seconds, _local(seconds, zone).offset)


def js_date_string(epoch_ms: float, tz: str | None = None) -> str:
    """JavaScript ``new Date(epoch_ms).toString()`` as Node 20 (en-US) prints it.

    ``Sat Nov 28 2026 05:05:44 GMT-0800 (Pacific Standard Time)``.
    """
    zone = local_zone_name() if tz is None else tz
    seconds = _js_seconds(epoch_ms)
    t = _local(seconds, zone)
    minutes = int(t.offset / 60)  # V8 truncates LMT offsets such as -07:52:58 to -0752
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (
        f"{_WEEKDAYS[t.weekday]} {_MONTHS[t.month - 1]} {t.day:02d} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT{sign}{hh:02d}{mm:02d} "
        f"({_icu_name(zone, seconds, t.offset)})"
    )


def js_retry_failed_at(epoch_ms: float, tz: str | None = None) -> str:
    """node-resque's Retry plugin ``failed_at``: local ``2026/11/28 05:05:44`` (year unpadded)."""
    zone = local_zone_name() if tz is None else tz
    t = _local(_js_seconds(epoch_ms), zone)
    return f"{t.year}/{t.month:02d}/{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


# -- Ruby -----------------------------------------------------------------------------------


def _ruby_local(epoch_s: float, tz: str | None) -> _Local:
    seconds = math.floor(epoch_s)
    return _libc_local(seconds) if tz is None else _local(seconds, tz)


def _ruby_offset(offset: int, colon: bool) -> str:
    # Ruby takes the sign from the offset and drops its seconds (-07:52:58 -> -0752).
    sign = "-" if offset < 0 else "+"
    hh, rest = divmod(abs(offset), 3600)
    return f"{sign}{hh:02d}{':' if colon else ''}{rest // 60:02d}"


def _ruby_date_time(t: _Local, date_sep: str, middle: str) -> str:
    return (
        f"{t.year:04d}{date_sep}{t.month:02d}{date_sep}{t.day:02d}"
        f"{middle}{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    )


def ruby_time_to_s(epoch_s: float, tz: str | None = None) -> str:
    """Ruby ``Time#to_s`` of a local time: ``2026-11-28 13:18:49 +0000``."""
    t = _ruby_local(epoch_s, tz)
    return f"{_ruby_date_time(t, '-', ' ')} {_ruby_offset(t.offset, colon=False)}"


def ruby_iso8601(epoch_s: float, tz: str | None = None) -> str:
    """Ruby ``Time#iso8601`` of a local time: ``2026-11-28T18:46:39+05:30`` (``+00:00``, no Z)."""
    t = _ruby_local(epoch_s, tz)
    return _ruby_date_time(t, "-", "T") + _ruby_offset(t.offset, colon=True)


def ruby_iso8601_utc(epoch_s: float) -> str:
    """Ruby ``Time#utc.iso8601``: ``2026-11-28T13:18:49Z``."""
    return _ruby_date_time(_local(math.floor(epoch_s), "UTC"), "-", "T") + "Z"


def ruby_failed_at(epoch_s: float, tz: str | None = None) -> str:
    """resque's failure ``failed_at``: ``2026/11/28 18:46:45 IST`` (local zone abbreviation)."""
    t = _ruby_local(epoch_s, tz)
    return f"{_ruby_date_time(t, '/', ' ')} {t.abbr}"


def ruby_retried_at(epoch_s: float, tz: str | None = None, *, with_zone: bool = False) -> str:
    """resque's ``retried_at``: ``2026/11/28 18:46:45``; resque 3.0 appends the zone."""
    t = _ruby_local(epoch_s, tz)
    text = _ruby_date_time(t, "/", " ")
    return f"{text} {t.abbr}" if with_zone else text


# -- reading --------------------------------------------------------------------------------

_JS_RE = re.compile(
    r"(?:[A-Za-z]{3},? )?(?P<mon>[A-Za-z]{3}) (?P<day>\d{1,2}) (?P<year>\d{4}) "
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?: GMT(?P<off>[+-]\d{4}))?(?: \(.*\))?"
)
_YMD_RE = re.compile(
    r"(?P<year>\d{4})(?P<sep>[-/])(?P<mon>\d{2})(?P=sep)(?P<day>\d{2})[T ]"
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?P<frac>[.,]\d+)?"
    r" ?(?:(?P<off>Z|[+-]\d{2}(?::?\d{2})?)|(?P<abbr>[A-Za-z]{1,6}))?"
)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})?")
_UTC_NAMES = frozenset({"UTC", "GMT", "UT", "Z"})


def _offset_seconds(text: str) -> int:
    if text == "Z":
        return 0
    m = _OFFSET_RE.fullmatch(text)
    assert m is not None
    value = int(m[2]) * 3600 + int(m[3] or 0) * 60
    return -value if m[1] == "-" else value


def _wall_to_epoch(wall: datetime, zone: str) -> float:
    return wall.replace(tzinfo=_tzinfo(zone)).timestamp()


def _abbr_offset(abbr: str, wall: datetime, zone: str) -> int | None:
    """Offset for a ``%Z`` abbreviation: the reader's own zone first, then Ruby's table."""
    upper = abbr.upper()
    if upper in _UTC_NAMES:
        return 0
    info = _tzinfo(zone)
    for fold in (0, 1):
        local = wall.replace(tzinfo=info, fold=fold)
        offset = local.utcoffset()
        if local.tzname() == abbr and offset is not None:
            return int(offset.total_seconds())
    return _RUBY_ABBREVIATIONS.get(upper)


def parse_peer_time(text: str | bytes, tz: str | None = None) -> float | None:
    """Seconds since the epoch from any time string either peer writes, or ``None``.

    Reads JavaScript ``Date#toString`` (the parenthesised name is ignored, as ``Date.parse``
    does), Ruby ``Time#to_s``, ISO 8601 (``Z``, ``+05:30``, ``+0530``, fractions), resque's
    ``%Y/%m/%d %H:%M:%S %Z`` and Retry's zone-less ``%Y/%m/%d %H:%M:%S``, and bare epoch
    seconds. Text without an offset is wall time in ``tz`` (``None``: :func:`local_zone_name`),
    as both peers' parsers read it. A ``%Z`` abbreviation is resolved against ``tz`` first (so a
    Dublin reader takes IST as Irish), then as Ruby's ``DateTime.parse`` would (IST = +05:30),
    and is otherwise ignored, as ``Time.parse`` does.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    text = text.strip()
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else None
    zone = local_zone_name() if tz is None else tz
    if m := _JS_RE.fullmatch(text):
        month = m["mon"].capitalize()
        if month not in _MONTHS:
            return None
        date = (int(m["year"]), _MONTHS.index(month) + 1, int(m["day"]))
        frac, off, abbr = 0.0, m["off"], None
    elif m := _YMD_RE.fullmatch(text):
        date = (int(m["year"]), int(m["mon"]), int(m["day"]))
        frac = float("0." + m["frac"][1:]) if m["frac"] else 0.0
        off, abbr = m["off"], m["abbr"]
    else:
        return None
    try:
        wall = datetime(*date, int(m["h"]), int(m["m"]), int(m["s"]))
    except ValueError:
        return None
    offset = _offset_seconds(off) if off else None
    if abbr is not None:
        offset = _abbr_offset(abbr, wall, zone)
    if offset is None:
        return _wall_to_epoch(wall, zone) + frac
    return (wall - datetime(1970, 1, 1)).total_seconds() - offset + frac
