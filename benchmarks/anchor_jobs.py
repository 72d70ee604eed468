"""The jobs the anchors benchmarks' worker processes run (benchmarks/anchors.py, memory.py).

Importable by name from a worker process started in this folder: rq resolves
``anchor_jobs.rq_noop``, ``pyresque worker --jobs anchor_jobs:PYRESQUE_JOBS`` and
``arq anchor_jobs.ArqSettings`` find theirs here. Nothing heavy is imported at module level
(rq's forking worker imports this module in every job's child).
"""

from __future__ import annotations

import os
import time
from typing import Any

QUEUE = "bench"


# -- rq: each job of the forking Worker runs in a fresh child process, so a job cannot leave
# its record in memory. It appends one line (its argument, its start time) to a file
# (O_APPEND: whole lines from concurrent writers); the SimpleWorker runs the same job.
def rq_noop(i: int) -> None:
    started = time.time()
    with open(os.environ["ANCHORS_RECORD"], "a") as record:
        record.write(f"{i} {started!r}\n")


_client: Any = None
_client_pid = 0


def rq_stamp() -> None:
    """Latency job: its start time, pushed to a list the enqueuing process waits on (the
    connection is opened after the stamp is taken, once per process)."""
    started = time.time()
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        import redis

        _client = redis.Redis.from_url(os.environ["ANCHORS_REDIS"])
        _client_pid = os.getpid()
    _client.rpush(os.environ["ANCHORS_STAMPS"], repr(started))


# -- pyresque's CLI worker (memory.py): a no-op job.
async def noop() -> None:
    return None


PYRESQUE_JOBS = {"noop": noop}


# -- arq's CLI worker (memory.py): `arq anchor_jobs.ArqSettings`, settings from the
# environment. Only defined where arq is installed.
async def arq_noop(ctx: dict[str, Any]) -> None:
    return None


try:
    from arq.connections import RedisSettings
except ImportError:  # arq is in the bench extra only
    pass
else:

    class ArqSettings:
        functions = [arq_noop]
        redis_settings = RedisSettings.from_dsn(os.environ.get("ANCHORS_REDIS", "redis://"))
        queue_name = os.environ.get("ANCHORS_QUEUE", "arq:queue")
