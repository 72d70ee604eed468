"""The fleet API's failed list: pages, search, and index-checked actions at any size."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from pyresque import Queue
from pyresque.errors import FailedEntryMovedError
from pyresque.fleet import FailedFilter, Fleet
from pyresque.protocol.context import Context
from pyresque.protocol.failures import failure_entry
from pyresque.protocol.keys import KeySpace
from pyresque.protocol.plans import fleet_failed


@pytest.fixture
async def fleet(redis_url: str, resque_namespace: str) -> AsyncIterator[Fleet]:
    async with Queue(redis_url, namespace=resque_namespace) as queue:
        yield Fleet(queue)


def entry(
    namespace: str,
    dialect: str,
    *,
    queue: str = "q",
    job_class: str = "Add",
    args: list[Any] | None = None,
    exception: str = "RuntimeError",
    error: str = "boom",
) -> bytes:
    """A failure entry as the peer of ``dialect`` writes it."""
    ctx = Context.create(namespace, dialect, clock=lambda: 1_796_465_100.0)
    payload: dict[str, Any] = {"class": job_class, "args": args or [1, 2]}
    if dialect == "node":
        payload = {"class": job_class, "queue": queue, "args": args or [1, 2]}
    found = failure_entry(
        ctx, worker="host:1", queue=queue, payload=payload, exception=exception, error=error,
        backtrace=[f"at {job_class}.perform"],
    )  # fmt: skip
    return ctx.dialect.dumps(found)


def fill(client: redis.Redis, keys: KeySpace, items: list[bytes]) -> None:
    for start in range(0, len(items), 5000):
        client.rpush(keys.failed(), *items[start : start + 5000])


async def test_a_page_is_a_window_with_indexes_and_keeps_an_unreadable_entry_as_text(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    ns = resque_namespace
    fill(resque_redis, keys, [entry(ns, "node", args=[i]) for i in range(5)])
    resque_redis.lset(keys.failed(), 3, b"{not json")

    page = await fleet.failed.page(offset=2, limit=2)

    assert page.total == 5 and page.matched == 5
    assert [e.index for e in page.entries] == [2, 3]
    assert page.entries[0].args == [2] and page.entries[0].peer == "node"
    unreadable = page.entries[1]
    assert unreadable.entry is None and unreadable.unreadable is not None
    assert unreadable.unreadable["raw"] == "{not json"
    assert keys.failed() in unreadable.unreadable["key"]
    assert unreadable.as_dict()["entry"] == unreadable.unreadable


async def test_search_combines_queue_class_exception_and_text_and_pages_over_the_matches(
    fleet: Fleet,
    resque_redis: redis.Redis,
    keys: KeySpace,
    resque_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fleet_failed, "WINDOW", 7)  # many windows, matches across them
    ns = resque_namespace
    items = []
    for i in range(60):
        dialect = "ruby" if i % 2 else "node"
        exception = "Resque::DirtyExit" if i % 3 == 0 else "RuntimeError"
        items.append(
            entry(ns, dialect, queue="mail" if i % 4 < 2 else "math", job_class=f"Job{i % 5}",
                  exception=exception, error=f"failure number {i}")
        )  # fmt: skip
    items.append(b"not json but mentions Job1")
    fill(resque_redis, keys, items)

    def expected(where: FailedFilter) -> list[int]:
        found = []
        for i in range(60):
            exception = "Resque::DirtyExit" if i % 3 == 0 else "RuntimeError"
            queue = "mail" if i % 4 < 2 else "math"
            if where.queue not in (None, queue) or where.job_class not in (None, f"Job{i % 5}"):
                continue
            if where.exception not in (None, exception):
                continue
            if where.text is not None and where.text not in f"failure number {i} Job{i % 5}":
                continue
            found.append(i)
        return found

    where = FailedFilter(queue="mail", exception="RuntimeError")
    everything = await fleet.failed.search(where, limit=100)
    assert [e.index for e in everything.entries] == expected(where)
    assert everything.matched == len(expected(where)) and everything.total == 61
    assert everything.windows == 9

    page = await fleet.failed.search(where, offset=3, limit=4)
    assert [e.index for e in page.entries] == expected(where)[3:7]
    assert page.matched == everything.matched

    where = FailedFilter(job_class="Job1", text="number 1")
    found = await fleet.failed.search(where, limit=100)
    assert [e.index for e in found.entries] == expected(where)
    assert all(e.entry is not None for e in found.entries)

    # Text alone: the unreadable entry holding it is found, shown with its text.
    text_only = await fleet.failed.search(FailedFilter(text="Job1"), limit=100)
    assert text_only.entries[-1].index == 60 and text_only.entries[-1].entry is None
    assert text_only.matched == len(expected(FailedFilter(job_class="Job1"))) + 1
    assert [e.index for e in (await fleet.failed.search(FailedFilter(text="Job1"), offset=12,
                                                      limit=1)).entries] == [60]  # fmt: skip


async def test_retry_enqueues_each_peers_payload_and_removes_the_entries(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    ns = resque_namespace
    fill(resque_redis, keys, [entry(ns, "node", queue="n"), entry(ns, "ruby", queue="r"),
                              entry(ns, "node", queue="keep")])  # fmt: skip
    page = await fleet.failed.page()

    assert await fleet.failed.retry(page.entries[:2]) == 2

    assert resque_redis.lrange(keys.queue("n"), 0, -1) == [
        b'{"class":"Add","queue":"n","args":[1,2]}'
    ]
    assert resque_redis.lrange(keys.queue("r"), 0, -1) == [b'{"class":"Add","args":[1,2]}']
    assert resque_redis.smembers(keys.queues()) >= {b"n", b"r"}
    assert [json.loads(e)["queue"] for e in resque_redis.lrange(keys.failed(), 0, -1)] == ["keep"]


async def test_retry_with_keep_stamps_retried_at_in_place_as_resque_requeue_does(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    fill(resque_redis, keys, [entry(resque_namespace, "ruby", queue="r")])
    (found,) = (await fleet.failed.page()).entries

    assert await fleet.failed.retry(found, keep=True) == 1

    (stored,) = resque_redis.lrange(keys.failed(), 0, -1)
    assert stored.startswith(found.raw[:-1]) and b',"retried_at":"' in stored
    assert resque_redis.lrange(keys.queue("r"), 0, -1) == [b'{"class":"Add","args":[1,2]}']
    retried = await fleet.failed.search(FailedFilter(retried=True))
    assert retried.matched == 1 and retried.entries[0].retried_at is not None
    assert (await fleet.failed.search(FailedFilter(retried=False))).matched == 0


async def test_an_action_on_an_entry_that_moved_writes_nothing_and_names_key_and_index(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    ns = resque_namespace
    fill(resque_redis, keys, [entry(ns, "node", args=[i]) for i in range(4)])
    page = await fleet.failed.page()
    resque_redis.lpop(keys.failed())  # another process removed the first entry
    before = resque_redis.lrange(keys.failed(), 0, -1)

    with pytest.raises(FailedEntryMovedError) as caught:
        await fleet.failed.retry(page.entries[1:3])

    assert caught.value.key == keys.failed() and caught.value.index == 2
    assert keys.failed() in str(caught.value)
    assert resque_redis.lrange(keys.failed(), 0, -1) == before
    assert resque_redis.exists(keys.queue("q")) == 0
    with pytest.raises(FailedEntryMovedError):
        await fleet.failed.remove(page.entries[3])
    assert resque_redis.lrange(keys.failed(), 0, -1) == before


async def test_selected_entries_are_removed_in_bounded_atomic_chunks(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    ns = resque_namespace
    fill(resque_redis, keys, [entry(ns, "node", args=[i]) for i in range(250)])
    page = await fleet.failed.page(limit=250)
    picked = [e for e in page.entries if e.index % 2 == 0]  # 125: two chunks

    assert await fleet.failed.remove(picked) == 125

    left = [json.loads(e)["payload"]["args"][0] for e in resque_redis.lrange(keys.failed(), 0, -1)]
    assert left == list(range(1, 250, 2))


async def test_acting_on_every_match_crosses_windows_and_follows_entries_that_moved(
    fleet: Fleet,
    resque_redis: redis.Redis,
    keys: KeySpace,
    resque_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fleet_failed, "WINDOW", 5)
    ns = resque_namespace
    items = [entry(ns, "ruby" if i % 2 else "node", queue="mail" if i % 3 == 0 else "other",
                   args=[i]) for i in range(40)]  # fmt: skip
    fill(resque_redis, keys, items)

    retried = await fleet.failed.retry_matching(FailedFilter(queue="mail"))

    assert retried == 14
    queued = [json.loads(p)["args"][0] for p in resque_redis.lrange(keys.queue("mail"), 0, -1)]
    assert sorted(queued) == list(range(0, 40, 3))
    left = resque_redis.lrange(keys.failed(), 0, -1)
    assert len(left) == 26 and all(json.loads(e)["queue"] == "other" for e in left)

    # 1, 10, 11, 13, 14, 16, 17, 19 (not multiples of 3: those were retried)
    assert await fleet.failed.remove_matching(FailedFilter(text='"args":[1')) == 8
    assert await fleet.failed.count() == 18
    assert await fleet.failed.clear() == 18
    assert resque_redis.exists(keys.failed()) == 0


async def test_get_reads_one_entry_by_index(
    fleet: Fleet, resque_redis: redis.Redis, keys: KeySpace, resque_namespace: str
) -> None:
    fill(resque_redis, keys, [entry(resque_namespace, "ruby", exception="Resque::DirtyExit")])
    found = await fleet.failed.get(0)
    assert found is not None and found.exception == "Resque::DirtyExit" and found.peer == "ruby"
    assert found.failed_at is not None and found.backtrace == ["at Add.perform"]
    assert await fleet.failed.get(1) is None
