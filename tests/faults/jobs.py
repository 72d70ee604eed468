"""The jobs fault-injection workers run: ``pyresque worker --jobs tests.faults.jobs:JOBS``.

``work(id, ms)`` sleeps ``ms`` and records that this run completed by adding
``<id>:<run uuid>`` to the set ``<ns>:fault:done`` on the scenario's Redis
(``FAULT_REDIS_URL``, ``FAULT_NAMESPACE`` in the environment). A set member per run makes
the record idempotent: when a reply is lost and the job retries the ``SADD``, the run
still counts once, so the set holds exactly the runs that completed.

The job keeps retrying the record through connection errors, ``LOADING``, ``OOM`` and
timeouts (for at most ``FAULT_RECORD_DEADLINE`` seconds, default 120; after that it raises,
so the run ends as a failure with a reason rather than silently).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import redis

DONE_KEY = "fault:done"
ID_PREFIX = "fj-"
"""Every job id starts with this (tests.faults.harness.job_ids makes them)."""

_local = threading.local()


def _client() -> redis.Redis:
    client: redis.Redis | None = getattr(_local, "client", None)
    if client is None:
        client = redis.Redis.from_url(
            os.environ["FAULT_REDIS_URL"], socket_timeout=2, socket_connect_timeout=2
        )
        _local.client = client
    return client


def _drop_client() -> None:
    client: redis.Redis | None = getattr(_local, "client", None)
    _local.client = None
    if client is not None:
        try:
            client.close()
        except Exception:
            pass


def record_done(job_id: str) -> None:
    """``SADD <ns>:fault:done <id>:<uuid>``, retried until Redis takes it."""
    member = f"{job_id}:{uuid.uuid4().hex}"
    key = f"{os.environ['FAULT_NAMESPACE']}:{DONE_KEY}"
    deadline = time.monotonic() + float(os.environ.get("FAULT_RECORD_DEADLINE", "120"))
    delay = 0.01
    while True:
        try:
            _client().sadd(key, member)
            return
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not record {job_id} done: {exc!r}") from exc
            if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                _drop_client()
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def work(job_id: Any, ms: Any = 0) -> str:
    """A fault-suite job: sleep ``ms``, then record this run of ``job_id`` as done."""
    if not isinstance(job_id, str) or not job_id.startswith(ID_PREFIX):
        raise TypeError(f"work(): not a fault-suite job id: {job_id!r}"[:200])
    if not isinstance(ms, int | float) or isinstance(ms, bool) or not 0 <= ms < 60_000:
        raise TypeError(f"work(): bad ms {ms!r}"[:200])
    if ms:
        time.sleep(ms / 1000)
    record_done(job_id)
    return job_id


JOBS = {"work": work}
