"""The generic wrappers around a job's run (``Worker.around_perform``) and its write
(``Queue.around_enqueue``), against a real Redis: what they see, the job runs in their
context, they are told the error and cannot swallow it, and what they add to a payload."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pyresque import DuplicateJobError, JobDefinition, MultiWorker, Queue, Worker
from pyresque.queue import Enqueueing
from pyresque.testing import poll_until
from pyresque.worker import CurrentJob, UnknownJobError
from tests.keys import key

SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="outside")


class Recorder:
    """A wrapper recording what it was given and told; it sets SEEN while entered."""

    def __init__(self, label: str = "w", log: list[Any] | None = None) -> None:
        self.label = label
        self.log: list[Any] = [] if log is None else log

    @contextlib.contextmanager
    def __call__(self, job: CurrentJob | Enqueueing) -> Iterator[None]:
        name = job.job_class
        self.log.append((self.label, "enter", name))
        token = SEEN.set(f"{self.label}:{name}")
        try:
            yield
        except BaseException as exc:
            self.log.append((self.label, "error", type(exc).__name__))
            raise
        finally:
            SEEN.reset(token)
        self.log.append((self.label, "exit", None))


async def in_async() -> str:
    return SEEN.get()


def in_thread() -> str:
    return SEEN.get()


async def boom(*args: Any) -> None:
    raise RuntimeError("BUSTED")


def failed_entries(client: redis.Redis, namespace: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(key(namespace, "failed"), 0, -1)]


async def test_async_and_thread_jobs_run_inside_the_wrappers_first_outermost(
    make_queue: Callable[..., Queue], make_worker: Callable[..., Worker]
) -> None:
    queue = make_queue()
    results: list[Any] = []
    worker = make_worker(jobs={"a": in_async, "t": in_thread})
    worker.on("success", lambda q, job, result, ms: results.append(result))
    log: list[Any] = []
    worker.around_perform.extend([Recorder("outer", log), Recorder("inner", log)])
    await queue.enqueue("q", "a")
    await queue.enqueue("q", "t")
    await worker.run(burst=True)
    assert results == ["inner:a", "inner:t"]
    assert log == [
        ("outer", "enter", "a"), ("inner", "enter", "a"),
        ("inner", "exit", None), ("outer", "exit", None),
        ("outer", "enter", "t"), ("inner", "enter", "t"),
        ("inner", "exit", None), ("outer", "exit", None),
    ]  # fmt: skip
    assert SEEN.get() == "outside"


async def test_a_failing_job_is_told_to_the_wrapper_and_still_fails(
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = make_queue()
    worker = make_worker(jobs={"boom": boom})
    recorder = Recorder()
    worker.around_perform.append(recorder)
    await queue.enqueue("q", "boom", [1])
    await worker.run(burst=True)
    assert recorder.log == [("w", "enter", "boom"), ("w", "error", "RuntimeError")]
    [entry] = failed_entries(resque_redis, resque_namespace)
    assert entry["error"] == "BUSTED" and entry["payload"]["args"] == [1]


async def test_a_job_with_no_definition_passes_through_the_wrappers_as_unknown(
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = make_queue()
    worker = make_worker(jobs={})
    told: list[BaseException] = []

    @contextlib.contextmanager
    def wrapper(job: CurrentJob) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            told.append(exc)
            raise

    worker.around_perform.append(wrapper)
    await queue.enqueue("q", "Missing", [2])
    await worker.run(burst=True)
    assert [type(e) for e in told] == [UnknownJobError]
    [entry] = failed_entries(resque_redis, resque_namespace)
    assert entry["payload"]["class"] == "Missing"


async def test_a_wrapper_that_fails_to_enter_fails_the_job_unrun(
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = make_queue()
    ran: list[int] = []
    worker = make_worker(jobs={"job": lambda n: ran.append(n)})

    def broken(job: CurrentJob) -> contextlib.AbstractContextManager[object]:
        raise ValueError("no wrapper today")

    worker.around_perform.append(broken)
    await queue.enqueue("q", "job", [3])
    await worker.run(burst=True)
    assert ran == []
    [entry] = failed_entries(resque_redis, resque_namespace)
    assert entry["error"] == "no wrapper today" and entry["exception"] == "ValueError"
    assert worker.processed == 0 and worker.failed == 1


async def test_a_wrapper_cannot_swallow_a_failure(
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = make_queue()
    worker = make_worker(jobs={"boom": boom})
    worker.around_perform.append(lambda job: contextlib.suppress(Exception))
    await queue.enqueue("q", "boom")
    await worker.run(burst=True)
    assert len(failed_entries(resque_redis, resque_namespace)) == 1
    assert worker.failed == 1


async def test_a_multi_workers_children_share_its_wrappers(
    make_queue: Callable[..., Queue], make_multi_worker: Callable[..., MultiWorker]
) -> None:
    queue = make_queue()
    results: list[Any] = []
    multi = make_multi_worker({"a": in_async})
    multi.on("success", lambda wid, q, job, result, ms: results.append(result))
    multi.around_perform.append(Recorder("pool"))
    await multi.start()
    await queue.enqueue("q", "a")
    await poll_until(lambda: asyncio.sleep(0, results))
    assert results == ["pool:a"]
    assert all(w.around_perform is multi.around_perform for w in multi.workers)


# -- around_enqueue ------------------------------------------------------------------------


def adding(fields: dict[str, str], log: list[Any]) -> Callable[[Enqueueing], Any]:
    @contextlib.contextmanager
    def wrapper(call: Enqueueing) -> Iterator[None]:
        log.append((call.queue, call.job_class, call.args, call.at_ms))
        call.extra.update(fields)
        try:
            yield
        except BaseException as exc:
            log.append(type(exc).__name__)
            raise
        log.append("done")

    return wrapper


@pytest.mark.parametrize("dialect", ["node", "ruby"])
async def test_enqueue_wrappers_add_fields_after_the_standard_ones(
    make_queue: Callable[..., Queue],
    resque_redis: redis.Redis,
    resque_namespace: str,
    dialect: str,
) -> None:
    queue = make_queue(dialect=dialect)
    log: list[Any] = []
    queue.around_enqueue.append(adding({"traceparent": "tp", "tracestate": "ts"}, log))
    assert await queue.enqueue("q", "J", [1]) is True
    [raw] = resque_redis.lrange(key(resque_namespace, "queue:q"), 0, -1)
    standard = queue.dialect.job("q", "J", [1])
    assert raw == standard[:-1] + b',"traceparent":"tp","tracestate":"ts"}'
    assert log == [("q", "J", [1], None), "done"]


async def test_delayed_jobs_carry_the_fields_and_duplicates_reach_the_wrapper(
    make_queue: Callable[..., Queue], resque_redis: redis.Redis, resque_namespace: str
) -> None:
    queue = make_queue()
    log: list[Any] = []
    queue.around_enqueue.append(adding({"traceparent": "tp"}, log))
    at = 4_102_444_800_000  # 2100-01-01
    assert await queue.enqueue_at(at, "q", "J", [1]) is True
    with pytest.raises(DuplicateJobError):  # same bytes: the fields are the same here
        await queue.enqueue_at(at, "q", "J", [1])
    assert await queue.enqueue_in(60_000, "q", "J", [2]) is True
    assert log[:3] == [("q", "J", [1], at), "done", ("q", "J", [1], at)]
    assert log[3] == "DuplicateJobError"
    assert log[4][:3] == ("q", "J", [2]) and log[5] == "done"
    item = b'{"class":"J","queue":"q","args":[1],"traceparent":"tp"}'
    assert resque_redis.lrange(key(resque_namespace, "delayed:4102444800"), 0, -1) == [item]
    assert resque_redis.exists(key(resque_namespace, "timestamps:" + item.decode())) == 1


async def test_a_vetoed_enqueue_never_reaches_the_wrappers(
    make_queue: Callable[..., Queue],
) -> None:
    jobs = {"locked": JobDefinition(lambda: None, plugins=("QueueLock",))}
    queue = make_queue(jobs=jobs)
    log: list[Any] = []
    queue.around_enqueue.append(adding({}, log))
    assert await queue.enqueue("q", "locked") is True
    assert await queue.enqueue("q", "locked") is False  # QueueLock: already queued
    assert log == [("q", "locked", [], None), "done"]


async def test_a_job_cut_off_by_a_stop_is_told_to_the_wrapper_as_cancelled(
    make_queue: Callable[..., Queue],
    make_worker: Callable[..., Worker],
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    queue = make_queue()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    worker = make_worker(jobs={"forever": forever})
    recorder = Recorder()
    worker.around_perform.append(recorder)
    await queue.enqueue("q", "forever")
    await worker.start()
    await poll_until(lambda: asyncio.sleep(0, started.is_set()))
    await worker.stop(grace=0)
    assert recorder.log == [("w", "enter", "forever"), ("w", "error", "CancelledError")]
    assert len(failed_entries(resque_redis, resque_namespace)) == 1  # settled as before
