"""Processes for the fault-injection suite: a private ``redis-server`` that can be restarted,
paused, starved of memory and have its clients killed, and pyresque (or node-resque) worker
and scheduler processes that can be SIGKILLed and replaced.

Everything started here is ours, by pid: :func:`kill_leftovers` (registered with
``atexit``) kills what a crashed run left behind.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
NODE_PEER = ROOT / "interop" / "faults" / "fault_peer.js"
NODE_MODULES = ROOT / "interop" / "node" / "node_modules"
JOBS_SPEC = "tests.faults.jobs:JOBS"

__all__ = [
    "ClientKillLoop",
    "Fleet",
    "LoadingProbe",
    "RedisProcess",
    "Spawned",
    "free_port",
    "node_unavailable",
    "wait_until",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, *, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False).
    A predicate that raises counts as false (Redis may be away while we poll)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def node_unavailable() -> str | None:
    """Why node-resque processes cannot run here, or None."""
    if shutil.which("node") is None:
        return "no node on PATH"
    if not (NODE_MODULES / "node-resque").is_dir():
        return "node-resque is not installed: npm ci --prefix interop/node"
    return None


def _ping(port: int, timeout: float) -> bytes:
    """One PING on a new connection: the reply's first line, b"" when it never came, or
    b"-DOWN" when nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(256).split(b"\r\n", 1)[0]
    except TimeoutError:
        return b""
    except OSError:
        return b"-DOWN"


# -- Redis ----------------------------------------------------------------------------------


