"""pyresque.tracing against a real Redis, spans read from the SDK's in-memory exporter:
the producer and consumer spans opentelemetry-ruby-contrib's resque instrumentation makes,
how they relate in each propagation style, failures, and the bytes (unchanged unless
injection is asked for)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pyresque import ConfigurationError, Queue, Worker
from pyresque.errors import ArgumentError
from pyresque.protocol.activejob import WRAPPER
from pyresque.tracing import Tracing, job_class_of
from tests.keys import key

ROOT = Path(__file__).resolve().parents[2]
RUBY_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


def spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == kind]


def traceparent(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


async def ok(*args: Any) -> str:
    return "ok"


async def boom(*args: Any) -> None:
    raise RuntimeError("BUSTED")


async def traced_run(
    provider: TracerProvider,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    *,
    propagation: Any = "link",
    inject: bool = True,
    jobs: dict[str, Any] | None = None,
    job_class: str = "ok",
    args: Any = None,
) -> None:
    queue = Tracing(inject=inject, tracer_provider=provider).attach(make_queue())
    await queue.enqueue("q", job_class, args)
    worker = make_worker(jobs=jobs or {"ok": ok, "boom": boom})
    Tracing(propagation=propagation, tracer_provider=provider).attach(worker)
    await worker.run(burst=True)


async def test_link_mode_starts_a_root_span_linked_to_the_producer(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = Tracing(inject=True, tracer_provider=provider).attach(make_queue())
    await queue.enqueue("q", "ok", [1])
    [producer] = spans(exporter, SpanKind.PRODUCER)
    [raw] = resque_redis.lrange(key(resque_namespace, "queue:q"), 0, -1)
    assert raw == (
        b'{"class":"ok","queue":"q","args":[1],"traceparent":"'
        + traceparent(producer).encode()
        + b'"}'
    )
    worker = Tracing(tracer_provider=provider).attach(make_worker(jobs={"ok": ok}))
    await worker.run(burst=True)
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert producer.name == "q send" and consumer.name == "q process"
    attributes = {
        "messaging.system": "resque",
        "messaging.destination": "q",
        "messaging.destination_kind": "queue",
        "messaging.resque.job_class": "ok",
    }
    assert dict(producer.attributes or {}) == attributes
    assert dict(consumer.attributes or {}) == attributes
    assert consumer.parent is None
    [link] = consumer.links
    assert (link.context.trace_id, link.context.span_id) == (
        producer.context.trace_id,
        producer.context.span_id,
    )
    assert consumer.context.trace_id != producer.context.trace_id
    assert consumer.status.status_code == StatusCode.UNSET


async def test_child_mode_continues_the_producers_trace(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
) -> None:
    await traced_run(provider, make_queue, make_worker, propagation="child")
    [producer] = spans(exporter, SpanKind.PRODUCER)
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    assert list(consumer.links) == []


async def test_none_mode_neither_links_nor_continues(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
) -> None:
    await traced_run(provider, make_queue, make_worker, propagation="none")
    [producer] = spans(exporter, SpanKind.PRODUCER)
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert consumer.parent is None and list(consumer.links) == []
    assert consumer.context.trace_id != producer.context.trace_id


async def test_a_failing_job_records_its_exception_and_error_status(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    await traced_run(provider, make_queue, make_worker, job_class="boom")
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert consumer.status.status_code == StatusCode.ERROR
    assert consumer.status.description == "Unhandled exception of type: RuntimeError"
    [event] = consumer.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.type"] == "RuntimeError"
    assert dict(event.attributes or {})["exception.message"] == "BUSTED"
    [entry] = resque_redis.lrange(key(resque_namespace, "failed"), 0, -1)
    assert json.loads(entry)["error"] == "BUSTED"  # the job failed as without tracing


async def test_a_payload_without_trace_context_gets_a_plain_root_span(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
) -> None:
    await traced_run(provider, make_queue, make_worker, inject=False)
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert consumer.parent is None and list(consumer.links) == []


async def test_spans_the_job_opens_are_children_of_its_consumer_span(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
) -> None:
    tracer = provider.get_tracer("app")

    async def in_loop() -> None:
        with tracer.start_as_current_span("inner async"):
            pass

    def in_thread() -> None:
        with tracer.start_as_current_span("inner thread"):
            pass

    queue = make_queue()
    await queue.enqueue("q", "a")
    await queue.enqueue("q", "t")
    worker = Tracing(tracer_provider=provider).attach(
        make_worker(jobs={"a": in_loop, "t": in_thread})
    )
    await worker.run(burst=True)
    outer = {s.context.span_id: s for s in spans(exporter, SpanKind.CONSUMER)}
    inner = spans(exporter, SpanKind.INTERNAL)
    assert sorted(s.name for s in inner) == ["inner async", "inner thread"]
    assert all(s.parent is not None and s.parent.span_id in outer for s in inner)
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing leaks out of the job


async def test_a_traceparent_as_opentelemetry_ruby_writes_it_is_linked_or_continued(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    payload = json.dumps({"class": "Py::Ok", "args": [1], "traceparent": RUBY_TRACEPARENT})
    resque_redis.rpush(key(resque_namespace, "queue:q"), payload, payload)
    linked = make_worker(jobs={"Py::Ok": ok}, dialect="ruby")
    Tracing(tracer_provider=provider).attach(linked)
    await linked.run(burst=True)  # takes both: link one, then...
    [first, second] = spans(exporter, SpanKind.CONSUMER)
    for span in (first, second):
        assert span.parent is None
        [link] = span.links
        assert f"{link.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert f"{link.context.span_id:016x}" == "00f067aa0ba902b7"
        assert link.context.is_remote
    exporter.clear()
    resque_redis.rpush(key(resque_namespace, "queue:q"), payload)
    child = make_worker(jobs={"Py::Ok": ok}, dialect="ruby")
    Tracing(propagation="child", tracer_provider=provider).attach(child)
    await child.run(burst=True)
    [span] = spans(exporter, SpanKind.CONSUMER)
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert f"{span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("value", [5, None, "not-a-traceparent", ["00-x"]])
async def test_a_traceparent_field_that_is_no_trace_context_is_ignored(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
    value: Any,
) -> None:
    payload = json.dumps({"class": "ok", "queue": "q", "args": [], "traceparent": value})
    resque_redis.rpush(key(resque_namespace, "queue:q"), payload)
    worker = Tracing(tracer_provider=provider).attach(make_worker(jobs={"ok": ok}))
    await worker.run(burst=True)
    [span] = spans(exporter, SpanKind.CONSUMER)
    assert span.parent is None and list(span.links) == []
    assert worker.processed == 1


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_without_injection_the_bytes_are_the_usual_ones(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
) -> None:
    plain, traced = make_queue(dialect=dialect), make_queue(dialect=dialect)
    Tracing(tracer_provider=provider).attach(traced)
    for second, queue in enumerate((plain, traced)):
        await queue.enqueue("q", "ok", [1.0, "é"])
        await queue.enqueue_at(4_102_444_800_000 + second * 1000, "q", "ok", [2])
    written = resque_redis.lrange(key(resque_namespace, "queue:q"), 0, -1)
    assert written == [plain.dialect.job("q", "ok", [1.0, "é"])] * 2
    for at in ("4102444800", "4102444801"):
        delayed = resque_redis.lrange(key(resque_namespace, f"delayed:{at}"), 0, -1)
        assert delayed == [plain.dialect.delayed_job("q", "ok", [2])]
    assert [s.name for s in spans(exporter, SpanKind.PRODUCER)] == ["q send", "q send"]


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_delayed_jobs_carry_the_injected_context_in_each_dialects_order(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
) -> None:
    queue = Tracing(inject=True, tracer_provider=provider).attach(make_queue(dialect=dialect))
    await queue.enqueue_in(3_600_000, "q", "ok", [1])
    [producer] = spans(exporter, SpanKind.PRODUCER)
    [second] = await queue.timestamps()
    [raw] = resque_redis.lrange(key(resque_namespace, f"delayed:{second // 1000}"), 0, -1)
    standard = queue.dialect.delayed_job("q", "ok", [1])
    assert raw == standard[:-1] + b',"traceparent":"' + traceparent(producer).encode() + b'"}'
    # An exact-bytes delete does not find it (spec/tracing.md): the trace fields differ.
    assert await queue.delete_delayed("q", "ok", [1]) == []


async def test_job_class_naming_names_the_active_job_inside_a_wrapper(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
) -> None:
    queue = make_queue()
    Tracing(span_naming="job_class", tracer_provider=provider).attach(queue)
    await queue.enqueue("mailers", WRAPPER, [{"job_class": "WelcomeMailer", "arguments": []}])
    [producer] = spans(exporter, SpanKind.PRODUCER)
    assert producer.name == "WelcomeMailer send"
    assert dict(producer.attributes or {})["messaging.resque.job_class"] == "WelcomeMailer"
    assert dict(producer.attributes or {})["messaging.destination"] == "mailers"


def test_job_class_resolution_follows_the_gem() -> None:
    assert job_class_of(WRAPPER, [{"job_class": "A"}]) == "A"
    assert job_class_of(WRAPPER, ["A"]) == WRAPPER
    assert job_class_of(WRAPPER, []) == WRAPPER
    assert job_class_of("B", [{"job_class": "A"}]) == "B"


async def test_options_are_checked_and_attaching_twice_is_refused(
    make_queue: Callable[..., Queue],
) -> None:
    with pytest.raises(ConfigurationError):
        Tracing(propagation="parent")
    with pytest.raises(ConfigurationError):
        Tracing(span_naming="worker")
    tracing = Tracing()
    queue = tracing.attach(make_queue())
    with pytest.raises(ConfigurationError):
        tracing.attach(queue)
    with pytest.raises(ArgumentError):
        tracing.attach(object())  # type: ignore[type-var]
    assert len(queue.around_enqueue) == 1


NO_OPENTELEMETRY = """
import asyncio, os, sys
import redis, redis.asyncio  # redis-py 8 imports parts of OpenTelemetry itself when installed
before = {m for m in sys.modules if m.startswith("opentelemetry")}
from pyresque import Queue, Worker, MultiWorker
import pyresque.sync, pyresque.worker, pyresque.scheduler, pyresque.activejob

async def main():
    url, ns = os.environ["REDIS_URL"], os.environ["NS"]
    async with Queue(url, namespace=ns) as queue:
        await queue.enqueue("q", "ok", [1])
        await queue.enqueue_in(60_000, "q", "ok", [2])
        async def ok(*args):
            return "ok"
        await Worker(url, "q", {"ok": ok}, namespace=ns, timeout=50).run(burst=True)
asyncio.run(main())
after = {m for m in sys.modules if m.startswith(("opentelemetry", "pyresque.tracing"))}
print(sorted(after - before))
"""


def test_without_tracing_pyresque_imports_no_opentelemetry(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "NS": resque_namespace}
    done = subprocess.run(
        [sys.executable, "-c", NO_OPENTELEMETRY],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"
    assert resque_redis.get(key(resque_namespace, "stat:processed")) == b"1"


def test_only_pyresque_tracing_imports_opentelemetry() -> None:
    package = ROOT / "pyresque"
    importers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"^\s*(from|import) opentelemetry", path.read_text(), re.M)
    )
    assert importers == ["tracing.py"]
