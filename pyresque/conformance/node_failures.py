"""The node-resque checks of what failure leaves: the Retry plugin's keys between attempts, and
the cleanup of a worker that died mid-job (``forceCleanWorker``). node-resque (its public
``Queue`` and ``Worker``) and pyresque (node dialect) each play the scenario on namespaces of
their own; the keys left are compared, times by form (relative to the clock) and TTLs by
range."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio

from pyresque.conformance.common import Check, Context, failing_job, first_difference, shape
from pyresque.conformance.node_runtime import DELAYED, _off_loop, _relabel, _until, _when
from pyresque.definitions import JobDefinition
from pyresque.fleet import Fleet
from pyresque.protocol.context import Context as ProtocolContext
from pyresque.protocol.keys import KeySpace
from pyresque.queue import Queue
from pyresque.worker import Worker
from pyresque.worker.jobs import current_job

__all__ = ["NODE_FAILURE_CHECKS"]

QUEUE = "conformance"
RETRY_ARGS: list[Any] = ["retry me", 5, {"a": [1, None, "b c"]}, "é ü"]
"""Fixed args: the key's first whitespace goes (node's ``.replace(/\\s/, "")``), objects as
JSON, text beyond ASCII."""
RETRY_OPTIONS = {"Retry": {"retryLimit": 3, "backoffStrategy": [300_000, 600_000]}}
"""node_peer.js's ``confRetry``: delays of 5 and 10 minutes, so no scheduler promotes a
retry while the check reads it."""
RETRY_TTL_S = 600_000
"""node-resque keeps the retry keys the largest delay in ms, as seconds."""
HELD_ARGS: list[Any] = [41, "é ü 😀", {"k": [3.5, None, True]}]
HELD_QUEUE = "conformance-held"
DEAD = "conformance-host:4343"
"""The dead worker's name (``host:pid``, as node-resque names workers)."""
WORKER = "conformance:retry"
_ERROR_CLASS = re.compile(r"^\w+(?=: |$)")


def _retry_job() -> JobDefinition:
    """pyresque's twin of node_peer.js's ``confRetry``."""
    return JobDefinition(failing_job, plugins=("Retry",), plugin_options=RETRY_OPTIONS)


def _held_job(redis_url: str) -> JobDefinition:
    """pyresque's twin of node_peer.js's ``confHeld``: runs until the check pushes to
    ``conformance-release:<args[0]>``."""

    async def held(job_id: Any, *_: Any) -> Any:
        job = current_job()
        assert job is not None
        release = job.worker.context.keys.key("conformance-release", str(job_id))
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            await client.blpop([release], timeout=20)
        finally:
            await client.aclose()
        return job_id

    return JobDefinition(held)


def _error_form(text: Any) -> Any:
    """``String(err)`` by form: the error class is the language's (``Error`` in node,
    the exception's name in pyresque), the message exact."""
    return _ERROR_CLASS.sub("<class>", text) if isinstance(text, str) else text


def _ttl_form(ttl: int) -> str:
    """A retry key's TTL: node-resque's largest delay taken as seconds (within a minute)."""
    return (
        f"({RETRY_TTL_S - 60},{RETRY_TTL_S}]" if RETRY_TTL_S - 60 < ttl <= RETRY_TTL_S else str(ttl)
    )


def _entry_form(
    entry: dict[str, Any], by_class: bool, *, message_first: bool = False
) -> dict[str, Any]:
    """A failure record (Retry's last error or a failed-list entry) with what depends on the
    clock, the host or the language by form; the rest, and the key order, as written."""
    host = ProtocolContext.create().hostname
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("error", "exception"):
            value = _error_form(value) if by_class else value
        elif key == "failed_at":
            value = shape(value)
        elif key == "backtrace" and by_class:
            # The frames are the language's (and pyresque leaves out its own, where the
            # conformance job lives): Retry's record starts with String(err), the rest by type.
            lines = value if isinstance(value, list) else []
            value = [_error_form(lines[0])] if message_first and lines else type(value).__name__
        elif key == "backtrace":
            value = [shape(str(v).replace(host, "HOST")) for v in value]
        out[key] = value
    return out


