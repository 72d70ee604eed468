"""A namespace holding what no peer should have written, beside good values."""

from __future__ import annotations

import json
from typing import Any

import redis

NOT_JSON_RECORD = b"{not json"
# pyresque's own record while it holds a job it could not decode: the job's text as a string.
STRING_JOB_RECORD = json.dumps(
    {"queue": "math", "run_at": "2026-12-05T10:00:00Z", "payload": '{"class":'}
).encode()


def dump(client: redis.Redis, ns: str) -> dict[bytes, bytes | None]:
    """Every key of the namespace and its serialized value."""
    return {key: client.dump(key) for key in sorted(client.scan_iter(match=f"{ns}:*"))}


def spoil(client: redis.Redis, ns: str) -> None:
    """A namespace with a bad value of each kind beside good ones.

    * queue ``bad``: a string, known in ``queues`` (a Ruby peer's failed enqueue adds it);
    * queue ``skipme``: a hash, not in ``queues``, but named by worker vm:3;
    * vm:1's working-on record is not JSON; vm:2's holds its job as a string (pyresque's
      record of a job it could not decode); vm:3 is idle; vm:4's record is a hash;
    * ``stat:processed`` is not an integer.
    """
    client.rpush(f"{ns}:queue:math", b'{"class":"add","queue":"math","args":[1]}')
    client.set(f"{ns}:queue:bad", "x")
    client.hset(f"{ns}:queue:skipme", "f", "v")
    client.sadd(f"{ns}:queues", "math", "bad")
    client.sadd(f"{ns}:workers", "vm:1:math,bad", "vm:2:math", "vm:3:other,skipme", "vm:4:math")
    client.set(f"{ns}:worker:vm:1:math,bad", NOT_JSON_RECORD)
    client.set(f"{ns}:worker:vm:2:math", STRING_JOB_RECORD)
    client.hset(f"{ns}:worker:vm:4:math", "f", "v")
    client.set(f"{ns}:stat:processed", "abc")
    client.set(f"{ns}:stat:failed", "2")
    client.rpush(f"{ns}:failed", b'{"worker":"vm:1","queue":"math","payload":{"class":"a"}}')


def spoil_liveness(client: redis.Redis, ns: str) -> None:
    """Workers whose liveness, times and counters cannot all be read, and a delayed list
    of another type beside a good one.

    * node worker n:1: its ping is not JSON, its ``started`` no time, its record's
      ``run_at`` no time; ``stat:processed:n:1`` is 5;
    * Ruby worker r:2 (idle): the heartbeats hash is a string, its ``started`` is Ruby's
      ``Time#to_s``; ``stat:failed:r:2:q`` (Ruby's per-worker key) is not an integer;
    * the schedule holds 1700000000 (its list a string) and 1900000000 (one job).
    """
    client.sadd(f"{ns}:workers", "n:1:q", "r:2:q")
    client.set(f"{ns}:worker:ping:n:1", "{not json")
    client.set(f"{ns}:worker:n:1:q:started", "soon")
    client.set(f"{ns}:worker:n:1:q", '{"queue":"q","run_at":"later","payload":{"class":"J"}}')
    client.set(f"{ns}:stat:processed:n:1", "5")
    client.set(f"{ns}:workers:heartbeat", "x")
    client.set(f"{ns}:worker:r:2:q:started", "2026-12-05 09:00:00 +0000")
    client.set(f"{ns}:stat:failed:r:2:q", "x")
    client.zadd(f"{ns}:delayed_queue_schedule", {"1700000000": 1700000000, "1900000000": 1.9e9})
    client.set(f"{ns}:delayed:1700000000", "x")
    client.rpush(f"{ns}:delayed:1900000000", b'{"class":"J","queue":"q","args":[]}')


def unreadable(reason: str, key: str, raw: str | None = None) -> dict[str, str]:
    marker = {"unreadable": reason, "key": key}
    if raw is not None:
        marker["raw"] = raw
    return marker


def expected_markers(ns: str) -> dict[str, Any]:
    return {
        "bad": unreadable(
            f"WRONGTYPE: {ns}:queue:bad holds a string, not a list", f"{ns}:queue:bad"
        ),
        "skipme": unreadable(
            f"WRONGTYPE: {ns}:queue:skipme holds a hash, not a list", f"{ns}:queue:skipme"
        ),
        "vm:1": unreadable(
            f"{ns}:worker:vm:1:math,bad is not a JSON object: '{{not json'",
            f"{ns}:worker:vm:1:math,bad",
            "{not json",
        ),
        "vm:2 job": unreadable(
            f"the job in {ns}:worker:vm:2:math is not a JSON object: '{{\"class\":'",
            f"{ns}:worker:vm:2:math",
            '{"class":',
        ),
        "vm:4": unreadable(
            f"WRONGTYPE: {ns}:worker:vm:4:math holds a hash, not a string",
            f"{ns}:worker:vm:4:math",
        ),
        "processed": unreadable(
            f"{ns}:stat:processed holds 'abc', not an integer", f"{ns}:stat:processed", "abc"
        ),
    }
