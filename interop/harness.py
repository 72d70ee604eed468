"""Drive real node-resque, Ruby resque and Actionhero processes, and snapshot what they left
in Redis.

A peer is one long-lived process speaking JSON lines (``interop/node/peer.js``,
``interop/ruby/peer.rb``, ``interop/actionhero/controller.js``): a test session pays its
start-up once (an Actionhero controller: once per test, as Actionhero is one per process).

``PYRESQUE_PEERS=containers`` (default ``local``) starts each peer as a container instead,
beside a Redis container on one Docker network (``interop/containers.py``).

``*_unavailable()`` say in one short line why a peer cannot run here (a skip reason); what
a failed probe printed goes to :data:`DIAGNOSTICS`, which ``pytest -v`` shows once at the
end of the session (``interop/conftest.py``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from interop import containers

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
RUBY_DIR = HERE / "ruby"
ACTIONHERO_DIR = HERE / "actionhero"
RUBY_SCHEDULER = ("ruby", "scheduler.rb")
"""resque-scheduler's command, run in :data:`RUBY_DIR` (or the ruby image's WORKDIR)."""

DIAGNOSTICS: dict[str, str] = {}
"""The full story of each peer found unavailable this session (its name: what its probe
printed), for ``pytest -v``; the skip reasons themselves stay one short line."""

__all__ = [
    "DIAGNOSTICS",
    "Peer",
    "RUBY_SCHEDULER",
    "PeerError",
    "actionhero_unavailable",
    "activejob_unavailable",
    "node_unavailable",
    "peer_command",
    "ruby_unavailable",
    "snapshot",
    "start_actionhero",
]


class PeerError(Exception):
    """The peer answered with an error (its class name and message)."""

    def __init__(self, name: str | None, message: str) -> None:
        super().__init__(f"{name}: {message}" if name else message)
        self.name = name
        self.message = message


class Peer:
    """One peer process; ``call(op, **fields)`` sends a request and returns the result."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        label: str,
        container: str | None = None,
    ) -> None:
        self.label = label
        self.container = container
        """The peer's container name (``PYRESQUE_PEERS=containers``; argv is its
        ``docker run -i``), else None."""
        self._lock = threading.Lock()
        self._next = 0
        self._proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._stderr: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def call(self, op: str, **fields: Any) -> Any:
        with self._lock:
            self._next += 1
            request = {"id": self._next, "op": op, **fields}
            assert self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                raise RuntimeError(f"{self.label} peer died: {''.join(self._stderr)}") from None
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.label} peer died: {''.join(self._stderr)}")
            reply = json.loads(line)
            if reply.get("id") != request["id"]:
                raise RuntimeError(f"{self.label} peer answered out of order: {line!r}")
            if not reply["ok"]:
                raise PeerError(reply.get("name"), reply.get("error", ""))
            return reply["result"]

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the peer (a crash: it cleans nothing up); ``close`` still releases it."""
        if self.container is not None:  # killing the docker client would leave it running
            containers.kill(self.container)
        if self._proc.poll() is None:  # ours, by its pid
            self._proc.kill()
        self._proc.wait()

    def close(self) -> None:
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:  # the peer is gone already
                pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._drainer.join(5)
        if self.container is not None:
            containers.remove(self.container)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


def _containers_unavailable() -> str | None:
    """Why PYRESQUE_PEERS=containers cannot run here (one line), or None; -v shows why."""
    reason = containers.unavailable()
    if reason is not None:
        DIAGNOSTICS.update(containers.DETAIL)
    return reason


def node_unavailable() -> str | None:
    """Why node-resque cannot run here, or None."""
    if containers.enabled():
        return _containers_unavailable()
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "node-resque" / "package.json").exists():
        return "node-resque is not installed: run `npm ci --prefix interop/node`"
    return None


def _container_peer(kind: str, env: Mapping[str, str], label: str) -> Peer:
    """Peer ``kind`` as ``docker run -i`` of its image, on the containers' network."""
    name = containers.container_name(label)
    argv = containers.world().run_argv(kind, containers.peer_env(env), name=name)
    return Peer(argv, env=dict(os.environ), cwd=HERE, label=label, container=name)


def start_node(redis_url: str) -> Peer:
    if containers.enabled():
        inner = {"REDIS_URL": redis_url, "TZ": os.environ.get("TZ", "UTC")}
        return _container_peer("node", inner, "node-resque")
    env = {**os.environ, "REDIS_URL": redis_url, "TZ": os.environ.get("TZ", "UTC")}
    return Peer(["node", "peer.js"], env=env, cwd=NODE_DIR, label="node-resque")


def actionhero_unavailable() -> str | None:
    """Why the Actionhero 29.3.5 app (interop/actionhero) cannot run here, or None."""
    if containers.enabled():
        return _containers_unavailable()
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (ACTIONHERO_DIR / "node_modules" / "actionhero" / "package.json").exists():
        return "Actionhero is not installed: run `npm ci --prefix interop/actionhero`"
    return None


# Inherited variables that would change which app or settings the controller boots: the
# controller and its ``start`` op set these themselves.
_ACTIONHERO_OWN_ENV = ("project_root", "projectRoot", "PROJECT_ROOT", "ACTIONHERO_CONFIG")