class RedisProcess:
    """A private ``redis-server`` on a loopback port, its data and log in ``workdir``.

    ``options`` are extra command-line directives (``"--appendonly", "yes"``); they come
    after the defaults, so they win. :meth:`restart` starts it again on the same port and
    directory (so an AOF is loaded again)."""

    def __init__(self, workdir: Path, options: Sequence[str] = ()) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.options = list(options)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.binary = shutil.which("redis-server") or "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    def _argv(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--loglevel", "notice",
            "--logfile", str(self.log_path),
            "--enable-debug-command", "local",
            *self.options,
        ]  # fmt: skip

    def start(self, *, timeout: float = 60.0, until_loaded: bool = True) -> None:
        """Start and wait until it answers PING (with PONG; or with anything, LOADING
        included, when not ``until_loaded``). A first start retries on another port when
        the probed one was taken meanwhile."""
        first = self.port == 0
        for _attempt in range(5 if first else 1):
            if first:
                self.port = free_port()
            self.proc = subprocess.Popen(
                self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            _LIVE.add(self.proc)
            if wait_until(self._answers(until_loaded), timeout, interval=0.01) and self.alive:
                return
            self.kill()
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.log_tail()}")

    def _answers(self, until_loaded: bool) -> Callable[[], bool]:
        wanted = (b"+PONG",) if until_loaded else (b"+PONG", b"-LOADING")

        def answers() -> bool:  # or exited: no point waiting
            return not self.alive or _ping(self.port, 0.5).startswith(wanted)

        return answers

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, **options: float) -> redis.Redis:
        options.setdefault("socket_timeout", 10)
        options.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def shutdown(self, *, timeout: float = 60.0) -> None:
        """``SHUTDOWN`` (an AOF is flushed and fsynced first), and wait for the exit."""
        assert self.proc is not None
        client = self.client()
        try:
            client.shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        finally:
            client.close()
        self.proc.wait(timeout)

    def restart(self, *, until_loaded: bool = False) -> None:
        self.shutdown()
        self.start(until_loaded=until_loaded)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.kill()
        self.proc.wait()
        _LIVE.discard(self.proc)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ClientKillLoop:
    """``CLIENT KILL TYPE normal SKIPME yes`` every ``interval`` seconds (a random pick in
    the range), from its own connection, until :meth:`stop`."""

    def __init__(self, redis_process: RedisProcess, interval: tuple[float, float]) -> None:
        self.redis = redis_process
        self.interval = interval
        self.rounds = self.killed = self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="client-kill", daemon=True)

    def start(self) -> ClientKillLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        client = self.redis.client(socket_timeout=2)
        try:
            while not self._stop.wait(random.uniform(*self.interval)):
                try:
                    killed = client.execute_command(
                        "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"
                    )
                    self.killed += int(killed)
                    self.rounds += 1
                except redis.RedisError:
                    self.errors += 1
        finally:
            client.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class LoadingProbe:
    """Polls PING on a fresh connection every few ms and records what Redis answered:
    how long it answered ``LOADING`` (the longest run) and how long it was unreachable."""

    port: int
    every: float = 0.01
    loading_runs: list[tuple[float, float]] = field(default_factory=list)
    down_runs: list[tuple[float, float]] = field(default_factory=list)
    polls: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loading-probe", daemon=True)

    def start(self) -> LoadingProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        state, since = "", time.monotonic()
        while not self._stop.is_set():
            reply = _ping(self.port, 0.5)
            now = time.monotonic()
            self.polls += 1
            new = (
                "loading"
                if reply.startswith(b"-LOADING")
                else ("down" if reply == b"-DOWN" else "other")
            )
            if new != state:
                self._close(state, since, now)
                state, since = new, now
            self._stop.wait(self.every)
        self._close(state, since, time.monotonic())

    def _close(self, state: str, since: float, now: float) -> None:
        if state == "loading":
            self.loading_runs.append((since, now))
        elif state == "down":
            self.down_runs.append((since, now))

    @property
    def longest_loading(self) -> float:
        return max((end - start for start, end in self.loading_runs), default=0.0)

    @property
    def longest_down(self) -> float:
        return max((end - start for start, end in self.down_runs), default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# -- worker and scheduler processes ---------------------------------------------------------

_LIVE: set[subprocess.Popen[bytes]] = set()


def kill_leftovers() -> None:
    """SIGKILL (SIGCONT first) every process this module started that still runs."""
    for proc in list(_LIVE):
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _LIVE.discard(proc)


atexit.register(kill_leftovers)


class Spawned:
    """A worker or scheduler process; the tail of its stderr kept in memory."""

    def __init__(self, label: str, argv: list[str], *, env: dict[str, str]) -> None:
        self.label = label
        self.argv = argv
        self.ended_by_us = False
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        _LIVE.add(self.proc)
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self._reader = threading.Thread(target=self._read, name=f"stderr-{label}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def exited_on_its_own(self) -> bool:
        return not self.alive and not self.ended_by_us

    def kill(self) -> None:
        """SIGKILL, as a fault (the process is ours to kill: not reported as a finding)."""
        self.ended_by_us = True
        if self.alive:
            self.proc.kill()
        self.release()

    def release(self) -> None:
        """Wait for the exit (after a kill) and close the stderr pipe."""
        self.proc.wait(10)
        _LIVE.discard(self.proc)
        self._reader.join(2)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL past ``timeout``; the exit status."""
        if self.alive:
            self.ended_by_us = True
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.release()
        return self.proc.wait()

    def tail(self, lines: int = 15) -> str:
        return "\n".join(list(self.lines)[-lines:])

    def describe(self) -> str:
        code = self.proc.poll()
        state = "alive" if code is None else f"exit code {code}"
        return f"{self.label} (pid {self.pid}, {state})"


class Fleet:
    """Starts worker and scheduler processes of one side (``pyresque`` or ``node``) on one
    Redis and namespace, and keeps every one it started."""

    def __init__(self, side: str, redis_url: str, namespace: str) -> None:
        if side not in ("pyresque", "node"):
            raise ValueError(side)
        self.side = side
        self.redis_url = redis_url
        self.namespace = namespace
        self.procs: list[Spawned] = []
        self._count = collections.Counter[str]()
        self.env = dict(os.environ)
        self.env.update(FAULT_REDIS_URL=redis_url, FAULT_NAMESPACE=namespace)
        self.env.pop("REDIS_URL", None)

    def _label(self, role: str) -> str:
        self._count[role] += 1
        return f"{self.side}-{role}-{self._count[role]}"

    def _spawn(self, role: str, argv: list[str]) -> Spawned:
        proc = Spawned(self._label(role), argv, env=self.env)
        self.procs.append(proc)
        return proc

    def worker(
        self,
        queues: Sequence[str],
        *,
        dialect: str = "node",
        timeout_ms: int = 200,
        burst: bool = False,
        url_query: str = "",
    ) -> Spawned:
        """A worker process on ``queues``. ``url_query`` (``socket_timeout=1&...``) is added
        to pyresque's ``--redis`` URL; node-resque takes no such options."""
        if self.side == "node":
            if burst or dialect != "node":
                raise ValueError("node-resque workers have no --burst and no ruby dialect")
            config = {
                "url": self.redis_url, "namespace": self.namespace, "queues": list(queues),
                "timeout": timeout_ms,
            }  # fmt: skip
            return self._spawn("worker", ["node", str(NODE_PEER), "worker", json.dumps(config)])
        url = self.redis_url + (f"?{url_query}" if url_query else "")
        argv = [
            sys.executable, "-m", "pyresque", "worker", "--redis", url,
            "--namespace", self.namespace, "--dialect", dialect,
            "--queues", ",".join(queues), "--jobs", JOBS_SPEC,
            "--timeout", str(timeout_ms), "--log-level", "warning",
        ]  # fmt: skip
        return self._spawn("worker", [*argv, "--burst"] if burst else argv)

    def scheduler(
        self,
        *,
        name: str | None = None,
        timeout_ms: int = 200,
        stuck_worker_timeout_ms: int | None = None,
        retry_stuck_jobs: bool = False,
        leader_lock_timeout_s: int = 180,
    ) -> Spawned:
        if self.side == "node":
            config: dict[str, object] = {
                "url": self.redis_url, "namespace": self.namespace, "timeout": timeout_ms,
                "retryStuckJobs": retry_stuck_jobs, "leaderLockTimeout": leader_lock_timeout_s,
            }  # fmt: skip
            if name is not None:
                config["name"] = name
            if stuck_worker_timeout_ms is not None:
                config["stuckWorkerTimeout"] = stuck_worker_timeout_ms
            argv = ["node", str(NODE_PEER), "scheduler", json.dumps(config)]
            return self._spawn("scheduler", argv)
        argv = [
            sys.executable, "-m", "pyresque", "scheduler", "--redis", self.redis_url,
            "--namespace", self.namespace, "--timeout", str(timeout_ms),
            "--leader-lock-timeout", str(leader_lock_timeout_s), "--log-level", "info",
        ]  # fmt: skip
        if name is not None:
            argv += ["--name", name]
        if stuck_worker_timeout_ms is not None:
            argv += ["--stuck-worker-timeout", str(stuck_worker_timeout_ms)]
        if retry_stuck_jobs:
            argv.append("--retry-stuck-jobs")
        return self._spawn("scheduler", argv)

    def alive(self, role: str = "") -> list[Spawned]:
        return [p for p in self.procs if p.alive and f"-{role}" in p.label]

    def died_on_their_own(self) -> list[Spawned]:
        return [p for p in self.procs if p.exited_on_its_own]

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive:
                proc.ended_by_us = True
                proc.proc.kill()
        for proc in self.procs:
            try:
                proc.release()
            except subprocess.TimeoutExpired:
                pass
