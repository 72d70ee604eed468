"""Every Lua script, every KEYS position, every wrong Redis type: nothing half-written.

Redis never rolls back a script's earlier writes, so a script must check each key before
its first write. For each script this runs realistic calls (as the plans make them) with
one key at a time replaced by a value of a type its header says it must not hold, and
checks, byte for byte (``DUMP`` of every key): a call that fails left the whole keyspace
as it was and its error names the key; a call that succeeds (a key the script may skip,
such as a counter or an unreadable queue) left the wrong-typed key untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyresque
from pyresque.protocol.keys import KeySpace
from pyresque.protocol.plan import load_script

LUA = Path(pyresque.__file__).parent / "protocol" / "lua"
TYPES = ("string", "list", "set", "zset", "hash")
HEADER_KEY = re.compile(r"^-- KEYS\[([^\]]+)\]\s+(\S+)", re.M)


def declared(script: str) -> dict[str, set[str]]:
    """``{label: allowed types}`` from the script's header (label as in ``KEYS[label]``)."""
    text = (LUA / f"{script}.lua").read_text()
    return {label: set(kinds.split("|")) for label, kinds in HEADER_KEY.findall(text)}


@dataclass
class Call:
    """A realistic call of one script: the state before it, its keys (each with the header
    label it falls under) and its args."""

    script: str
    keys: list[tuple[str, str]]
    args: list[bytes | str | int]
    setup: list[tuple[object, ...]] = field(default_factory=list)
    name: str = ""


