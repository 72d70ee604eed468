"""A real Actionhero 29.3.5 app and a pyresque app on one Redis: tasks enqueued on one side
run on the other, one periodic task is shared by scheduler nodes on both sides, and each
side's admin calls work on the state the other produced.

The Python twins below carry the names of the app's JavaScript tasks (interop/actionhero/
tasks), as a team moving one task at a time to Python would: same name, queue and inputs.
Each side records what ran under ``<ns>:interop:*`` with ``side`` "js" or "py".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from interop.harness import Peer
from pyresque.protocol.status import Counts, is_unreadable
from pyresque.tasks import App, Input, Task, Tasks, TasksConfig
from pyresque.testing import poll_until
from pyresque.testing.tasks import find_enqueued_tasks

pytestmark = pytest.mark.interop

FAST = {"timeout": 100, "checkTimeout": 50}
FREQUENCY = 2000  # ms; enqueueIn rounds to whole seconds, so a run follows the last by 1-3 s


def ms() -> int:
    return int(time.time() * 1000)


def ah(node: Peer, method: str, *args: Any) -> Any:
    """Actionhero's ``task.<method>(...args)`` on that node."""
    return node.call("task", method=method, args=list(args))


async def ah_async(node: Peer, method: str, *args: Any) -> Any:
    # The controller answers over a pipe; keep the event loop (the Python node) running.
    return await asyncio.to_thread(ah, node, method, *args)


def registry(redis_url: str, ns: str, recorder: redis.asyncio.Redis) -> Tasks:
    """The Python twins of the app's tasks."""

    async def record(what: str, entry: dict[str, Any]) -> None:
        await recorder.rpush(f"{ns}:interop:{what}", json.dumps(entry))

    class JsRecord(Task):
        name = "jsRecord"
        description = "records that it ran (Python side)"
        inputs = {"id": Input(required=True), "note": Input(default="from-default")}

        async def run(self, params: Any, worker: Any) -> Any:
            await record("ran", {"task": "jsRecord", "side": "py", "params": dict(params)})
            return params["id"]

    class JsFail(Task):
        name = "jsFail"
        description = "throws (Python side)"

        async def run(self, params: Any, worker: Any) -> Any:
            raise RuntimeError(f"py failure {params.get('id')}")

    class JsSlow(Task):
        name = "jsSlow"
        inputs = {"id": Input(required=True), "ms": Input(default=1000)}

        async def run(self, params: Any, worker: Any) -> Any:
            await asyncio.sleep(params["ms"] / 1000)
            await record("ran", {"task": "jsSlow", "side": "py", "params": dict(params)})

    class SharedPeriodic(Task):
        name = "sharedPeriodic"
        queue = "periodic"
        frequency = FREQUENCY

        async def run(self, params: Any, worker: Any) -> None:
            start = ms()
            await asyncio.sleep(0.1)
            await record("periodic", {"side": "py", "start": start, "end": ms()})

    tasks = Tasks(redis_url, namespace=ns)
    for task in (JsRecord, JsFail, JsSlow, SharedPeriodic):
        tasks.add(task)
    return tasks


@pytest.fixture
async def py_tasks(redis_url: str, resque_namespace: str) -> AsyncIterator[Tasks]:
    recorder = redis.asyncio.from_url(redis_url)
    tasks = registry(redis_url, resque_namespace, recorder)
    yield tasks
    await tasks.aclose()
    await recorder.aclose()


def py_node(tasks: Tasks, redis_url: str, ns: str, name: str, **options: Any) -> App:
    """A pyresque app node sharing the registry's connection (fast polls)."""
    options.setdefault("timeout", 100)
    options.setdefault("check_timeout", 50)
    return App(TasksConfig(redis=redis_url, namespace=ns, **options), tasks=tasks, name=name)


def ran(client: redis.Redis, ns: str) -> list[dict[str, Any]]:
    return [json.loads(entry) for entry in client.lrange(f"{ns}:interop:ran", 0, -1)]


# -- enqueue on one side, run on the other ---------------------------------------------------


