"""Prometheus metrics against real state: a fleet built in Redis (queues, delayed jobs,
failed entries of both dialects, workers of both kinds with one stale, a leader lock),
scraped and parsed as Prometheus parses it; worker histograms after real jobs; the HTTP
endpoints over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from pyresque import MultiWorker, Queue, Worker
from pyresque.activejob import ActiveJobs
from pyresque.metrics import (
    FailedCounts,
    FleetCollector,
    WorkerMetrics,
    exposition,
    serve_metrics,
)
from pyresque.protocol.keys import KeySpace
from pyresque.testing import poll_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: bytes) -> Samples:
    """Every sample of a text exposition, by name and labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def scrape(fleet: FleetCollector) -> Samples:
    body, content_type = await exposition(fleet)
    assert content_type.startswith("text/plain")
    return parse(body)


def boom() -> None:
    raise ValueError("boom")


async def test_a_scrape_reports_the_fleet_as_redis_holds_it(
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    make_worker: Callable[..., Worker],
) -> None:
    keys = KeySpace(resque_namespace)
    node = Queue(redis_url, namespace=resque_namespace)
    ruby = Queue(redis_url, namespace=resque_namespace, dialect="ruby")
    # Failed entries of both dialects, by real workers: 2 node Boom on q, 1 ruby Boom on
    # q, 1 ruby Crash on other.
    for queue, job in ((node, "Boom"), (node, "Boom"), (ruby, "Boom")):
        await queue.enqueue("q", job, [])
    await ruby.enqueue("other", "Crash", [])
    await make_worker(["q"], {"Boom": boom}).run(burst=True)
    await make_worker(["q", "other"], {"Boom": boom, "Crash": boom}, dialect="ruby").run(burst=True)
    # Queues: 3 jobs on mail, 1 on reports, one ActiveJob job enqueued 120 s ago on rails.
    for i in range(3):
        await node.enqueue("mail", "Welcome", [i])
    await ruby.enqueue("reports", "Daily", [])
    early = Queue(redis_url, namespace=resque_namespace, clock=lambda: time.time() - 120)
    await ActiveJobs().enqueue(early, "InvoiceJob", 7, queue_name="rails")
    await early.aclose()
    # Delayed: two due 30 s ago, one an hour from now.
    now_ms = time.time() * 1000
    await node.enqueue_at(now_ms - 30_000, "mail", "Late", [1])
    await node.enqueue_at(now_ms - 30_000, "mail", "Late", [2])
    await node.enqueue_at(now_ms + 3_600_000, "mail", "Later", [])
    # Workers: node idle, ruby working on a held job, node stale (its ping an hour old).
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    idle = make_worker(["idle"], name="box:1")
    busy = make_worker(["held"], {"Hold": hold}, dialect="ruby", name="box:2")
    stale = make_worker(["gone"], name="box:3")
    for worker in (idle, busy, stale):
        await worker.start()
    await ruby.enqueue("held", "Hold", [])
    await poll_until(lambda: asyncio.sleep(0, busy.working), timeout=10)
    old = {"time": int(time.time()) - 3600, "name": stale.name}
    resque_redis.set(keys.worker_ping(stale.name), json.dumps(old))
    resque_redis.set(keys.leader_lock(), "box:4242")

    fleet = FleetCollector(node)
    try:
        samples = await scrape(fleet)
    finally:
        gate.set()
    await node.aclose()
    await ruby.aclose()

    assert value(samples, "resque_up") == 1
    # The known queues (the queues set): a worker's queues are not listed until used.
    assert series(samples, "resque_jobs_in_queue") == {
        frozenset({("queue", q)}): n
        for q, n in {"q": 0, "other": 0, "mail": 3, "reports": 1, "rails": 1, "held": 0}.items()
    }
    assert value(samples, "resque_delayed_jobs") == 3
    assert value(samples, "resque_delayed_jobs_due") == 2
    assert 29 <= value(samples, "resque_delayed_overdue_seconds") <= 60
    assert series(samples, "resque_jobs_in_failed_queue") == {
        frozenset({("queue", "q"), ("class", "Boom")}): 3,
        frozenset({("queue", "other"), ("class", "Crash")}): 1,
    }
    workers = series(samples, "resque_workers")
    assert workers[frozenset({("kind", "node"), ("state", "idle")})] == 1
    assert workers[frozenset({("kind", "ruby"), ("state", "working")})] == 1
    assert workers[frozenset({("kind", "node"), ("state", "stale")})] == 1
    assert sum(workers.values()) == 3
    assert value(samples, "resque_working_workers") == 1
    assert value(samples, "resque_leader_present") == 1
    # node counts successes only (none here), Ruby every job it ran (its one failure).
    assert value(samples, "resque_job_executions_total") == 1
    assert value(samples, "resque_failed_job_executions_total") == 4
    # The ActiveJob job carries its enqueue time; the others were first seen just now.
    assert 119 <= value(samples, "resque_queue_latency_seconds", queue="rails") <= 180
    assert value(samples, "resque_queue_latency_seconds", queue="mail") == 0
    assert value(samples, "resque_queue_latency_seconds", queue="q") == 0
    assert value(samples, "resque_scrape_duration_seconds") > 0
    assert 1 <= value(samples, "resque_scrape_redis_round_trips") <= 12


