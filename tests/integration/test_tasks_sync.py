"""pyresque.tasks.sync.Tasks: the task.* API from blocking code, on a real Redis."""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque.plugins import Plugin
from pyresque.tasks import Input, InputValidationError, Task, TaskError, TaskMiddleware
from pyresque.tasks import Tasks as AsyncTasks
from pyresque.tasks.sync import Tasks
from tests.concurrency import run_in_fork, run_in_threads

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app"


class Greet(Task):
    name = "greet"
    description = "greets someone"
    queue = "mail"
    inputs = {
        "to": Input(required=True, validator=lambda to: isinstance(to, str) and "@" in to),
        "greeting": Input(default="hello"),
    }

    async def run(self, params: Mapping[str, Any], worker: Any) -> str:
        return f"{params['greeting']} {params['to']}"


def _stamp(plugin: Plugin) -> None:
    plugin.args[0]["stamped"] = True


@pytest.fixture
def sync_tasks(redis_url: str, resque_namespace: str) -> Iterator[Tasks]:
    tasks = Tasks(redis_url, namespace=resque_namespace)
    tasks.add(Greet)
    tasks.add_middleware(TaskMiddleware("stamp", global_=True, pre_enqueue=_stamp))
    yield tasks
    tasks.close()


def _to(job: Mapping[str, Any]) -> Any:
    return job["args"][0]["to"]


def _public(cls: type) -> dict[str, str]:
    return {
        name: str(inspect.signature(getattr(cls, name)))
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def test_the_blocking_client_offers_every_async_call_with_the_same_signature() -> None:
    loop_only = {"aclose", "as_current"}  # close() / with instead; current_tasks is per loop
    async_api = {k: v for k, v in _public(AsyncTasks).items() if k not in loop_only}
    sync_api = {k: v for k, v in _public(Tasks).items() if k not in {"close", "from_path"}}
    assert sync_api == async_api


def test_the_constructors_take_the_same_options() -> None:
    def options(cls: type) -> list[tuple[str, Any, Any]]:
        params = list(inspect.signature(cls).parameters.values())
        return [(p.name, p.kind, p.default) for p in params]

    assert options(Tasks) == options(AsyncTasks)


def test_enqueue_validates_defaults_and_runs_middleware_writing_actionheros_payload(
    sync_tasks: Tasks, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    assert sync_tasks.enqueue("greet", {"to": "a@example.com"}) is True
    raw = resque_redis.lrange(f"{resque_namespace}:queue:mail", 0, -1)
    assert raw == [
        b'{"class":"greet","queue":"mail","args":[{"to":"a@example.com",'
        b'"greeting":"hello","stamped":true}]}'
    ]
    with pytest.raises(InputValidationError, match="to"):
        sync_tasks.enqueue("greet", {"greeting": "hi"})
    with pytest.raises(InputValidationError):
        sync_tasks.enqueue("greet", {"to": "nobody"})
    with pytest.raises(TaskError, match="missing"):
        sync_tasks.enqueue("missing")
    assert resque_redis.llen(f"{resque_namespace}:queue:mail") == 1


def test_delayed_enqueues_and_the_admin_calls_block_and_answer(sync_tasks: Tasks) -> None:
    assert sync_tasks.enqueue_at(1_900_000_000_000, "greet", {"to": "b@example.com"})
    assert sync_tasks.enqueue_in(60_000, "greet", {"to": "c@example.com"})
    assert sync_tasks.scheduled_at("mail", "greet", {"to": "b@example.com"}) == []  # defaults
    full = {"to": "b@example.com", "greeting": "hello", "stamped": True}
    assert sync_tasks.scheduled_at("mail", "greet", full) == [1_900_000_000]
    assert len(sync_tasks.timestamps()) == 2
    assert sync_tasks.delete_delayed("mail", "greet", full) == [1_900_000_000]
    details = sync_tasks.details()
    assert details.queues == {} and details.workers == {}
    assert details.delayed.jobs == 1 and details.delayed.due == 0
    assert sync_tasks.failed_count() == 0


def test_many_threads_share_the_client(sync_tasks: Tasks) -> None:
    def work(n: int) -> None:
        for i in range(25):
            assert sync_tasks.enqueue("greet", {"to": f"{n}.{i}@example.com"})

    run_in_threads(work)
    queued = sync_tasks.queued("mail")
    assert len(queued) == 200
    assert len({_to(job) for job in queued}) == 200


def test_calling_it_from_its_own_loop_is_an_error_not_a_hang(
    redis_url: str, resque_namespace: str
) -> None:
    holder: dict[str, Tasks] = {}

    def nested(plugin: Plugin) -> None:
        holder["tasks"].enqueue("greet", {"to": "x@example.com"})

    with Tasks(redis_url, namespace=resque_namespace) as tasks:
        holder["tasks"] = tasks
        tasks.add(Greet)
        tasks.add_middleware(TaskMiddleware("nested", global_=True, pre_enqueue=nested))
        with pytest.raises(TaskError, match="current_tasks"):
            tasks.enqueue("greet", {"to": "y@example.com"})
        assert tasks.queued("mail") == []


def test_close_stops_the_loop_thread_and_a_later_call_starts_again(
    sync_tasks: Tasks,
) -> None:
    assert sync_tasks.enqueue("greet", {"to": "a@example.com"})
    sync_tasks.close()
    assert not [t for t in threading.enumerate() if t.name == "pyresque-tasks-loop"]
    assert sync_tasks.enqueue("greet", {"to": "b@example.com"})
    assert len(sync_tasks.queued("mail")) == 2


def test_from_path_loads_an_apps_tasks_and_middleware_without_starting_it(
    redis_url: str, resque_namespace: str
) -> None:
    environ = {"PYRESQUE_REDIS_URL": redis_url, "PYRESQUE_NAMESPACE": resque_namespace}
    with Tasks.from_path(EXAMPLE_APP, environ=environ) as tasks:
        assert {"signup", "send_reminder"} <= set(tasks.registry.tasks)
        assert tasks.enqueue("signup", {"email": "new@example.com"}) is True
        assert tasks.queued("default") == [
            {
                "class": "signup",
                "queue": "default",
                "args": [{"email": "new@example.com", "name": "friend", "plan": "free"}],
            }
        ]
        assert tasks.workers() == {}  # nothing was started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_enqueues_on_its_own_connection(
    sync_tasks: Tasks, resque_redis: redis.Redis
) -> None:
    assert sync_tasks.enqueue("greet", {"to": "parent@example.com"})

    def child_enqueues() -> str:
        return json.dumps({"ok": sync_tasks.enqueue("greet", {"to": "child@example.com"})})

    report = json.loads(run_in_fork(child_enqueues))
    assert report == {"ok": True}
    assert sync_tasks.enqueue("greet", {"to": "parent2@example.com"})  # parent's socket fine
    assert [_to(job) for job in sync_tasks.queued("mail")] == [
        "parent@example.com",
        "child@example.com",
        "parent2@example.com",
    ]