def calls(k: KeySpace) -> list[Call]:
    job = b'{"class":"add","queue":"q","args":[1,2]}'
    ruby_job = b'{"class":"add","args":[1,2]}'
    delayed = b'{"class":"add","queue":"q","args":[1,2]}'
    entry = b'{"worker":"w","queue":"q","payload":{"class":"add","args":[]},"failed_at":"x"}'
    member = "host:1:q"
    record = b'{"run_at":"now","queue":"q","payload":{"class":"add","args":[1]},"worker":"host:1"}'
    work_keys = [
        (k.worker(member), "1"),
        (k.stat("processed"), "2"),
        (k.stat("processed", "host:1"), "3"),
        (k.stat("failed"), "4"),
        (k.stat("failed", "host:1"), "5"),
        (k.failed(), "6"),
    ]
    take = [(k.pause_all(), "8"), (k.queue("q"), "9.."), (k.queue("r"), "9..")]
    work_tail = ["1", "cjson", "now", "1", "host:1", "q", "r"]
    queued = [("RPUSH", k.queue("q"), job), ("RPUSH", k.queue("r"), job)]
    return [
        Call("enqueue", [(k.queues(), "1"), (k.queue("q"), "2")], ["q", job], queued),
        Call(
            "enqueue_at",
            [(k.delayed(100), "1"), (k.timestamps(delayed), "2"), (k.schedule(), "3")],
            [delayed, "delayed:100", 100, "1"],
        ),
        Call(
            "delete_delayed",
            [(k.timestamps(delayed), "1 .. n"), (k.delayed(100), "n+1 .. 2n")],
            [1, delayed, "delayed:100"],
            [("RPUSH", k.delayed(100), delayed), ("SADD", k.timestamps(delayed), "delayed:100")],
        ),
        Call("delete_job", [(k.queue("q"), "1")], [0, "tomb", job], queued),
        Call(
            "enqueue_many",
            [
                (k.queues(), "1"),
                (k.schedule(), "2"),
                (k.queue("q"), "3 .. l+2"),
                (k.delayed(100), "3 .. l+2"),
                (k.timestamps(delayed), "l+3 .."),
            ],
            ["1", 2, 1, "q", 1, "q", 3, 2, job, job, "d", 4, 5, 100, "delayed:100", delayed],
            queued,
            "immediate-and-delayed",
        ),
        Call(
            "enqueue_many",
            [(k.queues(), "1"), (k.schedule(), "2"), (k.queue("q"), "3 .. l+2")],
            ["0", 1, 1, "q", 0, "q", 3, 1, ruby_job],
            queued,
            "immediate-only",
        ),
        Call("delete_queue", [(k.queues(), "1"), (k.queue("q"), "2")], ["q"], queued),
        Call(
            "failed_act",
            [(k.failed(), "1"), (k.queues(), "2"), (k.queue("q"), "3.."), (k.queue("r"), "3..")],
            ["retry", "index", "tomb", 2, 0, entry, "q", job, 1, entry, "r", job],
            [("RPUSH", k.failed(), entry, entry)],
            "retry",
        ),
        Call(
            "failed_act",
            [(k.failed(), "1"), (k.queues(), "2"), (k.queue("q"), "3..")],
            ["requeue", "value", "tomb", 1, 0, entry, "q", job, entry + b" "],
            [("RPUSH", k.failed(), entry)],
            "requeue",
        ),
        Call(
            "failed_act",
            [(k.failed(), "1")],
            ["remove", "value", "tomb", 1, 0, entry, "", ""],
            [("RPUSH", k.failed(), entry)],
            "remove",
        ),
        Call(
            "failed_search",
            [(k.failed(), "1")],
            [0, 99, "1", "add"],
            [("RPUSH", k.failed(), entry, b"other")],
        ),
        Call(
            "failed_at_index",
            [(k.failed(), "1"), (k.queues(), "2"), (k.queue("q"), "3")],
            [0, entry, "requeue", entry + b" ", "q", job],
            [("RPUSH", k.failed(), entry)],
            "requeue",
        ),
        Call(
            "failed_at_index",
            [(k.failed(), "1")],
            [0, entry, "remove", "tomb"],
            [("RPUSH", k.failed(), entry)],
            "remove",
        ),
        Call(
            "force_clean_worker",
            [
                (k.workers(), "1"),
                (k.worker(member), "2"),
                (k.worker_started(member), "3"),
                (k.worker_ping("host:1"), "4"),
                (k.heartbeats(), "5"),
                (k.failed(), "6"),
                (k.stat("failed"), "7"),
                (k.stat("failed", "host:1"), "8.."),
            ],
            [member, record, entry, "1", "ping", "{}"],
            [
                ("SADD", k.workers(), member),
                ("SET", k.worker(member), record),
                ("SET", k.worker_ping("host:1"), "{}"),
                ("SET", k.stat("failed"), "3"),
            ],
        ),
        Call(
            "mark_periodic_stop",
            [(k.job_lock("t", "q", "[{}]"), "1"), (k.periodic_stop("t"), "2")],
            [60],
            [("SET", k.job_lock("t", "q", "[{}]"), "1")],
        ),
        Call(
            "move_registration",
            [
                (k.workers(), "1"),
                (k.worker_started("host:1:q"), "2"),
                (k.worker_started("host:1:q,r"), "3"),
            ],
            ["host:1:q", "host:1:q,r"],
            [("SADD", k.workers(), "host:1:q"), ("SET", k.worker_started("host:1:q"), "1")],
        ),
        Call(
            "move_registration",
            [
                (k.workers(), "1"),
                (k.worker_started("host:1:q"), "2"),
                (k.worker_started("host:1:q,r"), "3"),
                (k.worker_runtime("host:1:q"), "4"),
                (k.worker_runtime("host:1:q,r"), "5"),
            ],
            ["host:1:q", "host:1:q,r"],
            [
                ("SADD", k.workers(), "host:1:q"),
                ("SET", k.worker_started("host:1:q"), "1"),
                ("SET", k.worker_runtime("host:1:q"), "pyresque/0"),
            ],
            "runtime",
        ),
        Call(
            "promote_delayed",
            [
                (k.delayed(100), "1"),
                (k.schedule(), "2"),
                (k.queues(), "3"),
                (k.timestamps(delayed), "4 .. n+3"),
                (k.timestamps(b"bad"), "4 .. n+3"),
                (k.queue("q"), "n+4 .. 2n+3"),
                (k.failed(), "n+4 .. 2n+3"),
            ],
            [2, "delayed:100", 100, delayed, "queue", "q", job, b"bad", "fail", "", entry],
            [
                ("RPUSH", k.delayed(100), delayed, b"bad"),
                ("ZADD", k.schedule(), 100, 100),
                ("SADD", k.timestamps(delayed), "delayed:100"),
                ("SADD", k.timestamps(b"bad"), "delayed:100"),
            ],
        ),
        Call(
            "queue_lock",
            [(k.queue_lock("add", "q", "[1]"), "1")],
            [1000, 4601, 3600],
            [("SET", k.queue_lock("add", "q", "[1]"), "10")],
        ),
        Call(
            "register_worker",
            [(k.workers(), "1"), (k.worker_started(member), "2"), (k.worker_ping("h:1"), "3")],
            [member, "1", "ping", "{}"],
            name="node",
        ),
        Call(
            "register_worker",
            [
                (k.workers(), "1"),
                (k.worker_started(member), "2"),
                (k.worker_ping("h:1"), "3"),
                (k.worker_runtime(member), "4"),
            ],
            [member, "1", "ping", "{}", "pyresque/0", 60],
            name="node-runtime",
        ),
        Call(
            "register_worker",
            [(k.workers(), "1"), (k.worker_started(member), "2"), (k.heartbeats(), "3")],
            [member, "1", "heartbeat", "2026-01-01T00:00:00+00:00"],
            name="ruby",
        ),
        Call(
            "release_queue_lock",
            [(k.queue("q"), "1"), (k.queue_lock("add", "q", "[1]"), "2")],
            [job, ruby_job],
            [("SET", k.queue_lock("add", "q", "[1]"), "10")],
        ),
        Call("remove_failed", [(k.failed(), "1")], [entry], [("RPUSH", k.failed(), entry)]),
        Call(
            "retry_attempt",
            [(k.retry("add", "1"), "1"), (k.retry_failure("add", "1"), "2")],
            [5, 60, "{}"],
            [("SET", k.retry("add", "1"), "0")],
        ),
        Call(
            "retry_failed",
            [(k.failed(), "1"), (k.queues(), "2"), (k.queue("q"), "3")],
            ["q", job, entry],
            [("RPUSH", k.failed(), entry)],
        ),
        Call(
            "run_delayed_now",
            [
                (k.delayed(100), "1"),
                (k.schedule(), "2"),
                (k.queues(), "3"),
                (k.timestamps(delayed), "4"),
                (k.queue("q"), "5"),
            ],
            [delayed, "delayed:100", 100, "q", job],
            [
                ("RPUSH", k.delayed(100), delayed),
                ("ZADD", k.schedule(), 100, 100),
                ("SADD", k.timestamps(delayed), "delayed:100"),
            ],
        ),
        Call(
            "scheduler_lock",
            [(k.leader_lock(), "1..n"), (k.master_lock(), "1..n")],
            [180, "me", "me"],
            [("SET", k.leader_lock(), "me")],
        ),
        Call(
            "scheduler_unlock",
            [(k.leader_lock(), "1..n"), (k.master_lock(), "1..n")],
            ["me", "me"],
            [("SET", k.leader_lock(), "me"), ("SET", k.master_lock(), "me")],
        ),
        Call(
            "start_periodic",
            [
                (k.queues(), "1"),
                (k.queue("q"), "2"),
                (k.queue_lock("t", "q", "[{}]"), "3"),
                (k.job_lock("t", "q", "[{}]"), "4"),
                (k.periodic_stop("t"), "5"),
                (k.timestamps(b'{"class":"t","queue":"q","args":[{}]}'), "6.."),
                (k.timestamps(b'{"class":"t","args":[{}],"queue":"q"}'), "6.."),
            ],
            [
                "q",
                b'{"class":"t","queue":"q","args":[{}]}',
                1000,
                4601,
                3600,
                b'{"class":"t","queue":"q","args":[{}]}',
                b'{"class":"t","args":[{}]}',
            ],
            [("SET", k.queue_lock("t", "q", "[{}]"), "5")],  # stale: the boot takes it over
        ),
        Call(
            "unregister_worker",
            [(k.workers(), "1"), (k.worker_ping("host:1"), "2"), (k.worker(member), "3..")],
            [member, "ping"],
            [("SADD", k.workers(), member), ("SET", k.worker(member), record)],
            "node",
        ),
        Call(
            "unregister_worker",
            [(k.workers(), "1"), (k.heartbeats(), "2"), (k.worker(member), "3..")],
            [member, "heartbeat"],
            [("SADD", k.workers(), member), ("HSET", k.heartbeats(), member, "x")],
            "ruby",
        ),
        Call(
            "work",
            [*work_keys, (k.failed(), "7"), *take],
            ["done", "1", "1", entry, "", *work_tail],
            [("SET", k.worker(member), record), *queued],
            "fail-and-take",
        ),
        Call(
            "work",
            [*work_keys, (k.queue("q"), "7"), *take],
            ["requeue", "0", "0", "", job, *work_tail],
            [("SET", k.worker(member), record), *queued],
            "requeue-and-take",
        ),
        Call(
            "work",
            [*work_keys, (k.failed(), "7"), *take],
            ["done", "1", "0", "", "", *work_tail],
            [("SET", k.worker(member), record), ("SET", k.stat("processed"), "7"), *queued],
            "succeed-and-take",
        ),
        Call(
            "worker_state",
            [
                (k.worker(member), "1"),
                (k.stat("processed", "host:1"), "2"),
                (k.stat("failed", "host:1"), "3"),
            ],
            [],
            [("SET", k.worker(member), record)],
        ),
    ]