def _keys_form(ctx: Context, ns: str, since_ms: float, *, by_class: bool) -> dict[str, Any]:
    """Every key of ``ns``: retry keys' TTLs by range, JSON records by form (see
    :func:`_entry_form`), delayed seconds relative to ``since_ms``."""
    keys = KeySpace(ns)
    snapshot = ctx.snapshot(ns)
    seconds = {
        m.group(1): _when(int(m.group(1)), since_ms) for m in map(DELAYED.fullmatch, snapshot) if m
    }
    worker_prefix = keys.unprefixed(keys.worker("-")).removesuffix("-")
    retry_prefix = keys.unprefixed(keys.retry("-", "")).removesuffix("-")
    failure_prefix = keys.unprefixed(keys.retry_failure("-", "")).removesuffix("-:")
    out: dict[str, Any] = {}
    for key, entry in snapshot.items():
        if key.startswith((retry_prefix, failure_prefix)):
            value = entry["value"]
            if key.startswith(failure_prefix):
                value = _entry_form(json.loads(value), by_class, message_first=True)
            ttl = _ttl_form(int(ctx.client.ttl(keys.key(key))))
            entry = {"type": entry["type"], "value": value, "ttl": ttl}
        elif key == keys.unprefixed(keys.failed()):
            records = [_entry_form(json.loads(v), by_class) for v in entry["value"]]
            entry = {"type": entry["type"], "value": records}
        elif key.startswith(worker_prefix):  # records left: times and versions by form
            entry = {"type": entry["type"], "value": shape(entry["value"])}
        elif entry["type"] == "zset":  # the schedule: member and score, the same second
            # (a second whose delayed list is gone stays a member: both delDelayed leave it)
            pairs = [[_when(int(m), since_ms), _when(int(t), since_ms)] for m, t in entry["value"]]
            entry = {"type": "zset", "value": pairs}
        out[_relabel(key, seconds)] = _relabel(entry, seconds)
    return out


def _events_form(events: list[tuple[str, Any]]) -> list[Any]:
    return [[name, *(detail or [])] for name, detail in events]


def _node_retry(ctx: Context) -> dict[str, Any]:
    ns = ctx.namespace()

    def queue(method: str, *args: Any) -> Any:
        return ctx.peer.call("queue", namespace=ns, method=method, args=list(args))

    since = time.time() * 1000
    queue("enqueue", QUEUE, "confRetry", RETRY_ARGS)
    record: dict[str, Any] = {}
    for attempt in (1, 2, 3):
        events = ctx.peer.call(
            "work",
            namespace=ns,
            name=WORKER,
            queues=[QUEUE],
            also=["reEnqueue"],
        )
        found = [
            (e["event"], [e["delay"], e["remainingAttempts"]] if "delay" in e else None)
            for e in events
        ]
        record[f"attempt {attempt}"] = {
            "events": _events_form(found),
            "keys": _keys_form(ctx, ns, since, by_class=True),
        }
        if attempt < 3:  # the scheduler's work, done now: the retry to its queue
            queue("delDelayed", QUEUE, "confRetry", RETRY_ARGS)
            queue("enqueue", QUEUE, "confRetry", RETRY_ARGS)
    return record


async def _pyresque_attempt(
    redis_url: str, ns: str, jobs: dict[str, JobDefinition]
) -> list[tuple[str, Any]]:
    """One pyresque worker run (burst) on the queue: its reEnqueue and outcome events."""
    events: list[tuple[str, Any]] = []
    worker = Worker(redis_url, QUEUE, jobs, namespace=ns, name=WORKER)
    worker.on(
        "reEnqueue",
        lambda q, job, d: events.append(("reEnqueue", [d["delay"], d["remainingAttempts"]])),
    )
    for name in ("success", "failure", "error"):
        worker.on(name, lambda *_, name=name: events.append((name, None)))
    await worker.run(burst=True)
    return events


