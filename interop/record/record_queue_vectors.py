"""Record what the real peers write to Redis for a set of queue calls.

Writes ``spec/vectors/queue-node.json`` (node-resque 9.7.1) and, when Ruby resque loads
from RUBYLIB, ``spec/vectors/queue-ruby.json`` (resque 2.7.0 + resque-scheduler 4.11.0).
Each case starts from an empty Redis database and records every key the call left, with
its type and exact value. Run from the repository root (uses $REDIS_URL's server if set,
else starts a private redis-server, and flushes the database it uses)::

    .venv/bin/python interop/record/record_queue_vectors.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from interop.harness import (  # noqa: E402 - after the path setup above
    DIAGNOSTICS,
    Peer,
    node_unavailable,
    ruby_unavailable,
    start_node,
    start_ruby,
)
from pyresque.server import RedisServer  # noqa: E402

VECTORS = ROOT / "spec" / "vectors"
NAMESPACE = "resque"
FUTURE_MS = 1_900_000_000_000

ARGS: list[Any] = [
    [],
    [1, 2],
    [1.5, -0.0, 1e21, 1e-7, 2.0, 0.1, 123456789.125, -5e-324],
    ["é✓😀", "</script>", "tab\tnew\nline\u0001", "\u2028\u007f", 'quote"back\\slash'],
    [{"b": 1, "a": [True, False, None], "10": "x", "2": "y"}],
    [[[[]]], {}, {"k": {"k": {"k": []}}}],
    [None],
    [9007199254740991, -9007199254740991],
]

NODE_CALLS: list[dict[str, Any]] = [
    *({"method": "enqueue", "args": ["math", "add", args]} for args in ARGS),
    {"method": "enqueue", "args": ["q:with:colons", "Some::Job", [1]]},
    {"method": "enqueueAt", "args": [FUTURE_MS + 499, "later", "add", [1]]},
    {"method": "enqueueAt", "args": [FUTURE_MS + 500, "later", "add", [1]]},
    {"method": "enqueueAt", "args": [1_700_000_000_500, "later", "add", []]},
    {"method": "enqueueAt", "args": [-1500, "later", "add", [2]]},
    *({"method": "enqueueAt", "args": [FUTURE_MS, "later", "echo", args]} for args in ARGS[2:6]),
]

RUBY_CALLS: list[dict[str, Any]] = [
    *({"op": "enqueue", "queue": "math", "class": "Add", "args": args} for args in ARGS),
    {"op": "enqueue", "queue": "q:with:colons", "class": "Some::Job", "args": [1]},
    {"op": "enqueue_at", "queue": "later", "class": "Add", "args": [1], "at": 1_900_000_000.7},
    {"op": "enqueue_at", "queue": "later", "class": "Add", "args": [], "at": 1_900_000_000.2},
    *(
        {"op": "enqueue_at", "queue": "later", "class": "Echo", "args": args, "at": 1_900_000_000}
        for args in ARGS[2:6]
    ),
]


def dump(client: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key in sorted(client.scan_iter(count=1000)):
        key = raw_key.decode()
        kind = client.type(raw_key).decode()
        if key.endswith("connection_test_key"):
            continue  # node-resque writes it on every connect; no call of ours does
        if kind == "string":
            value: Any = client.get(raw_key).decode()
        elif kind == "list":
            value = [v.decode() for v in client.lrange(raw_key, 0, -1)]
        elif kind == "set":
            value = sorted(v.decode() for v in client.smembers(raw_key))
        elif kind == "zset":
            value = [[m.decode(), s] for m, s in client.zrange(raw_key, 0, -1, withscores=True)]
        else:
            raise ValueError(f"unexpected {kind} at {key}")
        out[key] = {"type": kind, "value": value}
    return out


def record(peer: Peer, client: redis.Redis, calls: list[dict[str, Any]], node: bool) -> list[Any]:
    cases = []
    for call in calls:
        client.flushdb()
        if node:
            result = peer.call("queue", namespace=NAMESPACE, **call)
        else:
            result = peer.call(namespace=NAMESPACE, **call)
        writes = dump(client)
        cases.append({"call": call, "result": result, "writes": writes})
    return cases


def main() -> int:
    url = os.environ.get("REDIS_URL")
    server = None
    if url is None:
        server = RedisServer()
        url = server.start()
    client = redis.Redis.from_url(url)
    version = client.info("server")["redis_version"]
    try:
        reason = node_unavailable()
        if reason:
            print(f"node-resque unavailable: {reason}", file=sys.stderr)
            return 1
        node = start_node(url)
        node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        cases = record(node, client, NODE_CALLS, node=True)
        node.close()
        write(
            "queue-node.json",
            {
                "peer": "node-resque 9.7.1",
                "node": node_version.strip(),
                "redis": version,
                "tz": "UTC",
            },
            cases,
        )
        reason = ruby_unavailable()
        if reason:
            print(
                f"Ruby resque unavailable, queue-ruby.json not recorded: {reason}\n"
                f"{DIAGNOSTICS.get('Ruby resque', '')}",
                file=sys.stderr,
            )
            return 0
        ruby = start_ruby(url, adapter="json_gem")
        cases = record(ruby, client, RUBY_CALLS, node=False)
        ruby.close()
        ruby_version = subprocess.run(["ruby", "--version"], capture_output=True, text=True).stdout
        write(
            "queue-ruby.json",
            {
                "peer": "resque 2.7.0 + resque-scheduler 4.11.0, MultiJson json_gem",
                "ruby": ruby_version.strip(),
                "redis": version,
                "tz": "UTC",
            },
            cases,
        )
    finally:
        client.flushdb()
        client.close()
        if server is not None:
            server.stop()
    return 0


def write(name: str, recorded_with: dict[str, str], cases: list[Any]) -> None:
    path = VECTORS / name
    document = {"recorded_with": recorded_with, "namespace": NAMESPACE, "cases": cases}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
