"""``pyresque worker`` against a Redis that stops answering (SIGSTOPped): a clear error within
the reply timeout, a stop within the grace (plus the reply timeout) on SIGTERM and at once on
a second signal, and the job it owes a settle left where cleanups find it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyresque.protocol.keys import KeySpace
from pyresque.server import RedisServer, find_redis_server
from pyresque.testing import wait_until
from tests.processes import LoggedProcess

pytestmark = pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server")

REPLY_TIMEOUT = 1.0
JOBS = """
import time


def nap(seconds):
    time.sleep(seconds)


JOBS = {"nap": nap}
"""


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as started:
        yield started
        if started.pid is not None:
            os.kill(started.pid, signal.SIGCONT)  # whatever the test left it in


@pytest.fixture
def worker(tmp_path: Path, server: RedisServer) -> Iterator[LoggedProcess]:
    (tmp_path / "hung_jobs.py").write_text(JOBS)
    url = f"{server.url}?socket_timeout={REPLY_TIMEOUT}&socket_connect_timeout={REPLY_TIMEOUT}"
    argv = [
        sys.executable, "-m", "pyresque", "worker", "--redis", url, "--namespace", "hung",
        "--queues", "q", "--jobs", "hung_jobs:JOBS", "--grace", "2", "--timeout", "200",
    ]  # fmt: skip
    process = LoggedProcess(argv, tmp_path)
    yield process
    process.close()


def running(client: redis.Redis, member: str) -> bool:
    return client.get(KeySpace("hung").worker(member)) is not None


def start_a_nap_and_hang_redis(server: RedisServer, worker: LoggedProcess, nap: float) -> str:
    client = redis.Redis(port=server.port)
    client.rpush(KeySpace("hung").queue("q"), json.dumps({"class": "nap", "args": [nap]}))
    member = f"{socket.gethostname()}:{worker.pid}:q"
    wait_until(lambda: running(client, member), timeout=20)
    client.close()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    return member


def test_sigterm_stops_within_the_grace_and_the_owed_settle_stays_for_a_cleanup(
    server: RedisServer, worker: LoggedProcess
) -> None:
    member = start_a_nap_and_hang_redis(server, worker, 0.3)
    time.sleep(0.5)  # the job has ended; its settle waits on the hung server
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = worker.wait(15)
    took = time.monotonic() - began
    assert took < 2 + REPLY_TIMEOUT + 2, (took, worker.log)  # grace + reply timeout + slack
    assert code == 0, worker.log
    assert worker.logged("did not answer") and worker.logged(f"within {REPLY_TIMEOUT:g} s")
    assert worker.logged("before the last job could be settled")
    assert server.pid is not None
    os.kill(server.pid, signal.SIGCONT)
    client = redis.Redis(port=server.port)
    keys = KeySpace("hung")
    # The settle the worker sent before it gave up may still run once Redis reads it: the
    # job is then settled once; else it stays in the record for a stuck-worker cleanup
    # (the worker stays registered for that). Never both, never neither.
    record = client.get(keys.worker(member))
    settled = int(client.get(keys.stat("processed")) or 0)
    assert (record is not None, settled) in {(True, 0), (False, 1)}, (record, settled)
    if record is not None:
        assert json.loads(record)["payload"]["class"] == "nap"
    assert member.encode() in client.smembers(keys.workers())
    client.close()


def test_a_second_signal_stops_at_once(server: RedisServer, worker: LoggedProcess) -> None:
    start_a_nap_and_hang_redis(server, worker, 0.3)
    time.sleep(0.5)
    worker.signal(signal.SIGTERM)
    time.sleep(0.2)
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    worker.wait(15)
    assert time.monotonic() - began < 1.5, worker.log
