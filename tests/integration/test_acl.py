"""A Redis ACL user holding only ``REQUIRED_COMMANDS`` runs everything pyresque does; and
that list is exactly what the code and the Lua scripts send, so it cannot go stale."""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import pyresque
from pyresque import JobDefinition, Queue, Scheduler, Worker
from pyresque.connection import REQUIRED_COMMANDS, SENTINEL_COMMANDS, Settings
from pyresque.protocol.keys import KeySpace
from pyresque.server import RedisServer
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import poll_until

PACKAGE = Path(pyresque.__file__).parent
NAMESPACE = "acl"
# Commands whose first argument names a subcommand (ACL rules name both: script|load).
_CONTAINERS = frozenset({"SCRIPT", "SENTINEL", "CLIENT", "CONFIG", "ACL", "OBJECT", "MEMORY"})


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A redis-server of the test's own, whose ACL LOG only this test writes to."""
    with RedisServer() as found:
        yield found


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port)
    client.response_callbacks.clear()
    yield client
    client.close()


@pytest.fixture
def least_privilege(admin: redis.Redis, server: RedisServer) -> Settings:
    """The user spec/connection.md describes: its own keys, the required commands only."""
    rules = [f"+{command}" for command in REQUIRED_COMMANDS]
    admin.execute_command(
        "ACL", "SETUSER", "pyresque", "reset", "on", ">secret", f"~{NAMESPACE}:*",
        "-@all", *rules,
    )  # fmt: skip
    return Settings(port=server.port, username="pyresque", password="secret", db=0)


def _refusals(admin: redis.Redis) -> list[dict[bytes, Any]]:
    entries = admin.execute_command("ACL", "LOG")
    return [e if isinstance(e, dict) else dict(zip(e[::2], e[1::2], strict=True)) for e in entries]


async def test_the_required_commands_are_enough_for_queues_workers_and_the_scheduler(
    least_privilege: Settings, admin: redis.Redis
) -> None:
    settings = least_privilege
    ran: list[Any] = []

    async def add(a: int, b: int) -> None:
        ran.append(a + b)

    def broken() -> None:
        raise ValueError("fails on purpose")

    jobs = {
        "add": add,
        "broken": broken,
        "locked": JobDefinition(add, plugins=("JobLock", "QueueLock", "DelayQueueLock")),
        "retried": JobDefinition(broken, plugins=("Retry",), plugin_options={"Retry": {
            "retryLimit": 1, "retryDelay": 10}}),
    }  # fmt: skip
    queue = Queue(settings, namespace=NAMESPACE, jobs=jobs)
    now_ms = time.time() * 1000
    # Queue: enqueues of every kind, then the status reads a dashboard makes.
    assert await queue.enqueue("q", "add", [1, 2])
    assert await queue.enqueue("q", "locked", [3, 4])
    assert await queue.enqueue("q", "broken", [])
    assert await queue.enqueue("q", "retried", [])
    await queue.enqueue_at(now_ms - 5_000, "q", "add", [10, 20])  # due: promoted at once
    await queue.enqueue_in(3_600_000, "later", "add", [0, 0])
    assert await queue.length("q") == 4
    assert len(await queue.queued("q")) == 4
    assert await queue.queues() == ["q"]  # "later" is listed once its job is due
    assert len(await queue.timestamps()) == 2
    assert await queue.scheduled_at("later", "add", [0, 0])
    assert await queue.all_delayed()
    assert await queue.count_all_scheduled_jobs() == 2
    await queue.delayed_queue_peek(0, 10)
    await queue.stats()
    await queue.info()
    await queue.locks()
    await queue.workers()
    await queue.all_working_on()
    await queue.leader()
    with SyncQueue(settings, namespace=NAMESPACE, dialect="ruby") as sync_queue:
        assert sync_queue.enqueue("q", "add", [5, 5])
        assert sync_queue.length("q") == 5
        assert sync_queue.delayed_queue_schedule_size() == 2

    # A burst worker empties the queue: a job that succeeds, one that fails, plugins.
    await Worker(settings, "q", jobs, namespace=NAMESPACE).run(burst=True)
    assert sorted(ran) == [3, 7, 10]

    # A worker that died long ago, for the scheduler's stuck-worker check to clean up.
    keys = KeySpace(NAMESPACE)
    admin.execute_command("SADD", keys.workers(), "ghost:1:q")
    admin.execute_command(
        "SET", keys.worker_ping("ghost:1"), '{"time":1000000000,"name":"ghost:1","queues":"q"}'
    )
    scheduler = Scheduler(settings, namespace=NAMESPACE, jobs=jobs, timeout=50)
    worker = Worker(settings, "q", jobs, namespace=NAMESPACE, timeout=100)
    await scheduler.start()
    await worker.start()
    assert await queue.enqueue("q", "add", [100, 1])  # the idle worker is woken (BLMOVE)
    # Every job ran (the delayed one promoted by the scheduler), the failing ones failed
    # (the Retry plugin's retry first), and the ghost was cleaned up.
    await poll_until(lambda: _true(sorted(ran) == [3, 7, 10, 30, 101]), timeout=10)
    await poll_until(lambda: _gone(queue, "ghost:1:q"), timeout=10)
    await poll_until(lambda: _true(len(await_failed(admin)) == 2), timeout=10)
    await worker.stop()
    await scheduler.stop()

    failed = await queue.failed()
    assert {f["payload"]["class"] for f in failed} >= {"broken"}
    assert await queue.retry_and_remove_failed(failed[0])
    assert await queue.remove_failed_at(0) in (True, False)
    await queue.delete_delayed("later", "add", [0, 0])
    await queue.delete("q", "add", [1, 2])
    await queue.delete_queue("q")
    await queue.aclose()
    assert _refusals(admin) == []


