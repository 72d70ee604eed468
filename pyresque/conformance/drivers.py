"""The peer processes ``pyresque conformance`` drives: node-resque and Ruby resque, each one
long-lived process speaking JSON lines (the scripts in ``pyresque/conformance/peers/``,
shipped in the wheel), loading the peer library from the folder or load path the user named.
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

from pyresque.errors import PeerError

__all__ = [
    "SCRIPTS",
    "Peer",
    "actionhero_unavailable",
    "node_unavailable",
    "ruby_unavailable",
    "start_actionhero",
    "start_node",
    "start_ruby",
]

SCRIPTS = Path(__file__).resolve().parent / "peers"
"""The folder of the peer driver scripts (``node_peer.js``, ``ruby_peer.rb``)."""

_RUBY_PROBE = 'require "resque"; require "resque-scheduler"; print Resque::VERSION'


class Peer:
    """One peer process speaking JSON lines, one request and one reply in order (the
    conformance checks' and :mod:`pyresque.testing.peers`'); :meth:`call` sends a request
    and returns the result."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str], label: str, cwd: Path = SCRIPTS
    ) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._next = 0
        self._stderr: list[str] = []
        try:
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
        except OSError as exc:
            raise PeerError(f"{label} could not start: {exc}") from exc
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def _died(self) -> PeerError:
        self._proc.wait(5)
        said = " ".join("".join(self._stderr).split())[-400:]
        return PeerError(f"{self.label} exited ({self._proc.returncode}): {said}")

    def call(self, op: str, **fields: Any) -> Any:
        """Send ``{"op": op, **fields}``; the peer's result, or :class:`PeerError`."""
        with self._lock:
            self._next += 1
            request = {"id": self._next, "op": op, **fields}
            assert self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                raise self._died() from None
            line = self._proc.stdout.readline()
            if not line:
                raise self._died()
            reply = json.loads(line)
            if not reply.get("ok"):
                name, error = reply.get("name"), reply.get("error", "")
                said = f"{name}: {error}" if name else str(error)
                raise PeerError(f"{self.label}: {said}", name=name)
            return reply.get("result")

    def close(self) -> None:
        """End the peer: close its stdin (it ends its workers and connections), then wait."""
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:  # gone already
                pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # ours, by its pid
            self._proc.wait()
        self._drainer.join(5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


def _find_node_resque(project: Path) -> Path | None:
    """node-resque's package folder as ``require`` from ``project`` finds it, or None."""
    for folder in (project, *project.parents):
        found = folder / "node_modules" / "node-resque"
        if (found / "package.json").is_file():
            return found
    return None


def node_unavailable(
    project_dir: str | os.PathLike[str] | None, *, point_with: str | None = None
) -> str | None:
    """Why the node-resque peer cannot run from ``project_dir`` here, in one line, or None.
    ``point_with`` names the setting that picks the project (said in the reason)."""
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js for the node-resque peer"
    if project_dir is None:
        return (
            f"no Node project for the node-resque peer: point {point_with} at the folder "
            "whose node_modules has node-resque"
        )
    project = Path(project_dir).resolve()
    if _find_node_resque(project) is None:
        found = (
            f"node-resque is not installed in {project} (no node_modules/node-resque in "
            f"{project_dir} or a folder above): run `npm install node-resque` there"
        )
        return f"{found}, or point {point_with} at the project that has it" if point_with else found
    return None


def start_node(
    project_dir: Path,
    redis_url: str,
    *,
    namespace: str | None = None,
    jobs: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path = SCRIPTS,
) -> Peer:
    """The node-resque peer (``node_peer.js``), loading node-resque as ``require`` from
    ``project_dir`` does; its worker runs the job module ``jobs`` (default: the conformance
    jobs), on ``namespace`` where a request names none."""
    full = {**os.environ, **(env or {})}
    full.update(
        REDIS_URL=redis_url,
        PYRESQUE_NODE_PROJECT=str(project_dir.resolve()),
        PYRESQUE_NODE_JOBS=str(Path(jobs).resolve()) if jobs is not None else "",
        PYRESQUE_NAMESPACE=namespace or "resque",
    )
    full.setdefault("TZ", "UTC")
    return Peer(["node", str(SCRIPTS / "node_peer.js")], env=full, cwd=cwd, label="node-resque")


def actionhero_unavailable(node_dir: Path) -> str | None:
    """Why Actionhero cannot run from ``node_dir``, in one line, or None."""
    found = node_unavailable(node_dir)
    if found:
        return found
    if not (node_dir / "node_modules" / "actionhero" / "package.json").is_file():
        return f"no node_modules/actionhero in {node_dir}"
    return None


def start_actionhero(node_dir: Path, redis_url: str) -> Peer:
    """The Actionhero peer: ``actionhero_peer.js`` boots the app shipped in
    ``peers/actionhero`` with Actionhero from ``node_dir``'s node_modules."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYRESQUE_NODE_DIR": str(node_dir.resolve())}
    env.setdefault("TZ", "UTC")
    return Peer(["node", str(SCRIPTS / "actionhero_peer.js")], env=env, label="actionhero")


def _ruby_env(ruby_lib: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if ruby_lib:
        env["RUBYLIB"] = os.pathsep.join(
            str(Path(part).resolve()) for part in ruby_lib.split(":") if part
        )
    env.setdefault("TZ", "UTC")
    return env


def ruby_unavailable(ruby_lib: str | None) -> str | None:
    """Why Ruby resque + resque-scheduler do not load (from ``ruby_lib`` or installed
    gems), in one line, or None."""
    if shutil.which("ruby") is None:
        return "ruby is not on PATH"
    probe = subprocess.run(
        ["ruby", "-e", _RUBY_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_ruby_env(ruby_lib),
    )
    if probe.returncode == 0:
        return None
    said = (probe.stderr.strip().splitlines() or ["no output"])[0]
    where = f"RUBYLIB={ruby_lib}" if ruby_lib else "installed gems"
    return f"resque does not load from {where}: {said[:160]}"


def start_ruby(ruby_lib: str | None, redis_url: str) -> Peer:
    """The Ruby resque peer, with ``ruby_lib`` (``PATH[:PATH]``) as RUBYLIB when given."""
    env = {**_ruby_env(ruby_lib), "REDIS_URL": redis_url}
    return Peer(["ruby", str(SCRIPTS / "ruby_peer.rb")], env=env, label="ruby resque")
