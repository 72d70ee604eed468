"""Record what Rails ActiveJob's resque adapter writes, for a set of named calls.

Writes ``spec/vectors/activejob-ruby.json``: for each call of ``interop/ruby/activejob.rb``
(``record``), the job id ActiveJob chose and every queue and delayed list it left. Needs
Ruby with resque + resque-scheduler on RUBYLIB and activejob (interop/README.md). Run from
the repository root (a private redis-server unless $REDIS_URL is set)::

    .venv/bin/python interop/record/record_activejob_vectors.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyresque.server import RedisServer  # noqa: E402 - after the path setup above

SCRIPT = ROOT / "interop" / "ruby" / "activejob.rb"
TARGET = ROOT / "spec" / "vectors" / "activejob-ruby.json"
NAMESPACE = "resque"


def main() -> int:
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = RedisServer()
        url = server.start()
    try:
        env = {**os.environ, "TZ": "UTC"}
        out = subprocess.run(
            ["ruby", str(SCRIPT), "record", url, NAMESPACE],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        recorded = json.loads(out.stdout)
        ruby = subprocess.run(["ruby", "--version"], capture_output=True, text=True).stdout
    finally:
        if server is not None:
            server.stop()
    document = {
        "recorded_with": {
            "peer": f"activejob {recorded['activejob']} (resque adapter), "
            f"resque {recorded['resque']}, json gem",
            "ruby": ruby.strip(),
            "tz": "UTC",
        },
        "namespace": NAMESPACE,
        "cases": recorded["cases"],
    }
    TARGET.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(recorded['cases'])} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
