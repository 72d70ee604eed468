"""Trace context across the peers: a payload carrying a ``traceparent`` as
opentelemetry-ruby's resque instrumentation pushes it is linked (or continued) by a
pyresque worker's span; payloads pyresque injected run on real node-resque and Ruby
workers, which ignore the extra fields.

node-resque cannot write such a payload: its ``Queue.encode`` builds ``{class, queue,
args}`` and nothing else (spec/tracing.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from interop import jobs
from interop.harness import Peer
from pyresque import Queue, Worker
from pyresque.tracing import Tracing

pytestmark = pytest.mark.interop

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.fixture(autouse=True)
def _jobs_use_the_session_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    yield found
    found.clear()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    made = TracerProvider()
    made.add_span_processor(SimpleSpanProcessor(exporter))
    return made


def consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]


def traceparent_of(span: ReadableSpan) -> str:
    ctx = span.context
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


@pytest.mark.parametrize("propagation", ["link", "child"])
async def test_a_traceparent_ruby_pushed_is_linked_or_continued_by_a_pyresque_worker(
    ruby: Peer,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    propagation: Any,
) -> None:
    item = {"class": "Py::Mark", "args": [1], "traceparent": TRACEPARENT}
    raw = ruby.call("push", namespace=resque_namespace, queue="traced", item=item)
    assert raw == json.dumps(item, separators=(",", ":"))  # the bytes the gem leaves
    worker = Worker(
        redis_url, "traced", jobs.JOBS, namespace=resque_namespace, dialect="ruby", timeout=50
    )
    Tracing(propagation=propagation, tracer_provider=provider).attach(worker)
    try:
        await worker.run(burst=True)
    finally:
        await worker.stop(grace=0)
    assert resque_redis.lrange(f"{resque_namespace}:done", 0, -1) == [b"1:py"]
    [span] = consumer_spans(exporter)
    assert span.name == "traced process"
    assert dict(span.attributes or {})["messaging.resque.job_class"] == "Py::Mark"
    if propagation == "link":
        [link] = span.links
        assert (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") == (
            TRACE_ID,
            SPAN_ID,
        )
        assert span.parent is None
    else:
        assert span.parent is not None and f"{span.parent.span_id:016x}" == SPAN_ID
        assert f"{span.context.trace_id:032x}" == TRACE_ID


async def test_a_payload_pyresque_injected_runs_on_a_node_resque_worker(
    node: Peer,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        Tracing(inject=True, tracer_provider=provider).attach(queue)
        await queue.enqueue("traced", "mark", [7])
    [raw] = resque_redis.lrange(f"{resque_namespace}:queue:traced", 0, -1)
    [producer] = exporter.get_finished_spans()
    assert raw == (
        b'{"class":"mark","queue":"traced","args":[7],"traceparent":"'
        + traceparent_of(producer).encode()
        + b'"}'
    )
    outcomes = node.call(
        "work", namespace=resque_namespace, name="node:traced", queues=["traced"], count=1
    )
    assert [o["event"] for o in outcomes] == ["success"]
    assert outcomes[0]["job"]["traceparent"] == traceparent_of(producer)  # kept, ignored
    assert resque_redis.lrange(f"{resque_namespace}:done", 0, -1) == [b"7:node"]
    assert resque_redis.llen(f"{resque_namespace}:failed") == 0


async def test_a_payload_pyresque_injected_runs_on_a_ruby_resque_worker(
    ruby: Peer,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as queue:
        Tracing(inject=True, tracer_provider=provider).attach(queue)
        await queue.enqueue("traced", "Py::Mark", [8])
    [raw] = resque_redis.lrange(f"{resque_namespace}:queue:traced", 0, -1)
    [producer] = exporter.get_finished_spans()
    assert raw == (
        b'{"class":"Py::Mark","args":[8],"traceparent":"'
        + traceparent_of(producer).encode()
        + b'"}'
    )
    [peeked] = ruby.call("peek", namespace=resque_namespace, queue="traced")
    assert peeked["traceparent"] == traceparent_of(producer)
    assert ruby.call("work", namespace=resque_namespace, queues=["traced"], classes=["Py::Mark"])
    assert resque_redis.lrange(f"{resque_namespace}:done", 0, -1) == [b"8:ruby"]
    assert ruby.call("stat", namespace=resque_namespace, name="processed") == 1
    assert ruby.call("failed_count", namespace=resque_namespace) == 0
