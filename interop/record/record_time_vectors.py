"""Record the time strings the real peers write: ``spec/vectors/times-{node,ruby}.json``.

Usage::

    .venv/bin/python interop/record/record_time_vectors.py [--node node] [--ruby ruby]

Runs ``interop/node/times.js`` (Node 20) and ``interop/ruby/times.rb`` (Ruby 3.1) once per zone
with ``TZ`` set, as a peer process would run, over fixed instants. Node's ``toString`` names the
metazone current at the process's clock, not at the instant, so each Node row also records the
Intl name at the instant and says which one pyresque must reproduce (``name_rule``):

- ``toString``: within 400 days of the recording, or a zone whose names came from ``toString``
  (``from_tostring`` in ``js_zone_names.json``): the whole string must match;
- ``Intl``: other instants in 1970..2040: the name a process whose clock read that instant prints;
- ``either``: outside the recorded range, where pyresque documents an approximation.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "spec" / "vectors"
NAMES = ROOT / "pyresque" / "protocol" / "js_zone_names.json"
NEAR_MS = 400 * 86400 * 1000

ZONES = [
    "UTC",
    "Etc/UTC",
    "GMT",
    "America/Los_Angeles",
    "US/Pacific",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Europe/London",
    "Europe/Dublin",
    "America/St_Johns",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "Asia/Tehran",
    "America/Sao_Paulo",
    "Etc/GMT+5",
    "Etc/GMT-14",
    # no ICU name today: Node prints GMT+hh:mm
    "America/Punta_Arenas",
    "Asia/Amman",
    "Antarctica/Troll",
    # metazone changed since 2000
    "Europe/Moscow",
    "Europe/Volgograd",
    "America/Whitehorse",
    "America/Metlakatla",
    "Asia/Famagusta",
    "Europe/Istanbul",
]

# TZ values that are not plain zone names: how each peer reads them (one instant each side of
# northern summer).
TZ_ENV_CASES = [
    "",
    "Foo/Bar",
    "UTC0",
    "JST-9",
    "EST5EDT,M3.2.0,M11.1.0",
    "IST-5:30",
    ":Europe/Paris",
    "posix/Asia/Tokyo",
    "right/Europe/Paris",
    "localtime",
]
TZ_ENV_INSTANTS = [1795957544000, 1783000000000]


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, milli: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * 1000 + milli


INSTANTS_MS: list[int | float] = [
    *(ms(2026, mo, 1, 12, 34, 56, 789) for mo in range(1, 13)),
    1795957544000,
    1795873423456,
    # America/Los_Angeles and Europe/London 2026 transitions, one millisecond either side
    ms(2026, 3, 8, 10) - 1,
    ms(2026, 3, 8, 10),
    ms(2026, 11, 1, 9) - 1,
    ms(2026, 11, 1, 9),
    ms(2026, 3, 29, 1) - 1,
    ms(2026, 3, 29, 1),
    ms(2026, 10, 25, 1) - 1,
    ms(2026, 10, 25, 1),
    # older and later instants inside the recorded 1970..2040 range
    0,
    -1,
    -500,
    999,
    1000,
    1500,
    -1500,
    946684800000,
    1104537600000,
    1300000000000,
    1400000000000,
    1600000000000,
    2000000000000,
    ms(2040, 7, 2, 12),
    # outside it
    ms(2042, 11, 28, 12),
    ms(2100, 1, 1),
    -2208988800000,
    -3000000000000,
    ms(1, 1, 2),
    # fractional milliseconds: JavaScript's TimeClip truncates them toward zero
    1795957544999.9,
    -1000.5,
]

ROUNDS = [
    0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.0, -0.0, 0.49999999999999994, -0.49999999999999994,
    1.4999999999999998, 2.5000000000000004, 2251799813685248.5, -2251799813685248.5,
    4503599627370497, -4503599627370497, 1795957544.5, -1795957544.5, 1e-300, -1e-300,
]  # fmt: skip
BUCKETS = [
    0, 499, 500, 1499, 1500, 2500, -499, -500, -1500, -2500, 999.5, -0.5, 1795957544499,
    1795957544500, -1795957544500, 1795957544999.9,
]  # fmt: skip
TO_I: list[list[int] | float] = [
    [-3, 2], [-1, 2], [1, 2], [3, 2], [-1, 3], [1795957544999, 1000], [-1795957544001, 1000],
    -1.5, -0.5, 0.5, 1.5, 1795957544.999, -1e-9,
]  # fmt: skip


def abbreviations() -> list[str]:
    """Alphabetic zone abbreviations tzdata uses from 1970 to 2040 (``%Z`` in failed_at)."""
    found: set[str] = set()
    starts = [
        int(datetime(y, m, 1, tzinfo=UTC).timestamp())
        for y in range(1970, 2041)
        for m in (1, 4, 7, 10)
    ]
    for name in zoneinfo.available_timezones() - {"localtime"}:
        zone = zoneinfo.ZoneInfo(name)
        for t in starts:
            abbr = datetime.fromtimestamp(t, zone).tzname()
            if abbr and re.fullmatch(r"[A-Za-z]+", abbr):
                found.add(abbr)
    return sorted(found)


def run(cmd: list[str], zone: str, payload: object) -> dict[str, object]:
    proc = subprocess.run(
        cmd,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LANG": "C", "TZ": zone},
    )
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def name_rule(at_ms: float, zone: str, recorded_ms: int, names: dict[str, object]) -> str:
    start: int
    end: int
    start, end = names["range"]  # type: ignore[misc]
    from_tostring = names["from_tostring"]
    assert isinstance(from_tostring, list)
    if abs(at_ms - recorded_ms) <= NEAR_MS or zone in from_tostring:
        return "toString"
    if start * 1000 <= at_ms < end * 1000:
        return "Intl"
    return "either"


def record_node(node: str, recorded_ms: int) -> dict[str, object]:
    names = json.loads(NAMES.read_text(encoding="utf-8"))
    script = str(ROOT / "interop" / "node" / "times.js")
    zones: dict[str, object] = {}
    payload = {"instants": INSTANTS_MS, "rounds": ROUNDS, "buckets": BUCKETS}
    rounds = buckets = None
    versions = None
    for zone in ZONES:
        out = run([node, script], zone, payload)
        rows = out["instants"]
        assert isinstance(rows, list)
        for row in rows:
            row["name_rule"] = name_rule(row["ms"], zone, recorded_ms, names)
        zones[zone] = {"resolved_zone": out["resolved_zone"], "instants": rows}
        rounds, buckets = out["rounds"], out["buckets"]
    tz_env = {}
    for value in TZ_ENV_CASES:
        out = run([node, script], value, {**payload, "instants": TZ_ENV_INSTANTS})
        tz_env[value] = {"resolved_zone": out["resolved_zone"], "instants": out["instants"]}
    versions = subprocess.run(
        [node, "-p", "JSON.stringify(process.versions)"], capture_output=True, text=True, check=True
    ).stdout
    v = json.loads(versions)
    return {
        "about": "new Date(ms).toString() and friends, per TZ; recorded by " + Path(__file__).name,
        "node": v["node"],
        "icu": v["icu"],
        "tz": v["tz"],
        "recorded_ms": recorded_ms,
        "rounds": rounds,
        "buckets": buckets,
        "zones": zones,
        "tz_env": tz_env,
    }


def record_ruby(ruby: str) -> dict[str, object]:
    script = str(ROOT / "interop" / "ruby" / "times.rb")
    instants = [[x, 1000] for x in INSTANTS_MS if isinstance(x, int)]  # exact, as Rationals
    payload = {"instants": instants, "to_i": TO_I, "abbreviations": abbreviations()}
    zones: dict[str, object] = {}
    to_i = abbrs = None
    for zone in ZONES:
        out = run([ruby, script], zone, payload)
        zones[zone] = {"instants": out["instants"]}
        to_i, abbrs = out["to_i"], out["abbreviations"]
    tz_env = {}
    for value in TZ_ENV_CASES:
        out = run(
            [ruby, script], value, {**payload, "instants": [[x, 1000] for x in TZ_ENV_INSTANTS]}
        )
        tz_env[value] = {"instants": out["instants"]}
    version = subprocess.run(
        [ruby, "-e", "print RUBY_VERSION"], capture_output=True, text=True, check=True
    ).stdout
    return {
        "about": "Ruby Time strings resque writes, per TZ; recorded by " + Path(__file__).name,
        "ruby": version,
        "to_i": to_i,
        "abbreviations": abbrs,
        "zones": zones,
        "tz_env": tz_env,
    }


def dump(path: Path, data: dict[str, object]) -> None:
    """JSON with one vector row per line: small, and diffs show what changed."""

    def line(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    parts = []
    for key, value in data.items():
        if key in ("zones", "tz_env"):
            assert isinstance(value, dict)
            zones = []
            for zone, body in value.items():
                rows = body["instants"] if isinstance(body, dict) else body
                head = (
                    {k: v for k, v in body.items() if k != "instants"}
                    if isinstance(body, dict)
                    else {}
                )
                rows_text = ",\n      ".join(line(r) for r in rows)
                inner = [f'"{k}":{line(v)}' for k, v in head.items()]
                inner.append(f'"instants":[\n      {rows_text}\n    ]')
                zones.append(f"    {line(zone)}:{{" + ",".join(inner) + "}")
            parts.append(f"  {line(key)}: {{\n" + ",\n".join(zones) + "\n  }")
        else:
            parts.append(f"  {line(key)}: {line(value)}")
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="node")
    parser.add_argument("--ruby", default="ruby")
    args = parser.parse_args()
    recorded_ms = int(datetime.now(UTC).timestamp() * 1000)
    VECTORS.mkdir(parents=True, exist_ok=True)
    dump(VECTORS / "times-node.json", record_node(args.node, recorded_ms))
    dump(VECTORS / "times-ruby.json", record_ruby(args.ruby))
    return 0


if __name__ == "__main__":
    sys.exit(main())