async def test_actionheros_enqueues_run_on_a_pyresque_node_with_the_same_params(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    node = actionhero(scheduler=False, minTaskProcessors=0, maxTaskProcessors=0, **FAST)
    app = py_node(py_tasks, redis_url, ns, "py-a", scheduler=True, max_task_processors=1,
                  queues=["default"])  # fmt: skip
    async with app:
        assert await ah_async(node, "enqueue", "jsRecord", {"id": 1, "extra": ["é", None]})
        assert await ah_async(node, "enqueueIn", 10, "jsRecord", {"id": 2})  # pyresque moves it
        await poll_until(_count(resque_redis, ns, 2), timeout=10)
    assert ran(resque_redis, ns) == [
        {"task": "jsRecord", "side": "py",
         "params": {"id": 1, "extra": ["é", None], "note": "from-default"}},
        {"task": "jsRecord", "side": "py", "params": {"id": 2, "note": "from-default"}},
    ]  # fmt: skip
    stats = await py_tasks.stats()
    assert stats["processed"] == "2" and "failed" not in stats


async def test_pyresques_enqueues_run_on_an_actionhero_node_with_the_same_params(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    # Byte for byte first: the same enqueue on both sides writes the same payload.
    quiet = actionhero(scheduler=False, minTaskProcessors=0, maxTaskProcessors=0, **FAST)
    inputs = {"id": 7, "note": "ünï \u2028 </script>", "n": [1.5, 1e21, -0.0]}
    assert await ah_async(quiet, "enqueue", "jsRecord", dict(inputs), "bytes")
    assert await py_tasks.enqueue("jsRecord", dict(inputs), "bytes")
    js_bytes, py_bytes = resque_redis.lrange(f"{ns}:queue:bytes", 0, -1)
    assert py_bytes == js_bytes
    assert await asyncio.to_thread(quiet.call, "stop") is True

    node = actionhero(scheduler=True, minTaskProcessors=1, maxTaskProcessors=1,
                      queues=["default"], **FAST)  # fmt: skip
    assert await py_tasks.enqueue("jsRecord", {"id": 3}) is True
    assert await py_tasks.enqueue_in(10, "jsRecord", {"id": 4}) is True  # Actionhero moves it
    await poll_until(_count(resque_redis, ns, 2), timeout=10)
    assert ran(resque_redis, ns) == [
        {"task": "jsRecord", "side": "js", "params": {"id": 3, "note": "from-default"}},
        {"task": "jsRecord", "side": "js", "params": {"id": 4, "note": "from-default"}},
    ]
    details = await ah_async(node, "details")
    assert details["stats"]["processed"] == "2"


def _count(client: redis.Redis, ns: str, n: int) -> Callable[[], Any]:
    async def probe() -> bool:
        return int(client.llen(f"{ns}:interop:ran")) >= n

    return probe


# -- one periodic task, scheduler nodes on both sides ----------------------------------------


class Chain:
    """Watches the shared periodic task: every copy count seen, and each run."""

    def __init__(self, tasks: Tasks, client: redis.Redis, ns: str) -> None:
        self.tasks, self.client, self.ns = tasks, client, ns
        self.most_copies = 0
        self.crowded: list[tuple[int, list[dict[str, Any]]]] = []  # when more than one

    def runs(self) -> list[dict[str, Any]]:
        raw = self.client.lrange(f"{self.ns}:interop:periodic", 0, -1)
        return [json.loads(entry) for entry in raw]

    def count(self) -> int:
        """Copies queued or delayed, read in one transaction: a copy the scheduler moves
        between two separate reads would otherwise be seen twice."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lrange(f"{self.ns}:queue:periodic", 0, -1)
            pipe.smembers(
                f'{self.ns}:timestamps:{{"class":"sharedPeriodic","queue":"periodic","args":[{{}}]}}'
            )
            queued, delayed = pipe.execute()
        n = sum(b'"sharedPeriodic"' in job for job in queued) + len(delayed)
        if n > 1:
            self.crowded.append((ms(), [*queued, *delayed]))
        self.most_copies = max(self.most_copies, n)
        return n

    async def copies(self) -> list[dict[str, Any]]:
        self.count()
        return await find_enqueued_tasks(self.tasks, "sharedPeriodic")

    async def watch(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.copies()
            await asyncio.sleep(0.02)  # a sampling interval, not a wait for something

    async def safe_to_boot(self) -> None:
        """Until the chain's next run is delayed at least 1 s ahead: when an Actionhero
        scheduler node may boot.

        A scheduler node enqueues its periodic tasks as it boots; if the chain's copy is
        running at that moment, an Actionhero node starts a second chain (catalogue 7b.2),
        and nothing on the JavaScript side ever removes it. Booting while the copy waits in
        the delayed schedule is refused by DelayQueueLock. A pyresque node may boot at any
        moment (spec/tasks.md, "Periodic tasks"; interop/test_actionhero_periodic.py).
        """

        async def delayed_ahead() -> bool:
            found = await self.copies()
            return len(found) == 1 and (found[0]["timestamp"] or 0) >= ms() + 1000

        await poll_until(delayed_ahead, timeout=15, interval=0.02)


async def test_a_periodic_task_shared_by_both_sides_runs_once_per_period_and_survives_either(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    chain = Chain(py_tasks, resque_redis, ns)
    options = dict(scheduler=True, minTaskProcessors=1, maxTaskProcessors=1,
                   queues=["periodic"], **FAST)  # fmt: skip
    env = {"SHARED_PERIODIC_FREQUENCY": str(FREQUENCY)}
    node = actionhero(env=env, **options)
    app = py_node(py_tasks, redis_url, ns, "py-periodic", scheduler=True,
                  max_task_processors=1, queues=["periodic"])  # fmt: skip
    leader = f"{ns}:resque_scheduler_leader_lock"

    # 1. Both sides: Actionhero booted first and leads; the Python node joins, whatever
    # the chain is doing (its boot enqueue finds the copy wherever it is).
    ah_leader = node.call("info")["schedulerName"].encode()
    await poll_until(lambda: _is(resque_redis.get(leader), ah_leader), timeout=5)
    await app.start()
    await chain.watch(8)
    both = len(chain.runs())
    assert resque_redis.get(leader) == node.call("info")["schedulerName"].encode()

    # 2. The Actionhero node stops: the Python node takes the lead and the chain goes on.
    assert await asyncio.to_thread(node.call, "stop") is True
    await poll_until(lambda: _is(resque_redis.get(leader), b"py-periodic"), timeout=5)
    await chain.watch(6)
    python_only = len(chain.runs()) - both

    # 3. The Actionhero node is back, then the Python node stops: Actionhero leads again.
    await chain.safe_to_boot()
    await asyncio.to_thread(node.call, "start", namespace=ns, env=env, **options)
    await app.stop()
    await chain.watch(6)
    runs = chain.runs()
    js_after = runs[both + python_only :]

    assert both >= 3 and python_only >= 2 and len(js_after) >= 2, [r["side"] for r in runs]
    assert {r["side"] for r in runs[both : both + python_only]} == {"py"}
    assert {r["side"] for r in js_after[1:]} == {"js"}  # the first may be Python's last
    assert resque_redis.get(leader) == node.call("info")["schedulerName"].encode()
    # Once per period, never two at once: runs never overlap, and the next starts at
    # least ~1 s after the last ended (enqueueIn(2000) rounds to whole seconds).
    runs.sort(key=lambda r: r["start"])
    gaps = [b["start"] - a["end"] for a, b in zip(runs, runs[1:], strict=False)]
    assert min(gaps) >= 800, gaps
    assert 1000 <= sum(gaps) / len(gaps) <= 3200, gaps
    assert chain.most_copies == 1, (chain.crowded, runs)  # one chain throughout


async def _is(value: Any, expected: Any) -> bool:
    return bool(value == expected)


# -- each side's admin calls on the other's state --------------------------------------------


async def test_actionheros_admin_calls_work_on_state_pyresque_produced(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    node = actionhero(scheduler=False, minTaskProcessors=0, maxTaskProcessors=0, **FAST)
    app = py_node(py_tasks, redis_url, ns, "py-admin", max_task_processors=1,
                  queues=["default", "slow"])  # fmt: skip
    async with app:
        assert await py_tasks.enqueue("jsFail", {"id": 1})
        await poll_until(lambda: _truthy(py_tasks.failed_count()), timeout=10)
        assert await py_tasks.enqueue("jsSlow", {"id": 2, "ms": 1500}, "slow")

        async def busy() -> bool:
            return any(v != "started" for v in (await py_tasks.all_working_on()).values())

        await poll_until(busy, timeout=10)
        details = await ah_async(node, "details")
        ours = await py_tasks.all_working_on()
        assert details["workers"] == json.loads(json.dumps(ours))
        job = next(v for v in details["workers"].values() if v != "started")
        assert job["queue"] == "slow" and job["payload"]["class"] == "jsSlow"
        worker = next(iter(ours))
        assert details["stats"] == {"failed": "1", f"failed:{worker}": "1"}
        assert details["queues"]["default"] == {"length": 0}
        await poll_until(_count(resque_redis, ns, 1), timeout=10)  # jsSlow done

    # Actionhero reads the failure pyresque wrote, and its retry removes exactly that entry
    # (node-resque deletes by re-serializing the parsed entry: our bytes must be node's).
    failed = await ah_async(node, "failed", 0, -1)
    assert len(failed) == 1, json.dumps(failed)
    entry = failed[0]
    assert entry["payload"] == {"class": "jsFail", "queue": "default", "args": [{"id": 1}]}
    assert entry["exception"] == "RuntimeError" and entry["error"] == "py failure 1"
    assert entry["queue"] == "default" and entry["worker"] == worker
    assert await ah_async(node, "failedCount") == 1
    assert await ah_async(node, "retryAndRemoveFailed", entry) is True
    assert await ah_async(node, "failedCount") == 0
    assert await ah_async(node, "queued", "default", 0, -1) == [entry["payload"]]


async def _truthy(value: Any) -> bool:
    return bool(await value)


async def test_actionhero_cleans_a_killed_pyresque_worker_and_pyresque_sees_the_result(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    tmp_path: Any,
) -> None:
    from tests.processes import LoggedProcess  # a CLI subprocess, as in the CLI tests

    ns = resque_namespace
    folder = tmp_path / "app"
    (folder / "tasks").mkdir(parents=True)
    (folder / "pyresque.toml").write_text(
        f'namespace = "{ns}"\nmax_task_processors = 1\nqueues = ["slow"]\ntimeout = 100\n'
    )
    (folder / "tasks" / "slow.py").write_text(SLOW_TASK)
    import os
    import sys

    worker = LoggedProcess(
        [sys.executable, "-m", "pyresque", "start", "--app", str(folder)],
        env={**os.environ, "REDIS_URL": redis_url},
    )
    try:
        assert await py_tasks.enqueue("jsSlow", {"id": 9, "ms": 60_000}, "slow")

        async def busy() -> str | None:
            return next(
                (n for n, v in (await py_tasks.all_working_on()).items() if v != "started"),
                None,
            )

        name = await poll_until(busy, timeout=20)
        worker.proc.kill()  # a crash: no cleanup, the registration and job stay
        worker.wait()
    finally:
        worker.close()
    node = actionhero(scheduler=False, minTaskProcessors=0, maxTaskProcessors=0, **FAST)
    assert await ah_async(node, "workers") == {name: "slow"}
    cleaned = await ah_async(node, "cleanOldWorkers", 1)
    assert list(cleaned) == [name]
    assert cleaned[name]["payload"]["class"] == "jsSlow"
    assert await py_tasks.workers() == {}
    failed = await py_tasks.failed()
    assert len(failed) == 1 and failed[0]["worker"] == name
    assert failed[0]["payload"]["args"] == [{"id": 9, "ms": 60_000}]
    assert failed[0]["exception"] == "Worker Timeout (killed manually)"
    assert await py_tasks.retry_and_remove_failed(failed[0]) is True
    assert await py_tasks.queued("slow") == [failed[0]["payload"]]


SLOW_TASK = """
import asyncio

from pyresque.tasks import Input, Task


class JsSlow(Task):
    name = "jsSlow"
    inputs = {"id": Input(required=True), "ms": Input(default=1000)}

    async def run(self, params, worker):
        await asyncio.sleep(params["ms"] / 1000)
"""


async def test_pyresques_admin_calls_work_on_state_actionhero_produced(
    actionhero: Callable[..., Peer],
    py_tasks: Tasks,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    node = actionhero(scheduler=True, minTaskProcessors=1, maxTaskProcessors=1,
                      queues=["default"], **FAST)  # fmt: skip
    assert await ah_async(node, "enqueue", "jsFail", {"id": 5})
    await poll_until(lambda: _truthy(py_tasks.failed_count()), timeout=10)
    assert await ah_async(node, "enqueue", "jsSlow", {"id": 6, "ms": 60_000})

    async def busy() -> str | None:
        return next(
            (n for n, v in (await py_tasks.all_working_on()).items() if v != "started"), None
        )

    name = await poll_until(busy, timeout=10)
    details = await py_tasks.details()
    # Actionhero's health view, in the one status model: the same records, counts as numbers.
    assert not is_unreadable(details.workers)
    working = {n: w.working_on or "started" for n, w in details.workers.items()}
    assert working == await ah_async(node, "allWorkingOn")
    assert {n: w.kind for n, w in details.workers.items()} == {name: "node"}
    assert details.workers[name].working_since == pytest.approx(time.time() * 1000, abs=30_000)
    assert details.stats == Counts(processed=0, failed=1)
    assert details.workers[name].stats == Counts(processed=0, failed=1)
    assert details.leader == node.call("info")["schedulerName"]
    assert details.failed == 1 and details.delayed.jobs == 0

    # pyresque reads Actionhero's failure and retries it, removing exactly that entry.
    failed = await py_tasks.failed()
    assert len(failed) == 1, json.dumps(failed)
    entry = failed[0]
    assert entry["payload"] == {"class": "jsFail", "queue": "default", "args": [{"id": 5}]}
    assert entry["exception"] == "Error" and entry["error"] == "js failure 5"
    assert entry["worker"] == name
    # A crash of the Actionhero node mid-job: pyresque's clean_old_workers cleans it.
    node.kill()
    assert await py_tasks.retry_and_remove_failed(entry) is True
    assert await py_tasks.failed_count() == 0
    assert await py_tasks.queued("default") == [entry["payload"]]
    cleaned = await py_tasks.clean_old_workers(1)
    assert name in cleaned and cleaned[name]["payload"]["class"] == "jsSlow"
    assert (await py_tasks.failed())[0]["payload"]["args"] == [{"id": 6, "ms": 60_000}]
    assert name not in await py_tasks.workers()