async def _gone(queue: Queue, worker: str) -> bool:
    return worker not in await queue.workers()


def await_failed(admin: redis.Redis) -> list[bytes]:
    return list(admin.execute_command("LRANGE", KeySpace(NAMESPACE).failed(), 0, -1))


async def _true(value: bool) -> bool:
    return value


def test_a_command_outside_the_list_is_refused_and_logged(
    least_privilege: Settings, admin: redis.Redis
) -> None:
    # The fixture's user really is restricted: the check above means something.
    client = redis.Redis(port=least_privilege.port, username="pyresque", password="secret")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command("KEYS", "*")
    client.close()
    assert [e[b"object"] for e in _refusals(admin)] == [b"keys"]


# -- the list is what the code sends ---------------------------------------------------------


def _acl_name(args: list[str]) -> str:
    command = args[0].upper()
    if command in _CONTAINERS and len(args) > 1:
        return f"{command}|{args[1].upper()}".lower()
    return command.lower()


def _strings(nodes: list[ast.expr]) -> list[str]:
    found = []
    for node in nodes:
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            break
        found.append(node.value)
    return found


def _python_commands(names: set[str]) -> set[str]:
    """Command names pyresque builds: a call or a tuple/list literal whose first argument
    is a Redis command name (``Call("GET", ...)``, ``("SCRIPT", "LOAD", ...)``)."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                args = _strings(node.args)
            elif isinstance(node, ast.Tuple | ast.List):
                args = _strings(node.elts)
            else:
                continue
            if args and args[0] in names:
                found.add(_acl_name(args))
    return found


def _lua_commands() -> set[str]:
    """Commands the scripts call: ``redis.call('X', ...)``, ``redis.pcall('X', ...)`` and
    the shared ``optional(notes, 'X', ...)`` wrapper (which pcalls its argument)."""
    found: set[str] = set()
    pattern = re.compile(r"(?:redis\.p?call\(\s*|optional\(\s*\w+\s*,\s*)'([A-Za-z]+)'")
    for script in (PACKAGE / "protocol" / "lua").rglob("*.lua"):
        found.update(m.lower() for m in pattern.findall(script.read_text()))
    return found


def test_required_commands_are_exactly_what_the_code_and_the_scripts_send(
    admin: redis.Redis,
) -> None:
    # A redis-server's commands, and the one only Sentinels have.
    names = {c.decode().upper() for c in admin.execute_command("COMMAND", "LIST")} | {"SENTINEL"}
    sent = _python_commands(names) | _lua_commands()
    to_sentinels = {c for c in sent if c.startswith("sentinel")}
    assert to_sentinels == set(SENTINEL_COMMANDS) - {"auth"}
    assert sorted(sent - to_sentinels) == sorted(REQUIRED_COMMANDS)
    assert len(set(REQUIRED_COMMANDS)) == len(REQUIRED_COMMANDS)
