"""Record what Node's ``Date.prototype.toString`` puts in parentheses, for every IANA zone.

Writes ``pyresque/protocol/js_zone_names.json``, read by ``pyresque.protocol.times``.

Usage (about 90 s)::

    .venv/bin/python interop/record/record_js_zone_names.py [--node node]

How: Python finds every UTC-offset change of every zone from 1900 to 2041 (zoneinfo, to the
second); one Node process (LANG=C, so en-US) then asks ICU (``Intl.DateTimeFormat``
``timeZoneName: "long"``: the name ICU gives the instant in its own metazone) for the name at each
offset run and on a weekly grid, bisecting any name change that has no offset change. Per zone the
runs are folded into periods mapping ``offset -> name``; a new period starts only where an offset
already seen gets another name. Names ICU derives from the offset ("GMT+05:45") are stored as -1.

The same process, with ``process.env.TZ`` switched per zone, records ``new Date(t).toString()`` on
a 9-day grid 400 days either side of now. Where that disagrees with Intl for a zone (Intl
canonicalizes GMT, Etc/GMT, GMT0, GMT+0, GMT-0 to UTC, and Node misreads TZ=Eire), the zone's runs
are taken from ``toString`` instead (``from_tostring`` in the file). Finally ``js_date_string``,
reading the new file, is compared with every recorded ``toString``; the mismatches are printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "pyresque" / "protocol" / "js_zone_names.json"
# ICU's metazone tables start in 1970; before that ICU names every zone by its offset
# ("GMT-07:52:58"), and recording from 1900 captures that too.
START = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
END = int(datetime(2041, 1, 1, tzinfo=UTC).timestamp())
DAY = 86400

NODE_SCRIPT = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = { versions: process.versions, locale: Intl.DateTimeFormat().resolvedOptions().locale,
              runs: {}, checks: {}, source: {} };
const opts = { timeZoneName: "long", hourCycle: "h23", year: "numeric", month: "numeric",
               day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" };
const same = (a, b) => a[0] === b[0] && a[1] === b[1];
for (const [zone, bounds] of Object.entries(input.zones)) {
  process.env.TZ = zone;
  out.checks[zone] = input.checks.map((ms) => [ms, new Date(ms).toString()]);
  const host = (s) => {
    const d = new Date(s * 1000), text = d.toString();
    return [Math.round(-d.getTimezoneOffset() * 60), text.slice(text.indexOf("(") + 1, -1)];
  };
  let fmt = null;
  try { fmt = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: zone }); }
  catch (e) { out.runs[zone] = null; continue; }
  const intl = (s) => {
    const p = {};
    for (const part of fmt.formatToParts(new Date(s * 1000))) p[part.type] = part.value;
    const local = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) / 1000;
    return [local - s, p.timeZoneName];
  };
  // Intl names the instant's own metazone; toString names the one current at the clock. Where
  // the two differ around now, Intl resolved the ID differently (it canonicalizes GMT to UTC):
  // toString is then the truth.
  const differs = input.checks.some((ms) => {
    const s = Math.floor(ms / 1000);
    return !same(intl(s), host(s));
  });
  const probe = differs ? host : intl;
  out.source[zone] = differs ? "toString" : "Intl";
  const points = new Set();
  for (let s = input.start; s < input.end; s += input.step) points.add(s);
  for (const b of bounds) { points.add(b - 1); points.add(b); }
  const sorted = [...points].filter((s) => s >= input.start && s < input.end).sort((a, b) => a - b);
  const runs = [];
  let prevS = null, prev = null;
  for (const s of sorted) {
    const cur = probe(s);
    if (prev === null) { runs.push([s, ...cur]); }
    else if (!same(prev, cur)) {
      let lo = prevS, hi = s;  // prev holds at lo, cur at hi: find the first second of cur
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (same(probe(mid), prev)) lo = mid; else hi = mid;
      }
      runs.push([hi, ...probe(hi)]);
      if (!same(probe(hi), cur)) runs.push([s, ...cur]);
    }
    prevS = s; prev = cur;
  }
  out.runs[zone] = runs;
}
process.stdout.write(JSON.stringify(out));
"""


def offset_at(zone: zoneinfo.ZoneInfo, t: int) -> int:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def offset_changes(name: str) -> list[int]:
    """Seconds at which ``name``'s UTC offset changes in [START, END), exact to the second."""
    zone = zoneinfo.ZoneInfo(name)
    changes = []
    t, off = START, offset_at(zone, START)
    while t < END:
        nxt = min(t + DAY, END)
        nxt_off = offset_at(zone, nxt)
        if nxt_off != off:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(zone, mid) == off:
                    lo = mid
                else:
                    hi = mid
            changes.append(hi)
            off = offset_at(zone, hi)
            t = hi
        else:
            t = nxt
    return changes


