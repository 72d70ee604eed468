"""pyresque.testing.strategies' peer payloads are the bytes the real peers write: a sample of
each strategy is enqueued through real node-resque, Ruby resque (json gem and Oj) and Rails
ActiveJob's resque adapter, and what they pushed is compared byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.harness import Peer, activejob_unavailable
from pyresque.testing.plugin import delete_namespace
from pyresque.testing.strategies import (
    ActiveJobPayload,
    PeerPayload,
    activejob_payloads,
    node_payloads,
    ruby_payloads,
)

pytestmark = pytest.mark.interop

RUBY_DIR = Path(__file__).resolve().parent / "ruby"
SAMPLE = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _pushed(client: redis.Redis, namespace: str, queue: str) -> bytes:
    raw = client.lpop(f"{namespace}:queue:{queue}")
    assert isinstance(raw, bytes)
    return raw


@SAMPLE
@given(payload=node_payloads())
def test_node_payloads_are_the_bytes_node_resque_enqueues(
    payload: PeerPayload, node: Peer, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    node.call(
        "queue",
        namespace=resque_namespace,
        method="enqueue",
        args=[payload.queue, payload.job_class, payload.args],
    )
    assert _pushed(resque_redis, resque_namespace, payload.queue) == payload.raw


def _ruby_enqueues(peer: Peer, payload: PeerPayload, client: redis.Redis, namespace: str) -> bytes:
    peer.call(
        "enqueue",
        namespace=namespace,
        queue=payload.queue,
        args=payload.args,
        **{"class": payload.job_class},
    )
    return _pushed(client, namespace, payload.queue)


@SAMPLE
@given(payload=ruby_payloads("json"))
def test_ruby_payloads_are_the_bytes_ruby_resque_enqueues_with_the_json_gem(
    payload: PeerPayload, ruby: Peer, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    assert _ruby_enqueues(ruby, payload, resque_redis, resque_namespace) == payload.raw


@SAMPLE
@given(payload=ruby_payloads("oj"))
def test_ruby_payloads_oj_are_the_bytes_ruby_resque_enqueues_with_oj(
    payload: PeerPayload, ruby_oj: Peer, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    assert _ruby_enqueues(ruby_oj, payload, resque_redis, resque_namespace) == payload.raw


class _Rails:
    """interop/ruby/activejob_payload.rb: real ActiveJob enqueuing given jobs."""

    def __init__(self, redis_url: str, namespace: str, adapter: str) -> None:
        env = {**os.environ, "JSON_ADAPTER": adapter, "TZ": "UTC"}
        self.proc = subprocess.Popen(
            ["ruby", "activejob_payload.rb", redis_url, namespace],
            cwd=RUBY_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def enqueue(self, payload: ActiveJobPayload) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = payload.data
        spec = {key: data[key] for key in ("job_class", "job_id", "queue_name", "priority")}
        spec.update(
            arguments=data["arguments"],
            locale=data["locale"],
            timezone=data["timezone"],
            enqueued_at=_epoch(data["enqueued_at"]),
        )
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert "error" not in reply, reply["error"]
        raw: str = reply["raw"]
        return raw.encode()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        self.proc.stdout.close()


def _epoch(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


# Job classes the Ruby side can define on the fly: no parent ever names a job class.
RAILS_CLASSES = st.from_regex(r"\A[A-Z][a-z]{0,6}(::[A-Z][a-z]{0,6})?[A-Z][a-z]{0,4}Job\Z")


@pytest.mark.parametrize("adapter", ["json", "oj"])
def test_activejob_payloads_are_the_bytes_rails_resque_adapter_enqueues(
    adapter: str, redis_url: str
) -> None:
    reason = activejob_unavailable()
    if reason is not None:
        pytest.skip(reason)
    namespace = f"pyresque-rails-{os.getpid()}-{adapter}"
    rails = _Rails(redis_url, namespace, "json_gem" if adapter == "json" else "oj")
    try:

        @SAMPLE
        @given(
            payload=activejob_payloads(
                "json" if adapter == "json" else "oj", job_classes=RAILS_CLASSES
            )
        )
        def check(payload: ActiveJobPayload) -> None:
            assert rails.enqueue(payload) == payload.raw

        check()
    finally:
        rails.close()
        delete_namespace(redis_url, namespace)
