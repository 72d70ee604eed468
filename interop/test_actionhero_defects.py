"""Actionhero 29.3.5's task-layer defects, each shown on the real Actionhero app and
contrasted with pyresque's task layer in the same scenario.

Each test runs one scenario twice. First it runs against real Actionhero nodes
(interop/actionhero, on the test's namespace) and asserts the defect as measured. Then it
runs against pyresque's :class:`Tasks` (on a second namespace of the same kind, so neither
side sees the other's keys) and asserts that the defect is gone. The numbers in the test
docstrings are the defects' numbers in section 7b of the Actionhero task catalogue
(``actionhero-tasks.md``).

The Python twins of the app's JavaScript tasks are defined here: ``jsRecord`` and
``sharedPeriodic`` (same names, queues and inputs as interop/actionhero/tasks/). The
recording middleware on each side writes one entry per hook call, shaped alike:
``{middleware, hook, task, queue, args, job}``. On Actionhero the entries go to
``<ns>:interop:middleware`` (controller op ``middleware``); on pyresque they go to a list.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import redis

from interop.harness import Peer, PeerError
from pyresque.plugins.base import Plugin
from pyresque.tasks import (
    App,
    Input,
    InputValidationError,
    Task,
    TaskError,
    TaskMiddleware,
    Tasks,
    TasksConfig,
)
from pyresque.testing import (
    delete_enqueued_tasks,
    find_enqueued_tasks,
    poll_until,
    run_full_task,
    wait_until,
)

pytestmark = pytest.mark.interop

# A node that only enqueues: no workers, no scheduler (nothing moves or runs by itself).
ENQUEUE_ONLY = {
    "scheduler": False,
    "minTaskProcessors": 0,
    "maxTaskProcessors": 0,
    "timeout": 100,
    "checkTimeout": 50,
}
# sharedPeriodic's delayed copies stay far in the future.
FAR = {"SHARED_PERIODIC_FREQUENCY": "60000"}
PERIODIC_LOCK = "lock:sharedPeriodic:periodic:[{}]"

RAN: list[dict[str, Any]] = []


class JsRecord(Task):
    """Twin of interop/actionhero/tasks/jsRecord.js."""

    name = "jsRecord"
    description = "records that it ran (Python side)"
    inputs = {"id": Input(required=True), "note": Input(default="from-default")}

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        RAN.append({"task": "jsRecord", "side": "py", "params": dict(params)})
        return params["id"]


class SharedPeriodic(Task):
    """Twin of interop/actionhero/tasks/sharedPeriodic.js (at SHARED_PERIODIC_FREQUENCY
    60000)."""

    name = "sharedPeriodic"
    description = "periodic (Python side)"
    queue = "periodic"
    frequency = 60_000

    async def run(self, params: Mapping[str, Any], worker: Any) -> None:
        RAN.append({"task": "sharedPeriodic", "side": "py"})


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RAN.clear()


@pytest.fixture
def py_namespace(resque_namespace: str, namespaces: list[str]) -> str:
    """pyresque's namespace, beside the test's (Actionhero's); deleted afterwards."""
    namespace = f"{resque_namespace}-py"
    namespaces.append(namespace)
    return namespace


@pytest.fixture
async def tasks(redis_url: str, py_namespace: str) -> AsyncIterator[Tasks]:
    registry = Tasks(redis_url, namespace=py_namespace)
    registry.add(JsRecord)
    registry.add(SharedPeriodic)
    yield registry
    await registry.aclose()


def task(node: Peer, method: str, *args: Any) -> Any:
    return node.call("task", method=method, args=list(args))


def recorded(client: redis.Redis, namespace: str, what: str) -> list[Any]:
    return [json.loads(entry) for entry in client.lrange(f"{namespace}:interop:{what}", 0, -1)]


def recording(
    name: str, into: list[dict[str, Any]], *, priority: int = 100, veto_enqueues: int = 0
) -> TaskMiddleware:
    """pyresque's twin of interop/actionhero/lib/middleware.js: a global middleware recording
    every hook call into ``into``; its first ``veto_enqueues`` pre_enqueue calls veto."""
    vetoes = [veto_enqueues]

    def hook(kind: str) -> Callable[[Plugin], bool]:
        def record(plugin: Plugin) -> bool:
            into.append({
                "middleware": name,
                "hook": kind,
                "task": plugin.job_class,
                "queue": plugin.queue,
                "args": json.loads(json.dumps(plugin.args, default=dict)),
                # The job a worker runs (owner: a Worker); enqueue hooks have none.
                "job": getattr(plugin.owner, "job", None),
            })  # fmt: skip
            if kind == "preEnqueue" and vetoes[0] > 0:
                vetoes[0] -= 1
                return False
            return True

        return record

    return TaskMiddleware(
        name,
        global_=True,
        priority=priority,
        pre_enqueue=hook("preEnqueue"),
        post_enqueue=hook("postEnqueue"),
        pre_processor=hook("preProcessor"),
        post_processor=hook("postProcessor"),
    )


def hooks_of(entries: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(e["middleware"], e["hook"], e["args"]) for e in entries]


def delayed_jobs(all_delayed: Mapping[str, list[Any]]) -> list[tuple[int, Any]]:
    return sorted((int(ms), job) for ms, jobs in all_delayed.items() for job in jobs)


# -- 1. recurrent-task helpers that match nothing -------------------------------------------


async def test_stop_recurrent_task_stops_the_chain_where_actionheros_does_not(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 1: stopRecurrentTask deletes jobs with args ``[null]``, and Actionhero
    enqueues periodic tasks with ``[{}]``: it removes nothing and leaves the lock."""
    ns = resque_namespace
    node = actionhero(env=FAR, **ENQUEUE_ONLY)
    # A chain as Actionhero makes one: the boot enqueue (queued, with QueueLock's lock) and
    # a run's re-enqueue (a delayed copy, `frequency` ms ahead).
    assert task(node, "enqueueAllRecurrentTasks") == ["sharedPeriodic"]
    assert task(node, "enqueueIn", 60_000, "sharedPeriodic", {}) is True

    assert task(node, "stopRecurrentTask", "sharedPeriodic") == 0
    assert task(node, "queued", "periodic", 0, -1) == [
        {"class": "sharedPeriodic", "queue": "periodic", "args": [{}]}
    ]
    assert [job for _, job in delayed_jobs(task(node, "allDelayed"))] == [
        {"class": "sharedPeriodic", "queue": "periodic", "args": [{}]}
    ]
    assert list(task(node, "locks")) == [PERIODIC_LOCK]
    assert resque_redis.ttl(f"{ns}:{PERIODIC_LOCK}") > 3500
    assert task(node, "enqueue", "sharedPeriodic", {}) is False  # still locked

    assert await tasks.enqueue_all_recurrent_tasks() == ["sharedPeriodic"]
    assert await tasks.enqueue_in(60_000, "sharedPeriodic", {}) is True
    assert await tasks.stop_recurrent_task("sharedPeriodic") == 2
    assert await tasks.queued("periodic") == []
    assert await tasks.all_delayed() == {}
    assert await tasks.locks() == {}
    assert await tasks.enqueue("sharedPeriodic", {}) is True  # the task can start again


async def test_enqueue_recurrent_task_keeps_one_copy_where_actionheros_adds_another(
    actionhero: Callable[..., Peer], tasks: Tasks
) -> None:
    """Defect 1: enqueueRecurrentTask's "one instance" deletes (``del``, ``delDelayed``)
    look for args ``[null]``, so the queued ``[{}]`` copy stays beside the new delayed
    one."""
    node = actionhero(env=FAR, **ENQUEUE_ONLY)
    assert task(node, "enqueueAllRecurrentTasks") == ["sharedPeriodic"]
    assert task(node, "enqueueRecurrentTask", "sharedPeriodic") is None
    copy = {"class": "sharedPeriodic", "queue": "periodic", "args": [{}]}
    assert task(node, "queued", "periodic", 0, -1) == [copy]
    assert [job for _, job in delayed_jobs(task(node, "allDelayed"))] == [copy]

    assert await tasks.enqueue_all_recurrent_tasks() == ["sharedPeriodic"]
    assert await tasks.enqueue_recurrent_task("sharedPeriodic") is True
    assert await tasks.queued("periodic") == []
    assert [job for _, job in delayed_jobs(await tasks.all_delayed())] == [copy]
    assert await tasks.locks() == {}  # the removed copy's QueueLock went with it


# -- 2. a scheduler node booting during a run ------------------------------------------------


async def test_a_scheduler_node_booting_mid_run_starts_no_second_chain_where_actionhero_does(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    redis_url: str,
    py_namespace: str,
) -> None:
    """Defect 2: while a periodic task runs, its QueueLock is gone and it has no delayed
    copy yet, so a scheduler node booting then enqueues a second copy. On Actionhero both
    copies run and re-enqueue themselves at different seconds: two chains for good.
    pyresque's boot enqueue sees the run (its JobLock) and enqueues nothing."""
    ns = resque_namespace
    extra = {"INTEROP_EXTRA_TASKS": "1"}  # loads jsSlowPeriodic (60 s frequency)
    node_a = actionhero(
        env=extra, scheduler=True, minTaskProcessors=1, maxTaskProcessors=1,
        queues=["slowPeriodic"], timeout=100, checkTimeout=50,
    )  # fmt: skip
    wait_until(lambda: recorded(resque_redis, ns, "slowPeriodic"))  # A's boot run started
    actionhero(env=extra, **{**ENQUEUE_ONLY, "scheduler": True})  # node B boots
    copy = {"class": "jsSlowPeriodic", "queue": "slowPeriodic", "args": [{}]}
    assert task(node_a, "queued", "slowPeriodic", 0, -1) == [copy]  # B's boot enqueue
    resque_redis.set(f"{ns}:interop:release", "1")

    events = wait_until(
        lambda: len(found := recorded(resque_redis, ns, "slowPeriodic")) == 4 and found,
        timeout=10,
    )
    assert [e["event"] for e in events] == ["start", "end", "start", "end"]  # two runs
    delayed = wait_until(lambda: len(d := delayed_jobs(task(node_a, "allDelayed"))) == 2 and d)
    assert [job for _, job in delayed] == [copy, copy]  # two chains
    assert delayed[1][0] - delayed[0][0] >= 1000

    py_runs: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    class SlowPeriodic(Task):
        """Twin of interop/actionhero/extra-tasks/jsSlowPeriodic.js."""

        name = "jsSlowPeriodic"
        queue = "slowPeriodic"
        frequency = 60_000

        async def run(self, params: Mapping[str, Any], worker: Any) -> None:
            py_runs.append("start")
            started.set()
            await release.wait()
            await asyncio.sleep(1.1)
            py_runs.append("end")

    def config(**options: Any) -> TasksConfig:
        return TasksConfig(
            redis=redis_url, namespace=py_namespace, timeout=100, check_timeout=50, **options
        )

    registries = [Tasks(redis_url, namespace=py_namespace) for _ in range(2)]
    for registry in registries:
        registry.add(SlowPeriodic)
    app_a = App(
        config(scheduler=True, min_task_processors=1, max_task_processors=1,
               queues=("slowPeriodic",)),
        tasks=registries[0],
    )  # fmt: skip
    app_b = App(config(scheduler=True), tasks=registries[1])
    try:
        await app_a.start()
        await asyncio.wait_for(started.wait(), 5)
        await app_b.start()  # node B boots mid-run
        assert await registries[1].queued("slowPeriodic") == []
        release.set()
        await poll_until(registries[0].all_delayed)
        await app_a.stop()  # waits for a run in progress, if any
        await app_b.stop()
        assert py_runs == ["start", "end"]  # one run: no second copy
        assert await registries[0].queued("slowPeriodic") == []
        assert [job for _, job in delayed_jobs(await registries[0].all_delayed())] == [copy]
    finally:
        await app_a.stop()
        await app_b.stop()
        for registry in registries:
            await registry.aclose()


# -- 4a. a veto after QueueLock --------------------------------------------------------------


@pytest.mark.parametrize("veto", ["middleware", "delayed copy"])
async def test_a_vetoed_periodic_enqueue_gives_its_queue_lock_back_where_actionhero_keeps_it(
    veto: str,
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 4a: QueueLock takes its lock (1 h) before the later DelayQueueLock or a
    middleware's preEnqueue vetoes. On Actionhero the lock stays, so nothing is queued
    and the task is refused until it expires."""
    ns = resque_namespace
    node = actionhero(env=FAR, **ENQUEUE_ONLY)
    if veto == "middleware":
        node.call("middleware", name="gate", vetoEnqueues=1)
    else:
        assert task(node, "enqueueIn", 60_000, "sharedPeriodic", {}) is True
    assert task(node, "enqueue", "sharedPeriodic", {}) is False
    assert list(task(node, "locks")) == [PERIODIC_LOCK]
    assert resque_redis.ttl(f"{ns}:{PERIODIC_LOCK}") > 3500
    if veto == "delayed copy":
        assert len(task(node, "delDelayed", "periodic", "sharedPeriodic", {})) == 1
    # Nothing queued or delayed, yet the task cannot be enqueued.
    assert task(node, "queued", "periodic", 0, -1) == []
    assert task(node, "allDelayed") == {}
    assert task(node, "enqueue", "sharedPeriodic", {}) is False
    if veto == "middleware":  # the second enqueue never reached the middleware
        assert [e["hook"] for e in recorded(resque_redis, ns, "middleware")] == ["preEnqueue"]

    seen: list[dict[str, Any]] = []
    if veto == "middleware":
        tasks.add_middleware(recording("gate", seen, veto_enqueues=1))
    else:
        assert await tasks.enqueue_in(60_000, "sharedPeriodic", {}) is True
    assert await tasks.enqueue("sharedPeriodic", {}) is False
    assert await tasks.locks() == {}
    if veto == "delayed copy":
        assert len(await tasks.delete_delayed("periodic", "sharedPeriodic", {})) == 1
    assert await tasks.enqueue("sharedPeriodic", {}) is True
    assert await tasks.queued("periodic") == [
        {"class": "sharedPeriodic", "queue": "periodic", "args": [{}]}
    ]


# -- 5. enqueue middleware and delayed enqueues ----------------------------------------------


async def test_enqueue_middleware_runs_for_delayed_enqueues_where_actionheros_does_not(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 5: Actionhero's enqueueAt/enqueueIn run no plugins, so a middleware's
    preEnqueue (a veto, an audit) and postEnqueue never see delayed tasks."""
    ns = resque_namespace
    node = actionhero(**ENQUEUE_ONLY)
    node.call("middleware", name="audit")
    assert task(node, "enqueueIn", 60_000, "jsRecord", {"id": 1}) is True
    assert task(node, "enqueueAt", 2_000_000_000_000, "jsRecord", {"id": 2}) is True
    assert recorded(resque_redis, ns, "middleware") == []
    assert task(node, "enqueue", "jsRecord", {"id": 3}) is True  # the middleware does work
    third = [{"id": 3, "note": "from-default"}]
    assert hooks_of(recorded(resque_redis, ns, "middleware")) == [
        ("audit", "preEnqueue", third),
        ("audit", "postEnqueue", third),
    ]

    seen: list[dict[str, Any]] = []
    tasks.add_middleware(recording("audit", seen))
    assert await tasks.enqueue_in(60_000, "jsRecord", {"id": 1}) is True
    assert await tasks.enqueue_at(2_000_000_000_000, "jsRecord", {"id": 2}) is True
    assert await tasks.enqueue("jsRecord", {"id": 3}) is True
    assert hooks_of(seen) == [
        ("audit", hook, [{"id": job_id, "note": "from-default"}])
        for job_id in (1, 2, 3)
        for hook in ("preEnqueue", "postEnqueue")
    ]


# -- 6. validation ---------------------------------------------------------------------------


async def test_an_unknown_task_or_missing_inputs_are_named_where_actionhero_throws_type_errors(
    actionhero: Callable[..., Peer], tasks: Tasks
) -> None:
    """Defect 6a: ``enqueue`` reads the unknown task's queue in a default parameter, and
    the validation indexes missing inputs: TypeErrors instead of the task's messages."""
    node = actionhero(**ENQUEUE_ONLY)
    with pytest.raises(PeerError) as unknown:
        task(node, "enqueue", "nope", {})
    assert (unknown.value.name, unknown.value.message) == (
        "TypeError",
        "Cannot read properties of undefined (reading 'queue')",
    )
    with pytest.raises(PeerError) as unknown_with_queue:  # "not found" needs a queue
        task(node, "enqueue", "nope", {}, "default")
    assert unknown_with_queue.value.message == "task nope not found"
    with pytest.raises(PeerError) as no_inputs:
        task(node, "enqueue", "jsRecord")
    assert (no_inputs.value.name, no_inputs.value.message) == (
        "TypeError",
        "Cannot read properties of undefined (reading 'id')",
    )

    with pytest.raises(TaskError, match="^task nope not found$"):
        await tasks.enqueue("nope", {})
    with pytest.raises(InputValidationError, match="^id is a required input for task jsRecord$"):
        await tasks.enqueue("jsRecord")
    assert await tasks.queued("default") == []


async def test_enqueue_leaves_the_callers_inputs_alone_where_actionhero_writes_defaults_in(
    actionhero: Callable[..., Peer], tasks: Tasks
) -> None:
    """Defect 6: Actionhero's validateInput writes the defaults into the caller's object.
    The caller here is the controller (op ``taskArgs`` answers its args after the call):
    across processes the mutation is only visible there."""
    node = actionhero(**ENQUEUE_ONLY)
    answer = node.call("taskArgs", method="enqueue", args=["jsRecord", {"id": 1}])
    assert answer == {"result": True, "args": ["jsRecord", {"id": 1, "note": "from-default"}]}

    given = {"id": 1}
    assert await tasks.enqueue("jsRecord", given) is True
    assert given == {"id": 1}
    assert (await tasks.queued("default"))[0]["args"] == [{"id": 1, "note": "from-default"}]


# -- 9, 10. spec helpers ---------------------------------------------------------------------


async def test_run_full_task_gives_hooks_the_job_on_its_queue_where_actionheros_gives_null(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 9: runFullTask's worker has no job (``worker.job`` is null, so the
    tutorial's ``worker.job.class`` crashes), runs on a made-up queue, and skips the
    input defaults."""
    ns = resque_namespace
    node = actionhero(**ENQUEUE_ONLY)
    node.call("middleware", name="watch")
    assert node.call("specHelper", method="runFullTask", args=["jsRecord", {"id": 9}]) == 9
    entries = recorded(resque_redis, ns, "middleware")
    assert [(e["hook"], e["job"]) for e in entries] == [
        ("preProcessor", None),
        ("postProcessor", None),
    ]
    info = node.call("info")
    assert {e["queue"] for e in entries} == {f"_direct-queue-{info['hostname']}:{info['pid']}"}
    assert recorded(resque_redis, ns, "ran") == [
        {"task": "jsRecord", "side": "js", "params": {"id": 9}}  # no default note
    ]

    seen: list[dict[str, Any]] = []
    tasks.add_middleware(recording("watch", seen))
    assert await run_full_task(tasks, "jsRecord", {"id": 9}) == 9
    payload = {"class": "jsRecord", "queue": "default", "args": [{"id": 9, "note": "from-default"}]}
    assert [(e["hook"], e["queue"], e["job"]) for e in seen] == [
        ("preProcessor", "default", payload),
        ("postProcessor", "default", payload),
    ]
    assert [run["params"] for run in RAN] == payload["args"]  # with the default note


async def test_delete_enqueued_tasks_finds_delayed_only_queues_where_actionheros_misses_them(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 10: deleteEnqueuedTasks walks the registered queues (``resque:queues``), and a
    delayed enqueue registers none: a task only ever delayed is never deleted."""
    ns = resque_namespace
    node = actionhero(**ENQUEUE_ONLY)
    params = {"id": 1, "note": "from-default"}
    assert task(node, "enqueueIn", 60_000, "jsRecord", {"id": 1}) is True
    assert resque_redis.smembers(f"{ns}:queues") == set()
    assert node.call("specHelper", method="deleteEnqueuedTasks", args=["jsRecord", params]) is None
    found = node.call("specHelper", method="findEnqueuedTasks", args=["jsRecord"])
    assert [(job["args"], job["timestamp"] is not None) for job in found] == [([params], True)]

    assert await tasks.enqueue_in(60_000, "jsRecord", {"id": 1}) is True
    assert await delete_enqueued_tasks(tasks, "jsRecord", params) == 1
    assert await find_enqueued_tasks(tasks, "jsRecord") == []


# -- 11. middleware priority -----------------------------------------------------------------


async def test_middleware_priority_zero_runs_first_where_actionhero_makes_it_100(
    actionhero: Callable[..., Peer],
    resque_redis: redis.Redis,
    resque_namespace: str,
    tasks: Tasks,
) -> None:
    """Defect 11: addMiddleware replaces a falsy priority with the default (100), so a
    global middleware of priority 0 runs after one of priority 50."""
    ns = resque_namespace
    node = actionhero(**ENQUEUE_ONLY)
    assert node.call("middleware", name="zero", priority=0)["priority"] == 100
    assert node.call("middleware", name="fifty", priority=50)["globalMiddleware"] == [
        "fifty",
        "zero",
    ]
    assert task(node, "enqueue", "jsRecord", {"id": 1}) is True
    order = [(e["middleware"], e["hook"]) for e in recorded(resque_redis, ns, "middleware")]
    assert order == [
        ("fifty", "preEnqueue"), ("zero", "preEnqueue"),
        ("fifty", "postEnqueue"), ("zero", "postEnqueue"),
    ]  # fmt: skip

    seen: list[dict[str, Any]] = []
    tasks.add_middleware(recording("zero", seen, priority=0))
    tasks.add_middleware(recording("fifty", seen, priority=50))
    assert await tasks.enqueue("jsRecord", {"id": 1}) is True
    assert [(e["middleware"], e["hook"]) for e in seen] == [
        ("zero", "preEnqueue"), ("fifty", "preEnqueue"),
        ("zero", "postEnqueue"), ("fifty", "postEnqueue"),
    ]  # fmt: skip


# -- 14. timestamps --------------------------------------------------------------------------


async def test_timestamps_sort_as_numbers_where_actionheros_sort_as_strings(
    actionhero: Callable[..., Peer], tasks: Tasks
) -> None:
    """Defect 14: ``timestamps()`` sorts with ``Array.sort()``, i.e. as strings: a 14-digit
    ms timestamp comes before 13-digit ones."""
    due = [2_000_000_000_000, 9_000_000_000_000, 10_000_000_000_000]  # 2033, 2255, 2286
    node = actionhero(**ENQUEUE_ONLY)
    for job_id, at in enumerate(due):
        assert task(node, "enqueueAt", at, "jsRecord", {"id": job_id}) is True
    assert task(node, "timestamps") == [10_000_000_000_000, 2_000_000_000_000, 9_000_000_000_000]

    for job_id, at in enumerate(due):
        assert await tasks.enqueue_at(at, "jsRecord", {"id": job_id}) is True
    assert await tasks.timestamps() == due