def start_actionhero(
    redis_url: str, namespace: str, *, env: Mapping[str, str] | None = None
) -> Peer:
    """A controller (interop/actionhero/controller.js) for ONE Actionhero node on
    ``namespace``; boot it with ``peer.call("start", ...)``, stop it with ``"stop"``.

    ``env`` adds environment variables (e.g. ``SHARED_PERIODIC_FREQUENCY``).
    """
    if containers.enabled():
        inner = {"REDIS_URL": redis_url, "RESQUE_NAMESPACE": namespace}
        inner["TZ"] = os.environ.get("TZ", "UTC")
        for key in ("ACTIONHERO_LOG_LEVEL", "INTEROP_EXTRA_TASKS"):
            if key in os.environ:
                inner[key] = os.environ[key]
        inner.update(env or {})
        return _container_peer("actionhero", inner, f"actionhero ({namespace})")
    full = {
        key: value
        for key, value in os.environ.items()
        if key not in _ACTIONHERO_OWN_ENV and not key.startswith("TASKS_")
    }
    full.update({"REDIS_URL": redis_url, "RESQUE_NAMESPACE": namespace})
    full.setdefault("TZ", "UTC")
    full.update(env or {})
    return Peer(
        ["node", "controller.js"], env=full, cwd=ACTIONHERO_DIR, label=f"actionhero ({namespace})"
    )


_RUBY_PROBE = 'require "resque"; require "resque-scheduler"; print Resque::VERSION'
_ACTIVEJOB_PROBE = 'require "active_job"; require "resque"; ActiveJob::Base.queue_adapter = :resque'


def _ruby_says(code: str) -> str | None:
    """None when ``ruby -e code`` succeeds, else what it printed (its LoadError ...)."""
    if containers.enabled():
        status, stderr = containers.world().run_once("ruby", ["ruby", "-e", code], {})
        if status == 0:
            return None
        return stderr or f"exit status {status}, nothing on stderr"
    probe = subprocess.run(
        ["ruby", "-e", code], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode == 0:
        return None
    return probe.stderr.strip() or f"exit status {probe.returncode}, nothing on stderr"


@functools.cache
def ruby_unavailable() -> str | None:
    """Why Ruby resque cannot run here, in one short line, or None (see interop/README.md
    for RUBYLIB). Probed once per session."""
    if containers.enabled():
        reason = _containers_unavailable()
        if reason is not None:
            return reason
        said = _ruby_says(_RUBY_PROBE)
        if said is not None:
            DIAGNOSTICS["Ruby resque"] = f"the ruby image: ruby -e '{_RUBY_PROBE}' failed:\n{said}"
            return "Ruby resque does not load in its image (see interop/docker/ruby.Dockerfile)"
        return None
    if shutil.which("ruby") is None:
        DIAGNOSTICS["Ruby resque"] = "no `ruby` on PATH"
        return "Ruby not found: install it (see interop/README.md)"
    said = _ruby_says(_RUBY_PROBE)
    if said is None:
        return None
    rubylib = os.environ.get("RUBYLIB")
    DIAGNOSTICS["Ruby resque"] = (
        f"ruby -e '{_RUBY_PROBE}' failed, RUBYLIB={rubylib or '(not set)'}:\n{said}"
    )
    if rubylib:
        return "Ruby resque does not load from RUBYLIB (see interop/README.md)"
    return "Ruby resque not found: set RUBYLIB (see interop/README.md)"


@functools.cache
def activejob_unavailable() -> str | None:
    """Why Rails ActiveJob's resque adapter cannot run here, in one short line, or None."""
    reason = ruby_unavailable()
    if reason is not None:
        return reason
    said = _ruby_says(_ACTIVEJOB_PROBE)
    if said is None:
        return None
    DIAGNOSTICS["Rails ActiveJob"] = f"ruby -e '{_ACTIVEJOB_PROBE}' failed:\n{said}"
    return "Rails ActiveJob's resque adapter does not load (see interop/README.md)"


def start_ruby(redis_url: str, *, adapter: str = "json_gem") -> Peer:
    if containers.enabled():
        inner = {"REDIS_URL": redis_url, "JSON_ADAPTER": adapter}
        inner["TZ"] = os.environ.get("TZ", "UTC")
        return _container_peer("ruby", inner, f"ruby resque ({adapter})")
    env = {**os.environ, "REDIS_URL": redis_url, "JSON_ADAPTER": adapter}
    env.setdefault("TZ", "UTC")
    return Peer(["ruby", "peer.rb"], env=env, cwd=RUBY_DIR, label=f"ruby resque ({adapter})")


def peer_command(
    kind: str, argv: list[str], env: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """What runs a one-off peer script (``ruby activejob.rb ...``, ``node stringify.js``):
    ``argv`` and ``env`` (added to this process's) as given; under
    ``PYRESQUE_PEERS=containers``, a ``docker run -i`` of image ``kind`` (node, ruby)
    with ``env`` passed inside."""
    extra = {"TZ": os.environ.get("TZ", "UTC"), **(env or {})}
    if not containers.enabled():
        return argv, {**os.environ, **extra}
    return containers.world().command(kind, argv, extra), dict(os.environ)


def snapshot(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every key under ``namespace:`` with its type and exact value bytes.

    Keys are given without the namespace prefix; sets are sorted; zsets are
    ``[(member, score)]``; ``has_ttl`` tells whether a TTL is set.
    """
    prefix = f"{namespace}:".encode()
    out: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=prefix + b"*", count=1000)):
        raw_kind = client.type(key)
        kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = dict(sorted(client.hgetall(key).items()))
        else:
            value = None
        name = bytes(key)[len(prefix) :].decode("utf-8", "surrogateescape")
        out[name] = {"type": kind, "value": value, "has_ttl": client.ttl(key) >= 0}
    return out
