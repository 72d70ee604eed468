"""pyresque.Queue against a real Redis: node-resque's Queue API and Ruby's extras."""

from __future__ import annotations

import pytest
import redis

from pyresque import DuplicateJobError, JobNotFoundError, Queue
from tests.keys import key

BASE_MS = 1_900_000_000_000


async def test_enqueue_writes_node_resque_payload_and_registers_queue(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    assert await queue.enqueue("math", "add", [1, 2.0, {"b": 1, "2": "x"}]) is True
    assert resque_redis.lrange(key(resque_namespace, "queue", "math"), 0, -1) == [
        b'{"class":"add","queue":"math","args":[1,2,{"2":"x","b":1}]}'
    ]
    assert resque_redis.smembers(key(resque_namespace, "queues")) == {b"math"}


async def test_enqueue_wraps_a_single_argument_and_treats_none_as_no_args(queue: Queue) -> None:
    await queue.enqueue("q", "one", 5)
    await queue.enqueue("q", "dict", {"a": 1})
    await queue.enqueue("q", "none")
    assert [job["args"] for job in await queue.queued("q")] == [[5], [{"a": 1}], []]


async def test_queues_are_sorted_and_delete_queue_forgets_one(queue: Queue) -> None:
    for name in ("zeta", "alpha", "Mid"):
        await queue.enqueue(name, "noop")
    assert await queue.queues() == ["Mid", "alpha", "zeta"]
    await queue.delete_queue("alpha")
    assert await queue.queues() == ["Mid", "zeta"]
    assert await queue.length("alpha") == 0


async def test_queued_returns_ranges_like_lrange(queue: Queue) -> None:
    for i in range(5):
        await queue.enqueue("q", "job", [i])
    assert [j["args"][0] for j in await queue.queued("q", 1, 3)] == [1, 2, 3]
    assert [j["args"][0] for j in await queue.queued("q", -2, -1)] == [3, 4]
    assert await queue.length("q") == 5


async def test_delete_removes_matching_jobs_whichever_peer_wrote_them(
    queue: Queue, ruby_queue: Queue
) -> None:
    await queue.enqueue("q", "job", [1])
    await ruby_queue.enqueue("q", "job", [1])
    await queue.enqueue("q", "job", [2])
    await queue.enqueue("q", "job", [1])
    assert await queue.delete("q", "job", [1], count=2) == 2
    assert [j["args"] for j in await queue.queued("q")] == [[2], [1]]
    assert await queue.delete("q", "job", [1]) == 1
    assert await queue.delete("q", "job", [9]) == 0


async def test_delete_by_function_counts_matches_and_leaves_corrupt_items(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    await queue.enqueue("q", "a", [1])
    await queue.enqueue("q", "b", [1])
    await queue.enqueue("q", "a", [1])
    resque_redis.rpush(key(resque_namespace, "queue", "q"), b"{not json")
    assert await queue.delete_by_function("q", "a") == 2
    assert resque_redis.lrange(key(resque_namespace, "queue", "q"), 0, -1) == [
        b'{"class":"b","queue":"q","args":[1]}',
        b"{not json",
    ]


async def test_dequeue_removes_every_job_of_a_class_or_only_matching_args(
    ruby_queue: Queue,
) -> None:
    for args in ([1], [2], [1]):
        await ruby_queue.enqueue("q", "Job", args)
    await ruby_queue.enqueue("q", "Other", [1])
    assert await ruby_queue.dequeue("q", "Job", [1]) == 2
    assert await ruby_queue.dequeue("q", "Job") == 1
    assert await ruby_queue.queued("q") == [{"class": "Other", "args": [1]}]


# -- delayed -----------------------------------------------------------------------------


async def test_enqueue_at_rounds_to_the_nearest_second_like_math_round(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    await queue.enqueue_at(1_700_000_000_499, "q", "job", [1])
    await queue.enqueue_at(1_700_000_000_500, "q", "job", [2])
    schedule = resque_redis.zrange(
        key(resque_namespace, "delayed_queue_schedule"), 0, -1, withscores=True
    )
    assert schedule == [(b"1700000000", 1700000000.0), (b"1700000001", 1700000001.0)]
    payload = b'{"class":"job","queue":"q","args":[1]}'
    assert resque_redis.smembers(key(resque_namespace, "timestamps", payload.decode())) == {
        b"delayed:1700000000"
    }


async def test_enqueue_at_refuses_the_same_job_in_the_same_second_in_node_dialect(
    queue: Queue,
) -> None:
    assert await queue.enqueue_at(BASE_MS, "q", "job", [1]) is True
    with pytest.raises(DuplicateJobError, match="already enqueued"):
        await queue.enqueue_at(BASE_MS + 200, "q", "job", [1])
    assert await queue.enqueue_at(BASE_MS + 200, "q", "job", [1], suppress_duplicate=True) is None
    assert await queue.enqueue_at(BASE_MS + 200, "q", "job", [2]) is True
    assert len((await queue.delayed_at(BASE_MS)).tasks) == 2


async def test_ruby_dialect_keeps_duplicates_and_truncates_seconds(ruby_queue: Queue) -> None:
    await ruby_queue.enqueue_at(BASE_MS + 900, "q", "Job", [1])
    await ruby_queue.enqueue_at(BASE_MS + 100, "q", "Job", [1])
    assert await ruby_queue.scheduled_at("q", "Job", [1]) == [BASE_MS // 1000]
    assert (await ruby_queue.delayed_at(BASE_MS)).tasks == [
        {"class": "Job", "args": [1], "queue": "q"}
    ] * 2


async def test_enqueue_in_delays_from_the_clock(redis_url: str, resque_namespace: str) -> None:
    async with Queue(redis_url, namespace=resque_namespace, clock=lambda: 1_800_000_000.25) as q:
        await q.enqueue_in(10_000, "q", "job")
        assert await q.timestamps() == [1_800_000_010_000]


async def test_timestamps_sort_as_numbers_and_skip_emptied_seconds(queue: Queue) -> None:
    for at in (BASE_MS + 900_000, BASE_MS + 90_000, BASE_MS + 10_000_000):
        await queue.enqueue_at(at, "q", "job", [at])
    await queue.delete_delayed("q", "job", [BASE_MS + 90_000])
    assert await queue.timestamps() == [BASE_MS + 900_000, BASE_MS + 10_000_000]
    assert list(await queue.all_delayed()) == [str(BASE_MS + 900_000), str(BASE_MS + 10_000_000)]


async def test_delete_delayed_returns_seconds_and_remove_delayed_a_count(
    queue: Queue, ruby_queue: Queue
) -> None:
    await queue.enqueue_at(BASE_MS, "q", "job", [1])
    await queue.enqueue_at(BASE_MS + 5000, "q", "job", [1])
    await ruby_queue.enqueue_at(BASE_MS + 9000, "q", "job", [1])
    assert await queue.scheduled_at("q", "job", [1]) == [
        BASE_MS // 1000,
        BASE_MS // 1000 + 5,
        BASE_MS // 1000 + 9,
    ]
    assert await queue.delete_delayed("q", "job", [1]) == [
        BASE_MS // 1000,
        BASE_MS // 1000 + 5,
        BASE_MS // 1000 + 9,
    ]
    await ruby_queue.enqueue_at(BASE_MS, "q", "job", [2])
    await ruby_queue.enqueue_at(BASE_MS, "q", "job", [2])
    assert await ruby_queue.remove_delayed("q", "job", [2]) == 2
    assert await queue.count_all_scheduled_jobs() == 0


async def test_ruby_delayed_queue_peek_and_sizes(ruby_queue: Queue) -> None:
    for offset in (0, 1000, 1000, 2000):
        await ruby_queue.enqueue_at(BASE_MS + offset, "q", "Job", [offset])
    assert await ruby_queue.delayed_queue_schedule_size() == 3
    first = BASE_MS // 1000
    assert await ruby_queue.delayed_queue_peek(0, 2) == [first, first + 1]
    assert await ruby_queue.delayed_timestamp_size(first + 1) == 2
    assert await ruby_queue.delayed_timestamp_peek(first + 1, 1, 1) == [
        {"class": "Job", "args": [1000], "queue": "q"}
    ]


# -- workers, failures, stats -------------------------------------------------------------


def register_node_worker(r: redis.Redis, ns: str, name: str, queues: str) -> None:
    r.sadd(key(ns, "workers"), f"{name}:{queues}")
    r.set(key(ns, "worker", name, queues, "started"), "1795871144")
    r.set(
        key(ns, "worker", "ping", name),
        f'{{"time":1795871145,"name":"{name}","queues":"{queues}"}}',
    )


async def test_workers_split_members_like_node_resque(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    resque_redis.sadd(key(resque_namespace, "workers"), "host:1:a,b", "w1:jl", "solo", "h:2:x:y")
    assert await queue.workers() == {"host:1": "a,b", "w1": "jl", "solo": None, "h:2": "x:y"}


async def test_all_working_on_reports_started_or_the_record(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    register_node_worker(resque_redis, resque_namespace, "vm:1", "a")
    register_node_worker(resque_redis, resque_namespace, "vm:2", "b")
    record = b'{"queue":"b","run_at":"2026-11-28T13:18:49Z","payload":{"class":"X","args":[]}}'
    resque_redis.set(key(resque_namespace, "worker", "vm:2", "b"), record)
    assert await queue.all_working_on() == {
        "vm:1": "started",
        "vm:2": {
            "queue": "b",
            "run_at": "2026-11-28T13:18:49Z",
            "payload": {"class": "X", "args": []},
        },
    }
    assert (await queue.working_on("vm:2", "b"))["queue"] == "b"
    assert (await queue.info())["working"] == 1


async def test_force_clean_worker_fails_its_job_and_removes_every_key(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    register_node_worker(resque_redis, ns, "vm:9", "slow")
    record = (
        b'{"run_at":"Sat Nov 28 2026 13:05:44 GMT+0000 (Coordinated Universal Time)",'
        b'"worker":"vm:9","payload":{"class":"slow","args":{},"queue":"slow"},"queue":"slow"}'
    )
    resque_redis.set(key(ns, "worker", "vm:9", "slow"), record)
    resque_redis.set(key(ns, "stat", "processed", "vm:9"), 3)

    entry = await queue.force_clean_worker("vm:9")
    assert entry is not None
    assert list(entry) == [
        "worker",
        "queue",
        "payload",
        "exception",
        "error",
        "backtrace",
        "failed_at",
    ]
    assert entry["worker"] == "vm:9" and entry["queue"] == "slow"
    assert entry["backtrace"][1:] == ["queue#forceCleanWorker", "node-resque"]
    assert await queue.failed() == [entry]
    assert await queue.stats() == {"failed": "1"}
    assert await queue.workers() == {}
    leftovers = [k for k in resque_redis.scan_iter(match=f"{ns}:worker*")]
    assert leftovers == []

    # Retrying turns cjson's {} (an empty array) back into no args.
    assert await queue.retry_stuck_jobs() == 1
    assert await queue.queued("slow") == [{"class": "slow", "queue": "slow", "args": []}]


async def test_force_clean_of_an_idle_or_unknown_worker_counts_no_failure(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    register_node_worker(resque_redis, resque_namespace, "vm:5", "q")
    assert await queue.force_clean_worker("vm:5") is None
    assert await queue.force_clean_worker("nobody") is None
    assert await queue.stats() == {}
    assert await queue.workers() == {}


async def test_ruby_dialect_force_clean_records_a_dirty_exit(
    ruby_queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns, worker_id = resque_namespace, "vm:4242:default"
    resque_redis.sadd(key(ns, "workers"), worker_id)
    resque_redis.hset(key(ns, "workers:heartbeat"), worker_id, "2026-11-28T13:18:49+00:00")
    resque_redis.set(
        key(ns, "worker", worker_id),
        '{"queue":"default","run_at":"2026-11-28T13:18:49Z","payload":{"class":"Job","args":[1]}}',
    )
    entry = await ruby_queue.force_clean_worker(worker_id)
    assert entry is not None
    assert list(entry) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert entry["exception"] == "Resque::DirtyExit"
    assert entry["worker"] == worker_id and entry["backtrace"] == []
    assert resque_redis.hgetall(key(ns, "workers:heartbeat")) == {}
    assert await ruby_queue.stats() == {}


async def test_clean_old_workers_reads_either_peers_run_at(
    resque_redis: redis.Redis, resque_namespace: str, redis_url: str
) -> None:
    ns = resque_namespace
    now = 1_795_000_000.0
    register_node_worker(resque_redis, ns, "old:1", "q")
    register_node_worker(resque_redis, ns, "new:2", "q")
    resque_redis.set(
        key(ns, "worker", "old:1", "q"),
        '{"queue":"q","run_at":"2026-11-18T00:00:00Z","payload":{"class":"J","args":[]}}',
    )
    resque_redis.set(
        key(ns, "worker", "new:2", "q"),
        '{"run_at":"Wed Nov 18 2026 11:06:00 GMT+0000 (Coordinated Universal Time)",'
        '"queue":"q","worker":"new:2","payload":{"class":"J","args":[]}}',
    )
    async with Queue(redis_url, namespace=ns, clock=lambda: now) as q:
        cleaned = await q.clean_old_workers(3_600_000)
        assert list(cleaned) == ["old:1"]
        assert await q.workers() == {"new:2": "q"}


async def test_failed_entries_can_be_removed_retried_and_requeued(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    entries = [
        b'{"worker":"w:1","queue":"q","payload":{"class":"J","queue":"q","args":[1]},'
        b'"exception":"Error","error":"x","backtrace":["    at f"],"failed_at":"Sat Nov 28 2026"}',
        b'{"failed_at":"2026/11/28 13:15:53 UTC","payload":{"class":"J","args":[2]},'
        b'"exception":"ArgumentError","error":"y","backtrace":[],"worker":"w:2:q","queue":"q"}',
        b'{"failed_at":"2026/11/28 13:15:53 UTC","payload":{"class":"J","args":[3.0]},'
        b'"exception":"E","error":"z","backtrace":[],"worker":"w:3:q","queue":"q"}',
    ]
    resque_redis.rpush(key(ns, "failed"), *entries)
    first, second, third = await queue.failed()
    assert await queue.failed_count() == 3

    assert await queue.retry_and_remove_failed(second) is True
    with pytest.raises(JobNotFoundError):
        await queue.retry_and_remove_failed(second)
    # Ruby wrote 3.0, which JSON.stringify would write as 3: found by comparing values.
    assert await queue.remove_failed(third) == 1
    assert await queue.requeue_failed(0) is True
    rewritten = resque_redis.lindex(key(ns, "failed"), 0)
    assert rewritten is not None and b'"retried_at":"' in rewritten
    assert await queue.remove_failed_at(0) is True
    assert await queue.failed_count() == 0
    with pytest.raises(JobNotFoundError):
        await queue.remove_failed_at(0)
    assert [j["args"] for j in await queue.queued("q")] == [[2], [1]]


async def test_stats_locks_and_leader_read_both_peers_keys(
    queue: Queue, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    resque_redis.set(key(ns, "stat", "processed"), 7)
    resque_redis.set(key(ns, "stat", "failed", "vm:1"), 2)
    resque_redis.set(key(ns, "lock", "J", "q", "[1]"), "1795874811")
    resque_redis.set(key(ns, "workerslock", "J", "q", "[]"), "1795874812")
    assert await queue.stats() == {"failed:vm:1": "2", "processed": "7"}
    assert await queue.locks() == {"lock:J:q:[1]": "1795874811", "workerslock:J:q:[]": "1795874812"}
    assert await queue.delete_lock("lock:J:q:[1]") == 1
    assert await queue.leader() is None
    resque_redis.set(f"{ns}:{ns}:resque_scheduler_master_lock", "ruby-host:1")
    assert await queue.leader() == "ruby-host:1"
    resque_redis.set(key(ns, "resque_scheduler_leader_lock"), "node-sched")
    assert await queue.leader() == "node-sched"


async def test_namespace_with_glob_characters_scans_only_its_own_keys(
    redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    odd = f"{resque_namespace}[x]*"
    try:
        async with Queue(redis_url, namespace=odd) as q:
            resque_redis.set(f"{odd}:stat:processed", 1)
            resque_redis.set(f"{resque_namespace}x]a:stat:processed", 9)
            assert await q.stats() == {"processed": "1"}
    finally:
        resque_redis.delete(f"{odd}:stat:processed", f"{resque_namespace}x]a:stat:processed")


async def test_list_namespace_joins_its_parts(
    redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    async with Queue(redis_url, namespace=[resque_namespace, "jobs"]) as q:
        await q.enqueue("q", "j")
    assert resque_redis.llen(f"{resque_namespace}:jobs:queue:q") == 1


async def test_scripts_flushed_from_the_server_are_loaded_again(
    queue: Queue, resque_redis: redis.Redis
) -> None:
    await queue.enqueue("q", "job", [1])
    resque_redis.script_flush()
    await queue.enqueue("q", "job", [2])
    await queue.enqueue_at(BASE_MS, "q", "job", [3])
    assert [j["args"] for j in await queue.queued("q")] == [[1], [2]]
    assert await queue.count_all_scheduled_jobs() == 1