def _make(client: redis.Redis, key: str, kind: str, items: list[bytes]) -> None:
    client.delete(key)
    values = items or [b"x"]
    if kind == "string":
        client.set(key, values[0])
    elif kind == "list":
        client.rpush(key, *values)
    elif kind == "set":
        client.sadd(key, *values)
    elif kind == "zset":
        client.zadd(key, {v: i for i, v in enumerate(values)})
    else:
        client.hset(key, mapping={v: v for v in values})


def _snapshot(client: redis.Redis, namespace: str) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in sorted(client.scan_iter(match=f"{namespace}:*"))}


def _cases(namespace: str) -> list[tuple[Call, int, str]]:
    keys = KeySpace(namespace)
    out: list[tuple[Call, int, str]] = []
    for call in calls(keys):
        allowed = declared(call.script)
        for index, (_key, label) in enumerate(call.keys):
            kinds = allowed[label]
            if "any" in kinds:
                continue
            out.extend((call, index, kind) for kind in TYPES if kind not in kinds)
    return out


def test_every_script_and_every_typed_key_position_is_covered() -> None:
    """The calls above reach every script and every typed KEYS line of its header."""
    scripts = sorted(p.stem for p in LUA.glob("*.lua"))
    covered: dict[str, set[str]] = {}
    for call in calls(KeySpace("ns")):
        covered.setdefault(call.script, set()).update(label for _, label in call.keys)
    assert sorted(covered) == scripts
    for script in scripts:
        typed = {label for label, kinds in declared(script).items() if "any" not in kinds}
        assert typed <= covered[script], script


