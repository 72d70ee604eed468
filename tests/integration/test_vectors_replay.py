"""Replaying the recorded peer calls through pyresque.Queue leaves the same Redis state."""

from __future__ import annotations

from typing import Any

import redis

from pyresque import Queue
from tests.vectors import cases, load


def dump(client: Any, namespace: str, recorded_namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key in sorted(client.scan_iter(match=f"{namespace}:*", count=1000)):
        key = recorded_namespace + raw_key.decode()[len(namespace) :]
        kind = client.type(raw_key).decode()
        if kind == "list":
            value: Any = [v.decode() for v in client.lrange(raw_key, 0, -1)]
        elif kind == "set":
            value = sorted(v.decode() for v in client.smembers(raw_key))
        elif kind == "zset":
            value = [[m.decode(), s] for m, s in client.zrange(raw_key, 0, -1, withscores=True)]
        else:
            value = client.get(raw_key).decode()
        out[key] = {"type": kind, "value": value}
    return out


def clear(client: redis.Redis, namespace: str) -> None:
    for key in client.scan_iter(match=f"{namespace}:*"):
        client.delete(key)


async def test_node_calls_replayed_through_pyresque_match_node_resque(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    recorded = load("queue-node.json")["namespace"]
    async with Queue(redis_url, namespace=resque_namespace) as q:
        for case in cases("queue-node.json"):
            clear(resque_redis, resque_namespace)
            call = case["call"]
            method: Any = {"enqueue": q.enqueue, "enqueueAt": q.enqueue_at}[call["method"]]
            assert await method(*call["args"]) == case["result"]
            assert dump(resque_redis, resque_namespace, recorded) == case["writes"], call


async def test_ruby_calls_replayed_through_pyresque_match_ruby_resque(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    recorded = load("queue-ruby.json")["namespace"]
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        for case in cases("queue-ruby.json"):
            clear(resque_redis, resque_namespace)
            call = case["call"]
            if call["op"] == "enqueue":
                await q.enqueue(call["queue"], call["class"], call["args"])
            else:
                await q.enqueue_at(call["at"] * 1000, call["queue"], call["class"], call["args"])
            assert dump(resque_redis, resque_namespace, recorded) == case["writes"], call
