"""The Python systems' side of benchmarks/anchors.py: one phase per run, JSON on stdout.

    python benchmarks/anchor_side.py '<json config>'

``{"system": "pyresque" | "rq" | "arq", "mode": "enqueue" | "drain" | "latency", ...}``
(what each mode takes: the functions below). Each system is imported only when asked for,
so this runs wherever that one system is installed. The node-resque side is
node_enqueue.js and node_work.js.

* enqueue: N no-op jobs (argument: their index) through the system's own client, awaited
  one at a time (concurrency 0) or with that many calls in flight; the seconds it took.
* drain: the queue already holds N such jobs; the workers start and run them all. Each job
  records its index and its start time (``time.time()``); the summary says how many ran,
  how many distinct indexes, and the first and last start.
* latency: one idle worker; one job at a time, each once the worker is idle again and a
  random gap has passed; enqueue call -> job start, in ms, both ``time.time()``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from anchor_jobs import QUEUE  # noqa: E402


class Record:
    """What the in-process jobs ran: index -> times run, and the first and last start."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.ran = 0
        self.first = 0.0
        self.last = 0.0

    def __call__(self, i: int) -> None:
        now = time.time()
        if not self.ran:
            self.first = now
        self.last = now
        self.ran += 1
        self.seen[i] = self.seen.get(i, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {"ran": self.ran, "distinct": len(self.seen), "first": self.first, "last": self.last}


def summary_of_lines(lines: list[str]) -> dict[str, Any]:
    record = Record()
    stamps = sorted((float(t), int(i)) for i, t in (line.split() for line in lines if line))
    for _started, i in stamps:
        record(i)
    if stamps:
        record.first, record.last = stamps[0][0], stamps[-1][0]
    return record.summary()


def run_async(config: dict[str, Any], main: Coroutine[Any, Any, Any]) -> Any:
    if config.get("loop") == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


async def in_flight(jobs: int, concurrency: int, call: Callable[[int], Any]) -> None:
    if concurrency <= 0:
        for i in range(jobs):
            await call(i)
        return
    for done in range(0, jobs, concurrency):
        await asyncio.gather(*(call(i) for i in range(done, min(jobs, done + concurrency))))


def gap(config: dict[str, Any]) -> float:
    low, high = config.get("gap_ms", (2.0, 20.0))
    return random.uniform(low, high) / 1000


# -- pyresque -------------------------------------------------------------------------------
async def pyresque_enqueue(config: dict[str, Any]) -> dict[str, Any]:
    from pyresque import Queue

    async with Queue(config["url"], namespace=config["namespace"]) as queue:
        await queue.enqueue("warm", "up")  # loads the enqueue script; not timed
        start = time.perf_counter()
        await in_flight(
            config["jobs"],
            config["concurrency"],
            lambda i: queue.enqueue(QUEUE, "noop", [i]),
        )
        return {"seconds": time.perf_counter() - start}


async def pyresque_drain(config: dict[str, Any]) -> dict[str, Any]:
    """1 Worker, or N Workers in one process sharing one connection and one Waker (as a
    MultiWorker builds them), started together; done once every job ran and every worker
    is idle again."""
    from pyresque.connection import open_async_driver
    from pyresque.worker.waker import Waker
    from pyresque.worker.worker import Worker

    jobs, workers = config["jobs"], config["workers"]
    record = Record()

    async def noop(i: int) -> None:
        record(i)

    driver = open_async_driver(config["url"])
    await driver.ping()
    waker = Waker(driver.open_blocking)
    pool = [
        Worker(
            driver,
            [QUEUE],
            {"noop": noop},
            name=f"{socket.gethostname()}:{os.getpid()}+{n + 1}",
            namespace=config["namespace"],
            waker=waker,
        )
        for n in range(workers)
    ]
    idle = [False] * workers
    finished = asyncio.Event()

    def watch(n: int, worker: Worker) -> None:
        def job(*_: Any) -> None:
            idle[n] = False

        def pause(*_: Any) -> None:
            idle[n] = True
            if record.ran >= jobs and all(idle):
                finished.set()

        worker.on("job", job)
        worker.on("pause", pause)

    for n, worker in enumerate(pool):
        watch(n, worker)
    start = time.perf_counter()
    await asyncio.gather(*(w.start() for w in pool))
    await asyncio.wait_for(finished.wait(), config.get("deadline", 600))
    seconds = time.perf_counter() - start
    await asyncio.gather(*(w.stop() for w in pool))
    await waker.aclose()
    await driver.aclose()
    return {**record.summary(), "seconds": seconds}


async def pyresque_latency(config: dict[str, Any]) -> dict[str, Any]:
    from pyresque import Queue
    from pyresque.worker.worker import Worker

    started = 0.0
    done = asyncio.Event()
    paused = asyncio.Event()

    async def lat() -> None:
        nonlocal started
        started = time.time()

    worker = Worker(
        config["url"],
        [QUEUE],
        {"lat": lat},
        name=f"{socket.gethostname()}:{os.getpid()}+1",
        namespace=config["namespace"],
    )
    worker.on("success", lambda *_: done.set())
    worker.on("pause", lambda *_: paused.set())
    await worker.start()
    await paused.wait()
    found: list[float] = []
    async with Queue(config["url"], namespace=config["namespace"]) as queue:
        for n in range(config["samples"] + 1):  # one warm-up job first: not counted
            await asyncio.sleep(gap(config))
            done.clear()
            enqueued = time.time()
            await queue.enqueue(QUEUE, "lat", [])
            await done.wait()
            if n:
                found.append((started - enqueued) * 1000)
    await worker.stop()
    return {"samples": found}


# -- rq -------------------------------------------------------------------------------------
def rq_connection(config: dict[str, Any]) -> Any:
    import redis

    return redis.Redis.from_url(config["url"])


def rq_enqueue(config: dict[str, Any]) -> dict[str, Any]:
    from rq import Queue

    connection = rq_connection(config)
    queue = Queue(QUEUE, connection=connection)
    Queue("warm", connection=connection).enqueue("anchor_jobs.rq_noop", -1)  # not timed
    start = time.perf_counter()
    for i in range(config["jobs"]):
        queue.enqueue("anchor_jobs.rq_noop", i)
    seconds = time.perf_counter() - start
    Queue("warm", connection=connection).empty()
    return {"seconds": seconds}


def rq_worker_class(kind: str, ready: str | None = None) -> Any:
    from rq import SimpleWorker, Worker

    base = SimpleWorker if kind == "simple" else Worker
    if ready is None:
        return base

    class Signalling(base):  # type: ignore[misc,valid-type]
        """Pushes to ``ready`` each time it goes back to waiting for a job."""

        def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
            self.connection.rpush(ready, b"1")
            return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    return Signalling


def rq_drain(config: dict[str, Any]) -> dict[str, Any]:
    """rq's own burst run of the filled queue, in this process (the forking Worker forks a
    child per job from here)."""
    from rq import Queue

    record = Path(config["record"])
    os.environ["ANCHORS_RECORD"] = str(record)
    record.write_text("")
    connection = rq_connection(config)
    queue = Queue(QUEUE, connection=connection)
    worker = rq_worker_class(config["worker"])([queue])
    start = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - start
    return {
        **summary_of_lines(record.read_text().splitlines()),
        "seconds": seconds,
        "left": queue.count,
        "failed": queue.failed_job_registry.count,
    }


def rq_work(config: dict[str, Any]) -> dict[str, Any]:
    """An rq worker that runs until SIGTERM (rq's warm shutdown), for rq_latency."""
    from rq import Queue

    os.environ["ANCHORS_REDIS"] = config["url"]
    os.environ["ANCHORS_STAMPS"] = config["stamps"]
    connection = rq_connection(config)
    worker = rq_worker_class(config["worker"], config["ready"])(
        [Queue(QUEUE, connection=connection)]
    )
    worker.work(logging_level="WARNING")
    return {}


def rq_latency(config: dict[str, Any]) -> dict[str, Any]:
    from rq import Queue

    connection = rq_connection(config)
    ready, stamps = "anchors:rq:ready", "anchors:rq:stamps"
    connection.delete(ready, stamps)
    worker = subprocess.Popen(
        [
            sys.executable,
            __file__,
            json.dumps({**config, "mode": "work", "ready": ready, "stamps": stamps}),
        ],
        cwd=HERE,
        stdout=subprocess.DEVNULL,
    )
    queue = Queue(QUEUE, connection=connection)
    found: list[float] = []
    try:
        for n in range(config["samples"] + 1):  # one warm-up job first: not counted
            if connection.blpop([ready], timeout=30) is None:
                raise RuntimeError("the rq worker did not come back to waiting for a job")
            time.sleep(gap(config))
            enqueued = time.time()
            queue.enqueue("anchor_jobs.rq_stamp")
            got = connection.blpop([stamps], timeout=30)
            if got is None:
                raise RuntimeError("the rq latency job did not run")
            if n:
                found.append((float(got[1]) - enqueued) * 1000)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    return {"samples": found}


# -- arq ------------------------------------------------------------------------------------
def arq_settings(config: dict[str, Any]) -> Any:
    from arq.connections import RedisSettings

    return RedisSettings.from_dsn(config["url"])


async def arq_enqueue(config: dict[str, Any]) -> dict[str, Any]:
    from arq import create_pool

    pool = await create_pool(arq_settings(config), default_queue_name=config["queue"])
    await pool.enqueue_job("noop", -1, _queue_name="arq:warm")  # not timed
    start = time.perf_counter()
    await in_flight(config["jobs"], config["concurrency"], lambda i: pool.enqueue_job("noop", i))
    seconds = time.perf_counter() - start
    await pool.delete("arq:warm")
    await pool.aclose()
    return {"seconds": seconds}


async def arq_drain(config: dict[str, Any]) -> dict[str, Any]:
    from arq.worker import Worker, func

    record = Record()

    async def noop(ctx: dict[str, Any], i: int) -> None:
        record(i)

    worker = Worker(
        functions=[func(noop, name="noop")],
        queue_name=config["queue"],
        redis_settings=arq_settings(config),
        burst=True,
        handle_signals=False,
        max_jobs=config["max_jobs"],
        poll_delay=config["poll_delay"],
    )
    start = time.perf_counter()
    await worker.main()
    seconds = time.perf_counter() - start
    complete, failed = worker.jobs_complete, worker.jobs_failed
    left = await worker.pool.zcard(config["queue"])
    await worker.close()
    return {
        **record.summary(),
        "seconds": seconds,
        "complete": complete,
        "failed": failed,
        "left": left,
    }


async def arq_latency(config: dict[str, Any]) -> dict[str, Any]:
    from arq import create_pool
    from arq.worker import Worker, func

    started = 0.0
    done = asyncio.Event()
    up = asyncio.Event()

    async def lat(ctx: dict[str, Any]) -> None:
        nonlocal started
        started = time.time()

    async def ended(ctx: dict[str, Any]) -> None:
        done.set()

    async def startup(ctx: dict[str, Any]) -> None:
        up.set()

    worker = Worker(
        functions=[func(lat, name="lat")],
        queue_name=config["queue"],
        redis_settings=arq_settings(config),
        handle_signals=False,
        max_jobs=config["max_jobs"],
        poll_delay=config["poll_delay"],
        on_startup=startup,
        after_job_end=ended,
    )
    running = asyncio.create_task(worker.main())
    await up.wait()
    pool = await create_pool(arq_settings(config), default_queue_name=config["queue"])
    found: list[float] = []
    for n in range(config["samples"] + 1):  # one warm-up job first: not counted
        await asyncio.sleep(gap(config))
        done.clear()
        enqueued = time.time()
        await pool.enqueue_job("lat")
        await asyncio.wait_for(done.wait(), 30)
        if n:
            found.append((started - enqueued) * 1000)
    running.cancel()
    try:
        await running
    except asyncio.CancelledError:
        pass
    await worker.close()
    await pool.aclose()
    return {"samples": found}


def main() -> int:
    config: dict[str, Any] = json.loads(sys.argv[1])
    system, mode = config["system"], config["mode"]
    result: dict[str, Any]
    if system == "rq":
        result = {"enqueue": rq_enqueue, "drain": rq_drain, "latency": rq_latency, "work": rq_work}[
            mode
        ](config)
    else:
        phases: dict[str, Any] = {
            "pyresque": {
                "enqueue": pyresque_enqueue,
                "drain": pyresque_drain,
                "latency": pyresque_latency,
            },
            "arq": {"enqueue": arq_enqueue, "drain": arq_drain, "latency": arq_latency},
        }[system]
        result = run_async(config, phases[mode](config))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