def _pyresque_retry(ctx: Context) -> dict[str, Any]:
    ns = ctx.namespace()
    jobs = {"confRetry": _retry_job()}

    async def play() -> dict[str, Any]:
        since = time.time() * 1000
        record: dict[str, Any] = {}
        async with Queue(ctx.redis_url, namespace=ns, dialect="node", jobs=jobs) as queue:
            await queue.enqueue(QUEUE, "confRetry", RETRY_ARGS)
            for attempt in (1, 2, 3):
                events = await _pyresque_attempt(ctx.redis_url, ns, jobs)
                keys = await _off_loop(lambda: _keys_form(ctx, ns, since, by_class=True))
                record[f"attempt {attempt}"] = {"events": _events_form(events), "keys": keys}
                if attempt < 3:
                    await queue.delete_delayed(QUEUE, "confRetry", RETRY_ARGS)
                    await queue.enqueue(QUEUE, "confRetry", RETRY_ARGS)
        return record

    result: dict[str, Any] = ctx.run(play)
    return result


def retry_keys(ctx: Context) -> tuple[str, Any]:
    """node-resque's Retry plugin (``retryLimit: 3``, ``backoffStrategy`` of 5 and 10
    minutes) on a job that always fails vs pyresque's: after each attempt, the worker's events
    (``reEnqueue`` delay and remaining attempts) and every key: the attempt counter and the
    last error (names and bytes exact, the error's class, ``failed_at`` and frames by form,
    TTLs by range), the delayed retry (relative to the start), stats, and the failed entry
    with no retry key left after the last attempt."""
    theirs = _node_retry(ctx)
    ours = _pyresque_retry(ctx)
    return first_difference(theirs, ours) or "", theirs


def _copy(ctx: Context, source: str, targets: list[str]) -> None:
    """Copy every key of ``source`` into each of ``targets`` byte for byte (DUMP/RESTORE,
    TTLs kept): the records of a worker with no process behind them."""
    src = KeySpace(source)
    for raw in ctx.client.scan_iter(match=src.pattern("*"), count=1000):
        dumped: Any = ctx.client.dump(raw)
        ttl: Any = ctx.client.pttl(raw)
        if dumped is None:
            continue
        for target in targets:
            ctx.client.restore(KeySpace(target).key(src.unprefixed(raw)), max(int(ttl), 0), dumped)


def _working(ns: str) -> Callable[[dict[str, Any]], bool]:
    """Whether the dead-to-be worker's working-on record and ping are written."""
    keys = KeySpace(ns)
    wanted = {
        keys.unprefixed(keys.worker(DEAD, HELD_QUEUE)),
        keys.unprefixed(keys.worker_ping(DEAD)),
    }
    return lambda found: wanted <= set(found)


def _node_dead_worker(ctx: Context, copies: int) -> list[str]:
    """Namespaces holding a node-resque worker's records mid-job (copied while it waits)."""
    ns = ctx.namespace()
    ctx.peer.call("queue", namespace=ns, method="enqueue", args=[HELD_QUEUE, "confHeld", HELD_ARGS])
    ctx.peer.call("worker_start", namespace=ns, name=DEAD, queues=[HELD_QUEUE], work=True)
    targets = [ctx.namespace() for _ in range(copies)]
    try:
        _until(ctx, ns, "working-on record", _working(ns))
        _copy(ctx, ns, targets)
    finally:
        ctx.client.rpush(KeySpace(ns).key("conformance-release", str(HELD_ARGS[0])), "go")
        ctx.peer.call("worker_end", name=DEAD)
    return targets


def _pyresque_dead_worker(ctx: Context, copies: int) -> list[str]:
    """Namespaces holding a pyresque worker's records mid-job (copied while it waits)."""
    ns = ctx.namespace()
    jobs = {"confHeld": _held_job(ctx.redis_url)}
    targets = [ctx.namespace() for _ in range(copies)]

    async def play() -> None:
        async with Queue(ctx.redis_url, namespace=ns, dialect="node") as queue:
            await queue.enqueue(HELD_QUEUE, "confHeld", HELD_ARGS)
        worker = Worker(ctx.redis_url, HELD_QUEUE, jobs, namespace=ns, name=DEAD)
        await worker.start()
        try:
            await _off_loop(lambda: _until(ctx, ns, "working-on record", _working(ns)))
            await _off_loop(lambda: _copy(ctx, ns, targets))
        finally:
            ctx.client.rpush(KeySpace(ns).key("conformance-release", str(HELD_ARGS[0])), "go")
            await worker.stop()

    ctx.run(play)
    return targets


