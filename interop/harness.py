"""Drive real node-resque, Ruby resque and Actionhero processes, and snapshot what they left
in Redis.

A peer is one long-lived process speaking JSON lines (``interop/node/peer.js``,
``interop/ruby/peer.rb``, ``interop/actionhero/controller.js``): a test session pays its
start-up once (an Actionhero controller: once per test, as Actionhero is one per process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
RUBY_DIR = HERE / "ruby"
ACTIONHERO_DIR = HERE / "actionhero"

__all__ = [
    "Peer",
    "PeerError",
    "actionhero_unavailable",
    "node_unavailable",
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

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, label: str) -> None:
        self.label = label
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
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


def node_unavailable() -> str | None:
    """Why node-resque cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "node-resque" / "package.json").exists():
        return "node-resque is not installed: run `npm ci --prefix interop/node`"
    return None


def start_node(redis_url: str) -> Peer:
    env = {**os.environ, "REDIS_URL": redis_url, "TZ": os.environ.get("TZ", "UTC")}
    return Peer(["node", "peer.js"], env=env, cwd=NODE_DIR, label="node-resque")


def actionhero_unavailable() -> str | None:
    """Why the Actionhero 29.3.5 app (interop/actionhero) cannot run here, or None."""
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


def ruby_unavailable() -> str | None:
    """Why Ruby resque cannot run here, or None (see interop/README.md for RUBYLIB)."""
    if shutil.which("ruby") is None:
        return "ruby is not on PATH"
    probe = subprocess.run(
        ["ruby", "-e", _RUBY_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        where = os.environ.get("RUBYLIB")
        hint = f"RUBYLIB={where}" if where else "RUBYLIB is not set"
        return (
            f"resque and resque-scheduler do not load ({hint}; see interop/README.md): "
            f"{probe.stderr.strip().splitlines()[0] if probe.stderr.strip() else ''}"
        )
    return None


def start_ruby(redis_url: str, *, adapter: str = "json_gem") -> Peer:
    env = {**os.environ, "REDIS_URL": redis_url, "JSON_ADAPTER": adapter}
    env.setdefault("TZ", "UTC")
    return Peer(["ruby", "peer.rb"], env=env, cwd=RUBY_DIR, label=f"ruby resque ({adapter})")


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