def gmt_name(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    h, rest = divmod(abs(offset), 3600)
    m, s = divmod(rest, 60)
    return f"GMT{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def fold(runs: list[list[object]], names: dict[str, int]) -> list[list[int]]:
    """Fold runs ``[start, offset, name]`` into periods ``[start, off, idx, off, idx, ...]``."""
    periods: list[list[int]] = []
    current: dict[int, int] = {}
    start = START
    for run_start, off, name in runs:
        assert isinstance(run_start, int) and isinstance(off, int) and isinstance(name, str)
        idx = -1 if name == gmt_name(off) else names.setdefault(name, len(names))
        if off in current and current[off] != idx:
            periods.append([start, *[v for kv in sorted(current.items()) for v in kv]])
            current, start = {}, run_start
        current[off] = idx
    periods.append([start, *[v for kv in sorted(current.items()) for v in kv]])
    return periods


def check_instants(now_ms: int) -> list[int]:
    """Every 9 days from 400 days before the recording to 400 days after, plus odd milliseconds."""
    step = 9 * DAY * 1000
    return [now_ms + k * step + (k * 137) % 1000 for k in range(-45, 46)]


def record(node: str) -> dict[str, object]:
    zones = sorted(zoneinfo.available_timezones() - {"localtime"})
    now_ms = int(time.time() * 1000)
    bounds = {z: offset_changes(z) for z in zones}
    payload = {"start": START, "end": END, "step": 7 * DAY, "zones": bounds}
    payload["checks"] = check_instants(now_ms)
    proc = subprocess.run(
        [node, "-e", NODE_SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LANG": "C"},
    )
    result: dict[str, object] = json.loads(proc.stdout)
    result["recorded_ms"] = now_ms
    return result


def build(result: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    runs = result["runs"]
    assert isinstance(runs, dict)
    problems: list[str] = []
    names: dict[str, int] = {}
    records: list[str] = []
    record_index: dict[str, int] = {}
    zone_map: dict[str, int] = {}
    unknown = []
    for zone, zone_runs in sorted(runs.items()):
        if zone_runs is None:
            unknown.append(zone)
            continue
        info = zoneinfo.ZoneInfo(zone)
        for run_start, off, _name in zone_runs:
            if offset_at(info, run_start) != off:
                problems.append(f"{zone}: ICU offset {off} != zoneinfo at {run_start}")
        key = json.dumps(fold(zone_runs, names), separators=(",", ":"))
        zone_map[zone] = record_index.setdefault(key, len(record_index))
        if len(record_index) > len(records):
            records.append(key)
    versions, source = result["versions"], result["source"]
    assert isinstance(versions, dict) and isinstance(source, dict)
    data: dict[str, object] = {
        "about": (
            "Names Node prints in Date.prototype.toString's parentheses, per IANA zone: "
            "records[zones[z]] is a list of periods [start_s, offset_s, name_index, ...]; "
            "name_index -1 means ICU's GMT+hh:mm form. Written by "
            "interop/record/record_js_zone_names.py."
        ),
        "node": versions["node"],
        "icu": versions["icu"],
        "tz": versions["tz"],
        "cldr": versions["cldr"],
        "locale": result["locale"],
        "range": [START, END],
        "recorded_ms": result["recorded_ms"],
        "icu_unknown": unknown,
        "from_tostring": sorted(z for z, src in source.items() if src == "toString"),
        "names": sorted(names, key=lambda n: names[n]),
        "zones": zone_map,
        "records": [json.loads(r) for r in records],
    }
    return data, problems


def dump(data: dict[str, object]) -> str:
    # One record per line keeps diffs readable when ICU or tzdata moves.
    head = {k: v for k, v in data.items() if k not in ("names", "zones", "records")}
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append(f'  "names": {json.dumps(data["names"], ensure_ascii=False)},')
    lines.append(f'  "zones": {json.dumps(data["zones"], separators=(",", ":"))},')
    records = data["records"]
    assert isinstance(records, list)
    rows = [json.dumps(r, separators=(",", ":")) for r in records]
    lines.append('  "records": [\n    ' + ",\n    ".join(rows) + "\n  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def verify(result: dict[str, object]) -> list[str]:
    """Compare js_date_string (using the file just written) with Node's own toString."""
    sys.path.insert(0, str(ROOT))
    from pyresque.protocol import times

    checks = result["checks"]
    assert isinstance(checks, dict)
    problems = []
    for zone, rows in sorted(checks.items()):
        for ms, expected in rows:
            got = times.js_date_string(ms, zone)
            if got != expected:
                problems.append(f"{zone} {ms}: node {expected!r} != ours {got!r}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="node")
    args = parser.parse_args()
    result = record(args.node)
    data, problems = build(result)
    OUT.write_text(dump(data), encoding="utf-8")
    for p in problems:
        print("offset mismatch:", p)
    mismatches = verify(result)
    for p in mismatches:
        print("toString mismatch:", p)
    checks = result["checks"]
    assert isinstance(checks, dict)
    total = sum(len(v) for v in checks.values())
    print(
        f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes): "
        f"{len(data['zones'])} zones, {len(data['records'])} records, "
        f"{len(data['names'])} names; toString check {total - len(mismatches)}/{total} equal; "
        f"{len(problems)} offset mismatches"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