def _run(client: redis.Redis, call: Call) -> tuple[object, Exception | None]:
    script = load_script(call.script)
    keys = [key for key, _ in call.keys]
    try:
        return client.eval(script.source, len(keys), *keys, *call.args), None
    except redis.ResponseError as exc:
        return None, exc


@pytest.mark.parametrize("case", range(len(_cases("ns"))))
def test_a_wrong_typed_key_fails_the_script_before_any_write_or_is_left_alone(
    resque_redis: redis.Redis, resque_namespace: str, case: int
) -> None:
    call, index, kind = _cases(resque_namespace)[case]
    key = call.keys[index][0]
    _check(resque_redis, resque_namespace, call, key, kind, [b"5", b"x", b"[1]"])


def _check(
    client: redis.Redis, namespace: str, call: Call, key: str, kind: str, items: list[bytes]
) -> None:
    for command in call.setup:
        client.execute_command(*command)
    _make(client, key, kind, items)
    before = _snapshot(client, namespace)
    _reply, error = _run(client, call)
    after = _snapshot(client, namespace)
    if error is not None:
        assert after == before, f"{call.script}/{call.name}: {key} as {kind}: {error}"
        assert key in str(error), f"{call.script}: the error does not name {key}: {error}"
    else:
        assert after.get(key.encode()) == before[key.encode()], (
            f"{call.script}/{call.name}: wrote to {key} holding a {kind}"
        )
    if after:
        client.delete(*after)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pick=st.integers(min_value=0),
    items=st.lists(st.binary(max_size=20), min_size=1, max_size=4, unique=True),
)
def test_any_contents_of_a_wrong_typed_key_leave_nothing_half_written(
    resque_redis: redis.Redis, resque_namespace: str, pick: int, items: list[bytes]
) -> None:
    cases = _cases(resque_namespace)
    call, index, kind = cases[pick % len(cases)]
    _check(resque_redis, resque_namespace, call, call.keys[index][0], kind, items)


def test_a_counter_that_is_not_a_number_fails_retry_attempt_before_any_write(
    resque_redis: redis.Redis, resque_namespace: str
) -> None:
    keys = KeySpace(resque_namespace)
    call = next(c for c in calls(keys) if c.script == "retry_attempt")
    counter = keys.retry("add", "1")
    for value in (b"abc", b"1.5", b"99999999999999999999", b"007", b""):
        resque_redis.set(counter, value)
        before = _snapshot(resque_redis, resque_namespace)
        _reply, error = _run(resque_redis, call)
        assert error is not None and counter in str(error), value
        assert _snapshot(resque_redis, resque_namespace) == before