async def test_queue_latency_counts_from_when_the_head_job_was_first_seen(
    redis_url: str, resque_namespace: str
) -> None:
    now = [1_000_000.0]
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        fleet = FleetCollector(queue, clock=lambda: now[0])
        await queue.enqueue("mail", "Welcome", [1])
        await queue.enqueue("mail", "Welcome", [2])
        assert value(await scrape(fleet), "resque_queue_latency_seconds", queue="mail") == 0
        now[0] += 42
        assert value(await scrape(fleet), "resque_queue_latency_seconds", queue="mail") == 42
        await queue.enqueue("mail", "Welcome", [3])  # a new tail does not change the head
        now[0] += 8
        assert value(await scrape(fleet), "resque_queue_latency_seconds", queue="mail") == 50
        await queue.dequeue("mail", "Welcome", [1])  # the head was taken: a new head
        now[0] += 5
        assert value(await scrape(fleet), "resque_queue_latency_seconds", queue="mail") == 0


async def test_failed_counts_read_only_the_new_tail_until_an_entry_is_removed(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    failed_key = KeySpace(resque_namespace).failed()

    def entry(i: int, queue: str, job_class: str) -> str:
        payload = {"class": job_class, "args": [i]}
        return json.dumps({"queue": queue, "payload": payload, "exception": "E", "n": i})

    for i in range(2500):
        resque_redis.rpush(failed_key, entry(i, f"q{i % 3}", f"C{i % 2}"))
    resque_redis.rpush(failed_key, b"\xff not json")

    def truth() -> dict[frozenset[tuple[str, str]], float]:
        counts: dict[frozenset[tuple[str, str]], float] = {}
        for raw in resque_redis.lrange(failed_key, 0, -1):
            try:
                found = json.loads(raw)
                job_class = found["payload"]["class"]
                labels = frozenset({("queue", found["queue"]), ("class", job_class)})
            except ValueError:
                labels = frozenset({("queue", ""), ("class", "")})
            counts[labels] = counts.get(labels, 0) + 1
        return counts

    async with Queue(redis_url, namespace=resque_namespace) as queue:
        fleet = FleetCollector(queue)
        assert series(await scrape(fleet), "resque_jobs_in_failed_queue") == truth()
        assert (fleet.failed.decoded, fleet.failed.recounts) == (2501, 0)
        for i in range(2500, 2510):
            resque_redis.rpush(failed_key, entry(i, "late", "Late"))
        samples = await scrape(fleet)
        assert series(samples, "resque_jobs_in_failed_queue") == truth()
        assert (fleet.failed.decoded, fleet.failed.recounts) == (2511, 0)  # the tail only
        assert value(samples, "resque_scrape_redis_round_trips") <= 7
        resque_redis.lrem(failed_key, 1, entry(1200, "q0", "C0"))
        resque_redis.rpush(failed_key, entry(9999, "late", "Late"))  # same length again
        assert series(await scrape(fleet), "resque_jobs_in_failed_queue") == truth()
        assert fleet.failed.recounts == 1
        resque_redis.delete(failed_key)
        assert series(await scrape(fleet), "resque_jobs_in_failed_queue") == {}


async def test_a_long_failed_list_is_counted_over_several_scrapes_within_a_budget(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    failed_key = KeySpace(resque_namespace).failed()
    for i in range(2500):
        entry = {"queue": "q", "payload": {"class": "C", "args": [i]}}
        resque_redis.rpush(failed_key, json.dumps(entry))
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        fleet = FleetCollector(queue, failed=FailedCounts(budget=1000, window=500))
        seen = []
        for _ in range(3):
            samples = await scrape(fleet)
            seen.append(
                (
                    series(samples, "resque_jobs_in_failed_queue"),
                    value(samples, "resque_failed_entries_uncounted"),
                )
            )
    labels = frozenset({("queue", "q"), ("class", "C")})
    assert seen == [({labels: 1000}, 1500), ({labels: 2000}, 500), ({labels: 2500}, 0)]


async def test_a_scrape_says_down_when_redis_does_not_answer(resque_namespace: str) -> None:
    queue = Queue("redis://127.0.0.1:1/0", namespace=resque_namespace, patience=0)
    samples = await scrape(FleetCollector(queue, timeout=5))
    await queue.aclose()
    assert value(samples, "resque_up") == 0
    assert series(samples, "resque_jobs_in_queue") == {}


async def test_worker_histograms_count_real_jobs_by_queue_class_and_outcome(
    redis_url: str, resque_namespace: str, make_worker: Callable[..., Worker]
) -> None:
    active = ActiveJobs()
    active.add("InvoiceJob", lambda n: n)
    jobs: dict[str, Any] = {"Ok": lambda: None, "Boom": boom, **active.jobs}
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        for job in ("Ok", "Ok", "Boom"):
            await queue.enqueue("q", job, [])
        early = Queue(queue.driver, namespace=resque_namespace, clock=lambda: time.time() - 90)
        await active.enqueue(early, "InvoiceJob", 7, queue_name="q")
    worker = make_worker(["q"], jobs)
    metrics = WorkerMetrics().attach(worker)
    await worker.run(burst=True)
    body, _ = await exposition(None, [metrics.registry])
    samples = parse(body)

    def count(name: str, **labels: str) -> float:
        return value(samples, name, **labels)

    ok = {"queue": "q", "class": "Ok", "outcome": "success"}
    failed = {"queue": "q", "class": "Boom", "outcome": "failure"}
    invoice = {"queue": "q", "class": "InvoiceJob", "outcome": "success"}
    assert count("resque_jobs_total", **ok) == 2
    assert count("resque_jobs_total", **failed) == 1
    assert count("resque_jobs_total", **invoice) == 1
    assert count("resque_job_duration_seconds_count", **ok) == 2
    assert count("resque_job_duration_seconds_count", **failed) == 1
    assert 0 < count("resque_job_duration_seconds_sum", **ok) < 5
    assert count("resque_job_duration_seconds_bucket", **ok, le="+Inf") == 2
    # Only the ActiveJob job carries an enqueue time: one wait observation, about 90 s.
    waits = series(samples, "resque_job_wait_seconds_count")
    assert waits == {frozenset({("queue", "q"), ("class", "InvoiceJob")}): 1}
    assert 89 <= count("resque_job_wait_seconds_sum", queue="q", **{"class": "InvoiceJob"}) < 150
    assert series(samples, "resque_jobs_in_progress") == {}


async def test_a_multiworkers_jobs_are_counted_and_shown_in_progress(
    redis_url: str, resque_namespace: str, make_multi_worker: Callable[..., MultiWorker]
) -> None:
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    multi = make_multi_worker({"Hold": hold, "Ok": lambda: None})
    metrics = WorkerMetrics().attach(multi)
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "Ok", [])
        await queue.enqueue("q", "Hold", [])
        await multi.start()

        async def holding() -> Samples | None:
            samples = parse((await exposition(None, [metrics.registry]))[0])
            running = series(samples, "resque_jobs_in_progress")
            done = samples.get(("resque_jobs_total", frozenset(
                {("queue", "q"), ("class", "Ok"), ("outcome", "success")}
            )))  # fmt: skip
            return samples if running == {frozenset({("queue", "q")}): 1} and done else None

        await poll_until(holding, timeout=10)
        gate.set()
        await poll_until(lambda: asyncio.sleep(0, multi.working == 0), timeout=10)
    samples = parse((await exposition(None, [metrics.registry]))[0])
    hold_done = {"queue": "q", "class": "Hold", "outcome": "success"}
    assert value(samples, "resque_jobs_total", **hold_done) == 1


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


async def test_the_http_server_answers_metrics_health_and_readiness(
    redis_url: str, resque_namespace: str, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(["q"], {"Ok": lambda: None}, timeout=50)
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        await queue.enqueue("q", "Ok", [])
        server = await serve_metrics("127.0.0.1", 0, workers=[worker], queue=queue)
        async with server:
            status, _, body = await asyncio.to_thread(get, server.url + "/healthz")
            assert (status, body) == (200, "ok\n")
            status, _, body = await asyncio.to_thread(get, server.url + "/readyz")
            assert status == 503 and "is not running" in body
            await worker.start()
            status, _, body = await asyncio.to_thread(get, server.url + "/readyz")
            assert (status, body) == (200, "ready\n")

            async def counted() -> Samples | None:
                status, content_type, text = await asyncio.to_thread(get, server.url + "/metrics")
                assert status == 200 and content_type.startswith("text/plain")
                samples = parse(text.encode())
                key = ("resque_jobs_total", frozenset(
                    {("queue", "q"), ("class", "Ok"), ("outcome", "success")}
                ))  # fmt: skip
                return samples if samples.get(key) == 1 else None

            samples = await poll_until(counted, timeout=10)
            assert value(samples, "resque_up") == 1
            assert value(samples, "resque_workers", kind="node", state="idle") == 1
            status, _, _ = await asyncio.to_thread(get, server.url + "/nothing")
            assert status == 404
            await worker.stop()
            status, _, body = await asyncio.to_thread(get, server.url + "/readyz")
            assert status == 503 and "is not running" in body
            status, _, _ = await asyncio.to_thread(get, server.url + "/healthz")
            assert status == 200
