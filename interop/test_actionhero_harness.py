"""Smoke test of the real Actionhero 29.3.5 app (interop/actionhero) the interop tests drive:
it boots, runs its JavaScript tasks, writes node-resque 9.7.1's bytes, and stops cleanly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from interop.harness import Peer, snapshot
from pyresque.testing import wait_until

pytestmark = pytest.mark.interop

FAST = {"timeout": 100, "checkTimeout": 50}
TASKS = ["jsFail", "jsRecord", "jsSlow", "sharedPeriodic"]


def task(node: Peer, method: str, *args: Any) -> Any:
    return node.call("task", method=method, args=list(args))


def test_enqueued_task_runs_on_an_actionhero_worker(
    actionhero: Callable[..., Peer], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    # An explicit queue list: with Actionhero's default ["*"], node-resque 9.7.1 workers
    # untrack and re-track themselves on every empty poll (`workers` flickers).
    node = actionhero(
        scheduler=False, minTaskProcessors=1, maxTaskProcessors=1, queues=["default"], **FAST
    )
    assert node.call("tasks") == TASKS
    info = node.call("info")
    assert info["running"] and info["actionheroVersion"] == "29.3.5"
    assert info["namespace"] == ns and info["config"]["scheduler"] is False

    assert task(node, "enqueue", "jsRecord", {"id": 1}) is True
    ran = wait_until(lambda: resque_redis.lrange(f"{ns}:interop:ran", 0, -1))
    assert ran == [b'{"task":"jsRecord","side":"js","params":{"id":1,"note":"from-default"}}']

    details = wait_until(lambda: (d := task(node, "details"))["stats"].get("processed") and d)
    assert details["stats"]["processed"] == "1"
    assert details["queues"] == {"default": {"length": 0}}
    assert details["leader"] is None  # no scheduler anywhere
    workers = [w["name"] for w in node.call("info")["workers"]]
    assert workers and sorted(details["workers"]) == sorted(workers)
    assert set(details["workers"].values()) == {"started"}  # idle

    assert node.call("stop") is True
    assert resque_redis.smembers(f"{ns}:workers") == set()
    assert node.call("info")["running"] is False


def test_enqueue_writes_node_resque_bytes(
    actionhero: Callable[..., Peer], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    node = actionhero(scheduler=False, minTaskProcessors=0, maxTaskProcessors=0, **FAST)
    assert task(node, "enqueue", "jsRecord", {"id": 1}) is True

    assert resque_redis.lrange(f"{ns}:queue:default", 0, -1) == [
        b'{"class":"jsRecord","queue":"default","args":[{"id":1,"note":"from-default"}]}'
    ]
    assert task(node, "queued", "default", 0, -1) == [
        {"class": "jsRecord", "queue": "default", "args": [{"id": 1, "note": "from-default"}]}
    ]
    # Everything an Actionhero node with no processors and no scheduler wrote: node-resque's
    # connection check, the queue set and the queue.
    assert snapshot(resque_redis, ns) == {
        "connection_test_key": {"type": "string", "value": b"ok", "has_ttl": False},
        "queues": {"type": "set", "value": [b"default"], "has_ttl": False},
        "queue:default": {
            "type": "list",
            "value": [
                b'{"class":"jsRecord","queue":"default","args":[{"id":1,"note":"from-default"}]}'
            ],
            "has_ttl": False,
        },
    }


def test_scheduler_node_runs_the_periodic_task_and_stops_cleanly(
    actionhero: Callable[..., Peer], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    node = actionhero(
        scheduler=True,
        minTaskProcessors=1,
        maxTaskProcessors=1,
        queues=["periodic"],
        env={"SHARED_PERIODIC_FREQUENCY": "300"},
        **FAST,
    )
    raw = wait_until(
        lambda: len(runs := resque_redis.lrange(f"{ns}:interop:periodic", 0, -1)) >= 3 and runs,
        timeout=8,
    )
    runs = [json.loads(entry) for entry in raw]
    assert {run["side"] for run in runs} == {"js"}
    assert all(run["end"] - run["start"] >= 95 for run in runs)
    # One chain, one worker: the runs never overlap.
    assert all(b["start"] >= a["end"] for a, b in zip(runs, runs[1:], strict=False))

    info = node.call("info")
    assert info["leader"] is True
    assert resque_redis.get(f"{ns}:resque_scheduler_leader_lock") == info["schedulerName"].encode()
    assert task(node, "details")["leader"] == info["schedulerName"]
    assert resque_redis.smembers(f"{ns}:workers")

    assert node.call("stop") is True
    assert resque_redis.smembers(f"{ns}:workers") == set()
    assert resque_redis.exists(f"{ns}:resque_scheduler_leader_lock") == 0
    assert not any(key.startswith(b"worker:") for key in snapshot_keys(resque_redis, ns))


def snapshot_keys(client: redis.Redis, namespace: str) -> list[bytes]:
    prefix = f"{namespace}:".encode()
    return [key[len(prefix) :] for key in client.scan_iter(match=prefix + b"*")]
