"""The status model's JSON document and text stay as ``spec/status.md`` shows them: a known
state (a node worker busy, a Ruby worker idle, delayed jobs due and ahead, a queue key of
another type, counters of a worker long gone) read at a fixed time gives exactly the page's
examples, through ``Queue.status()``, ``sync.Queue.status()`` and ``Tasks.details()``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import redis

from pyresque import Queue
from pyresque import sync as blocking
from pyresque.cli.status import format_status, to_json
from pyresque.tasks import Tasks

SPEC = Path(__file__).parents[2] / "spec" / "status.md"
NOW = 1_796_465_100  # 2026-12-05T10:05:00Z


def example(kind: str) -> str:
    """The page's example block of ``kind`` (``json`` or ``text``)."""
    found = re.search(rf"<!-- example {kind} -->\n```\w*\n(.*?)```", SPEC.read_text(), re.S)
    assert found, f"no '<!-- example {kind} -->' block in {SPEC}"
    return found[1]


def known_state(client: redis.Redis, ns: str) -> None:
    """The state of spec/status.md's example, written as the peers write it."""
    client.sadd(f"{ns}:queues", "math", "email", "bad")
    client.rpush(
        f"{ns}:queue:math",
        b'{"class":"add","queue":"math","args":[3,4]}',
        b'{"class":"add","queue":"math","args":[5,6]}',
    )
    client.set(f"{ns}:queue:bad", "x")  # a queue key of another type
    # Delayed: one job due at 10:00 (five minutes overdue), two at 11:00.
    client.zadd(
        f"{ns}:delayed_queue_schedule", {"1796464800": 1796464800, "1796468400": 1796468400}
    )
    client.rpush(f"{ns}:delayed:1796464800", b'{"class":"report","queue":"email","args":[]}')
    client.rpush(
        f"{ns}:delayed:1796468400",
        b'{"class":"remind","queue":"email","args":[1]}',
        b'{"class":"remind","queue":"email","args":[2]}',
    )
    # A node-resque worker, busy since 10:04:30: started, ping, record (cjson's bytes).
    client.sadd(f"{ns}:workers", "vm1:4242:math,email", "vm2:77:reports")
    client.set(f"{ns}:worker:vm1:4242:math,email:started", "1796461200")
    client.set(
        f"{ns}:worker:ping:vm1:4242", '{"time":1796465095,"name":"vm1:4242","queues":"math,email"}'
    )
    client.set(
        f"{ns}:worker:vm1:4242:math,email",
        b'{"run_at":"Sat Dec 05 2026 10:04:30 GMT+0000 (Coordinated Universal Time)",'
        b'"worker":"vm1:4242","payload":{"class":"add","args":[1,2],"queue":"math"},'
        b'"queue":"math"}',
    )
    client.set(f"{ns}:stat:processed:vm1:4242", "10")
    client.set(f"{ns}:stat:failed:vm1:4242", "1")
    # A Ruby resque worker, idle: its started value, heartbeat and counters by its full id.
    client.set(f"{ns}:worker:vm2:77:reports:started", "2026-12-05 08:00:00 +0000")
    client.hset(f"{ns}:workers:heartbeat", "vm2:77:reports", "2026-12-05T10:04:10+00:00")
    client.set(f"{ns}:stat:processed:vm2:77:reports", "3")
    # The namespace's counters, and those a worker long gone left behind.
    client.set(f"{ns}:stat:processed", "13")
    client.set(f"{ns}:stat:failed", "1")
    client.set(f"{ns}:stat:processed:vm3:9", "2")
    client.rpush(
        f"{ns}:failed",
        b'{"worker":"vm1:4242","queue":"math","payload":{"class":"add","queue":"math",'
        b'"args":[1]},"exception":"TypeError","error":"boom","backtrace":null,'
        b'"failed_at":"Sat Dec 05 2026 09:30:00 GMT+0000 (Coordinated Universal Time)"}',
    )
    client.set(f"{ns}:resque_scheduler_leader_lock", "vm1:4243")


async def test_the_json_document_of_a_known_state_is_the_specs_example(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    known_state(resque_redis, ns)
    async with Queue(redis_url, namespace=ns, clock=lambda: NOW) as queue:
        status = await queue.status()
    with blocking.Queue(redis_url, namespace=ns, clock=lambda: NOW) as twin:
        assert twin.status() == status
    tasks = Tasks(redis_url, namespace=ns, clock=lambda: NOW)
    try:
        assert await tasks.details() == status
    finally:
        await tasks.aclose()
    # The namespace is unique to the test; the page shows the default, "resque".
    document = json.loads(to_json(status).replace(ns, "resque"))
    assert document == json.loads(example("json"))
    assert to_json(status).replace(ns, "resque") + "\n" == example("json")  # its layout too


async def test_the_text_of_a_known_state_is_the_specs_example(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    known_state(resque_redis, ns)
    async with Queue(redis_url, namespace=ns, clock=lambda: NOW) as queue:
        status = await queue.status()
    text = format_status(status, f"127.0.0.1:6379/0 namespace {ns}")
    assert text.replace(ns, "resque") + "\n" == example("text")
