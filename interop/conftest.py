"""Fixtures for the interop tests: one node-resque and one Ruby resque peer per session,
Actionhero nodes per test.

A peer that cannot run here skips its tests with one short reason (fails them, under
``CI=true``, for node-resque and Actionhero); ``pytest -v`` prints what its probe said
(Ruby's LoadError ...) once, at the end of the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from interop import containers, harness
from interop.harness import (
    RUBY_SCHEDULER,
    Peer,
    PeerError,
    actionhero_unavailable,
    node_unavailable,
    ruby_unavailable,
    start_actionhero,
    start_node,
    start_ruby,
)
from pyresque.testing.plugin import delete_namespace

ROOT = Path(__file__).resolve().parents[1]


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> Iterator[None]:
    """After the short summary (the skip reasons): why peers were unavailable, in full and
    once, with -v; else a line saying so."""
    yield
    diagnostics = harness.DIAGNOSTICS
    if not diagnostics:
        return
    names = ", ".join(diagnostics)
    if config.get_verbosity() < 1:
        terminalreporter.write_line(f"interop: {names} unavailable here; -v shows why")
        return
    terminalreporter.section(f"interop: why {names} could not run")
    for name, text in diagnostics.items():
        terminalreporter.write_line(f"{name}: {text}")


if containers.enabled():

    @pytest.fixture(scope="session")
    def redis_url() -> Iterator[str]:
        """PYRESQUE_PEERS=containers: the Redis container beside the peer containers (this
        host's URL for it; the peers get theirs). Without a Docker engine every interop
        test skips with the reason, or fails under CI=true."""
        reason = harness._containers_unavailable()
        if reason is not None:
            if _ci():
                pytest.fail(f"{reason} (CI=true: the container mode must run)")
            pytest.skip(reason)
        try:
            yield containers.world().redis_url
        finally:
            containers.close_world()


@pytest.fixture(scope="session")
def node(redis_url: str) -> Iterator[Peer]:
    """The real node-resque 9.7.1 (interop/node). In CI its absence fails the test."""
    reason = node_unavailable()
    if reason is not None:
        if _ci():
            pytest.fail(f"node-resque interop must run in CI: {reason}")
        pytest.skip(reason)
    peer = start_node(redis_url)
    yield peer
    peer.close()


@pytest.fixture
def actionhero(redis_url: str, resque_namespace: str) -> Iterator[Callable[..., Peer]]:
    """Real Actionhero 29.3.5 nodes (interop/actionhero, one controller process each) on the
    test's namespace; each is stopped and its process ended after the test. In CI a missing
    Actionhero install fails the test.

    ``actionhero(**start_options)`` starts a controller and boots Actionhero with the
    controller's ``start`` options (``scheduler``, ``minTaskProcessors``, ``queues``,
    ``timeout`` ...; the namespace is the test's), returning its Peer.
    ``actionhero(boot=False)`` only starts the controller; ``env={...}`` adds environment
    variables (e.g. ``SHARED_PERIODIC_FREQUENCY``). ``peer.kill()`` simulates a crash.

    Give ``queues`` explicitly where worker registrations matter: with Actionhero's default
    ``["*"]`` a node-resque 9.7.1 worker unregisters and re-registers (dropping its ping,
    ``started`` and per-worker stats keys) on every poll that finds no job.
    """
    reason = actionhero_unavailable()
    if reason is not None:
        if _ci():
            pytest.fail(f"Actionhero interop must run in CI: {reason}")
        pytest.skip(reason)
    started: list[Peer] = []

    def start(*, boot: bool = True, env: Mapping[str, str] | None = None, **options: Any) -> Peer:
        peer = start_actionhero(redis_url, resque_namespace, env=env)
        started.append(peer)
        if boot:
            peer.call("start", **{"namespace": resque_namespace, **options})
        return peer

    yield start
    problems: list[str] = []
    for peer in reversed(started):
        try:
            if peer.alive:  # a test may have killed it (a crashed node)
                peer.call("stop")
        except (PeerError, RuntimeError) as error:
            problems.append(f"{peer.label}: {error}")
        finally:
            peer.close()
    if problems:
        pytest.fail("Actionhero did not stop cleanly: " + "; ".join(problems))


def _ruby(redis_url: str, adapter: str) -> Iterator[Peer]:
    reason = ruby_unavailable()
    if reason is not None:
        pytest.skip(reason)
    peer = start_ruby(redis_url, adapter=adapter)
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def ruby(redis_url: str) -> Iterator[Peer]:
    """The Ruby resque on RUBYLIB (2.7 + scheduler 4.11, or 3.0 + 5.0) with the json gem."""
    yield from _ruby(redis_url, "json_gem")


@pytest.fixture(scope="session")
def ruby_oj(redis_url: str) -> Iterator[Peer]:
    """The same Ruby peer with MultiJson on Oj (what Debian's multi_json picks)."""
    yield from _ruby(redis_url, "oj")


@pytest.fixture
def namespaces(redis_url: str) -> Iterator[list[str]]:
    """Extra namespaces a test fills in; all are deleted afterwards."""
    made: list[str] = []
    yield made
    for namespace in made:
        delete_namespace(redis_url, namespace)


@pytest.fixture
def spawn_worker(redis_url: str, resque_namespace: str) -> Iterator[Any]:
    """Start ``pyresque worker`` processes (the real CLI, jobs from interop/jobs.py) on the
    test's namespace; leftovers are killed afterwards.

    ``spawn_worker(queues, *extra_cli_args, dialect="node")`` returns the process.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(queues: str, *extra: str, dialect: str = "node") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pyresque", "worker", "--dialect", dialect,
                "--redis", redis_url, "--namespace", resque_namespace,
                "--queues", queues, "--jobs", "interop.jobs:JOBS", *extra,
            ],
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": redis_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class SchedulerProcess:
    """A scheduler subprocess (pyresque's CLI or resque-scheduler); its output is kept."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str], cwd: Path, container: str | None = None
    ) -> None:
        self.container = container  # PYRESQUE_PEERS=containers: argv is its docker run
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait for the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.container is not None:
            containers.kill(self.container)
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.container is not None:
            containers.kill(self.container)
        if self.proc.poll() is None:  # ours, by its pid
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def spawn_scheduler(redis_url: str, resque_namespace: str) -> Iterator[Any]:
    """Start ``pyresque scheduler`` processes (the real CLI) on the test's namespace;
    leftovers are killed afterwards.

    ``spawn_scheduler(*extra_cli_args, dialect="node")`` returns a SchedulerProcess.
    """
    started: list[SchedulerProcess] = []

    def start(*extra: str, dialect: str = "node") -> SchedulerProcess:
        proc = SchedulerProcess(
            [
                sys.executable, "-m", "pyresque", "scheduler", "--dialect", dialect,
                "--redis", redis_url, "--namespace", resque_namespace, *extra,
            ],
            env={**os.environ, "REDIS_URL": redis_url},
            cwd=ROOT,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def resque_scheduler(redis_url: str, resque_namespace: str) -> Iterator[Any]:
    """Start real resque-scheduler processes (interop/ruby/scheduler.rb) on the test's
    namespace; skipped, with the reason printed, where Ruby resque is unavailable.

    ``resque_scheduler(interval=0.2, lock_timeout=180)`` returns a SchedulerProcess; its
    lock value is ``<resque-scheduler's host>:<pid>``.
    """
    reason = ruby_unavailable()
    if reason is not None:
        pytest.skip(reason)
    started: list[SchedulerProcess] = []

    def start(*, interval: float = 0.2, lock_timeout: int = 180) -> SchedulerProcess:
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "NAMESPACE": resque_namespace,
            "RESQUE_SCHEDULER_INTERVAL": str(interval),
            "LOCK_TIMEOUT": str(lock_timeout),
        }
        env.setdefault("TZ", "UTC")
        if containers.enabled():
            inner = {key: env[key] for key in ("REDIS_URL", "NAMESPACE", "TZ")}
            inner.update(RESQUE_SCHEDULER_INTERVAL=str(interval), LOCK_TIMEOUT=str(lock_timeout))
            name = containers.container_name("resque-scheduler")
            argv = containers.world().run_argv(
                "ruby", inner, name=name, command=list(RUBY_SCHEDULER)
            )
            proc = SchedulerProcess(argv, env=env, cwd=ROOT, container=name)
        else:
            proc = SchedulerProcess(list(RUBY_SCHEDULER), env=env, cwd=harness.RUBY_DIR)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()
