"""The peer processes ``pyresque conformance`` drives: node-resque and Ruby resque, each one
long-lived process speaking JSON lines (the scripts in ``pyresque/conformance/peers/``,
shipped in the wheel), loading the peer library from the folder or load path the user named.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyresque.errors import PeerError

__all__ = [
    "SCRIPTS",
    "Peer",
    "actionhero_unavailable",
    "node_unavailable",
    "ruby_folders",
    "ruby_unavailable",
    "start_actionhero",
    "start_node",
    "start_ruby",
]

SCRIPTS = Path(__file__).resolve().parent / "peers"
"""The folder of the peer driver scripts (``node_peer.js``, ``ruby_peer.rb``)."""

_RESQUE_PROBE = 'require "resque"'
_RUBY_PROBE = 'require "resque"; require "resque-scheduler"'


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


def ruby_folders(ruby_lib: str | Sequence[str | os.PathLike[str]] | None) -> tuple[str, ...]:
    """A Ruby load path (``PATH[:PATH]`` or a list of folders) as absolute folders."""
    if ruby_lib is None:
        return ()
    parts = ruby_lib.split(os.pathsep) if isinstance(ruby_lib, str) else ruby_lib
    return tuple(str(Path(part).resolve()) for part in parts if str(part))


@functools.cache
def _ruby_says(folders: tuple[str, ...], code: str) -> str | None:
    """What Ruby says, in one line, when ``code`` fails with ``folders`` on ``-I``; None
    when it runs. Probed once per load path, code and process."""
    probe = subprocess.run(
        ["ruby", *(f"-I{folder}" for folder in folders), "-e", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": os.environ.get("TZ", "UTC")},
    )
    if probe.returncode == 0:
        return None
    missing = re.search(r"cannot load such file -- (\S+)", probe.stderr)
    if missing:
        return f"cannot load {missing.group(1)}"
    lines = [line for line in probe.stderr.splitlines() if line.strip()]
    return lines[-1][-120:] if lines else f"exit status {probe.returncode}"


def ruby_unavailable(
    ruby_lib: str | Sequence[str | os.PathLike[str]] | None = None,
    *,
    scheduler: bool = True,
    advice: str = "",
) -> str | None:
    """Why Ruby resque (and resque-scheduler, unless ``scheduler`` is false) does not load
    from ``ruby_lib`` (else RUBYLIB or the installed gems), in one line, or None. ``advice``
    (what to install or set) replaces the load path at the end of the line."""
    if shutil.which("ruby") is None:
        return "ruby is not on PATH: install Ruby (and `gem install resque`) for the Ruby peer"
    folders = ruby_folders(ruby_lib)
    said = _ruby_says(folders, _RUBY_PROBE if scheduler else _RESQUE_PROBE)
    if said is None:
        return None
    where = f"from {os.pathsep.join(folders)}" if folders else "from RUBYLIB or the installed gems"
    return f"Ruby resque does not load ({said}): {advice or where}"


def start_ruby(
    ruby_lib: str | Sequence[str | os.PathLike[str]] | None,
    redis_url: str,
    *,
    namespace: str = "resque",
    require: Sequence[str | os.PathLike[str]] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path = SCRIPTS,
) -> Peer:
    """The Ruby resque peer (``ruby_peer.rb``): ``ruby_lib`` folders on Ruby's ``-I``,
    ``namespace`` for requests that name none, ``require`` the user's job files."""
    full = {**os.environ, **(env or {})}
    full.update(
        REDIS_URL=redis_url,
        PYRESQUE_NAMESPACE=namespace,
        PYRESQUE_RUBY_REQUIRE=os.pathsep.join(str(Path(f).resolve()) for f in require),
    )
    full.setdefault("TZ", "UTC")
    argv = ["ruby", *(f"-I{folder}" for folder in ruby_folders(ruby_lib))]
    return Peer([*argv, str(SCRIPTS / "ruby_peer.rb")], env=full, cwd=cwd, label="Ruby resque")