def _node_cleans(ctx: Context, ns: str) -> dict[str, Any]:
    returned = ctx.peer.call("queue", namespace=ns, method="forceCleanWorker", args=[DEAD])
    return {
        "returned": _entry_form(returned or {}, by_class=False),
        "keys": _keys_form(ctx, ns, time.time() * 1000, by_class=False),
    }


def _pyresque_cleans(ctx: Context, ns: str, *, fleet: bool = False) -> dict[str, Any]:
    """pyresque's cleanup of ``DEAD``: ``Queue.force_clean_worker``, or with ``fleet``
    the operating API's ``fleet.workers.clean``."""

    async def clean() -> Any:
        async with Queue(ctx.redis_url, namespace=ns, dialect="node") as queue:
            if fleet:
                return await Fleet(queue).workers.clean(DEAD)
            return await queue.force_clean_worker(DEAD)

    returned = ctx.run(clean)
    return {
        "returned": _entry_form(returned or {}, by_class=False),
        "keys": _keys_form(ctx, ns, time.time() * 1000, by_class=False),
    }


def _without(found: dict[str, Any], key: str) -> dict[str, Any]:
    return {**found, "keys": {k: v for k, v in found["keys"].items() if k != key}}


def stuck_worker_cleanup(ctx: Context) -> tuple[str, Any]:
    """A worker dead mid-job: the records a node-resque and a pyresque worker write while a
    job runs (the job waits on a list; the keys are copied byte for byte into fresh
    namespaces, where no process refreshes them). node-resque's ``forceCleanWorker`` on
    pyresque's records, pyresque's ``Queue.force_clean_worker`` on node-resque's and on its
    own, and its ``fleet.workers.clean`` on node-resque's, each vs node-resque's
    ``forceCleanWorker`` on its own: what it returns and every key left (the failed entry's
    keys in order, ``queue``, ``payload``, ``worker``, ``error`` exact, ``failed_at`` and
    ``backtrace`` by form, host as ``HOST``; stats; worker keys). Left out of what
    node-resque leaves: the working-on record (its ``del`` names ``worker:<name>`` without
    the queues; pyresque deletes the record) and, on pyresque's records, pyresque's own
    expiring ``worker:<member>:runtime`` key, which no peer knows; both are in the vectors."""
    node_records = _node_dead_worker(ctx, 3)
    our_records = _pyresque_dead_worker(ctx, 2)
    keys = KeySpace("")
    working_on = keys.unprefixed(keys.worker(DEAD, HELD_QUEUE))
    runtime = keys.unprefixed(keys.worker_runtime(f"{DEAD}:{HELD_QUEUE}"))
    reference = _node_cleans(ctx, node_records[0])
    on_ours = _node_cleans(ctx, our_records[0])
    vectors = {  # what node-resque wrote and answered
        "node-resque cleans its own worker": reference,
        "node-resque cleans pyresque's worker": on_ours,
    }
    expected = _without(reference, working_on)
    compared = {
        "node-resque cleans pyresque's worker": _without(_without(on_ours, runtime), working_on),
        "pyresque cleans node-resque's worker": _pyresque_cleans(ctx, node_records[1]),
        "pyresque cleans its own worker": _pyresque_cleans(ctx, our_records[1]),
        "pyresque's fleet.workers.clean on node-resque's worker": _pyresque_cleans(
            ctx, node_records[2], fleet=True
        ),
    }
    for case, found in compared.items():
        diff = first_difference(expected, found, f"[{case!r}]")
        if diff:
            return diff, vectors
    return "", vectors


NODE_FAILURE_CHECKS: dict[str, Check] = {
    "retry plugin keys": retry_keys,
    "stuck worker cleanup": stuck_worker_cleanup,
}
"""The node-resque Retry and dead-worker checks (rows after the runtime checks)."""
