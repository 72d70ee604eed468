"""``PYRESQUE_PEERS=containers``: the peers as containers, beside a Redis container, on one
Docker network, so the interop suite needs nothing but Docker and Python.

Design: a peer speaks JSON lines on stdin/stdout (:class:`interop.harness.Peer`), so each
peer container is started as ``docker run -i --rm ...``: the ``docker`` client's own
stdin/stdout ARE the container's, and the harness drives it through the same pipes as a
local process (no attach-socket framing to demultiplex, no line server to add inside the
images). Closing stdin ends the peer and ``--rm`` removes its container; a crash
(``Peer.kill``) is ``docker kill``, since killing the client would leave the container
running. ``--init`` puts tini at pid 1, so a SIGTERM (``SchedulerProcess.stop``, proxied by
the client) reaches the peer as it would locally. The network and the Redis container come
from testcontainers (the test rig's docker Redis source,
``pyresque.testing.plugin._start_container``), reachable from the peers as ``redis:6379``
and from this host on its mapped port.

Pins (interop/README.md, "Container mode"): the images in ``interop/docker/*.Dockerfile``;
``PYRESQUE_NODE_VERSION`` (an exact Node release, default the Dockerfiles' own) and
``PYRESQUE_RUBY_RESQUE`` (``2.7`` or ``3.0``, see :data:`RUBY_PINS`) choose build args.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
DOCKERFILES = HERE / "docker"

MODE = os.environ.get("PYRESQUE_PEERS", "local")
"""``local`` (the default: node, Ruby and Actionhero as local processes) or ``containers``."""

RUBY_PINS: dict[str, dict[str, str]] = {
    "2.7": {
        "RESQUE_VERSION": "2.7.0",
        "SCHEDULER_VERSION": "4.11.0",
        "ACTIVEJOB_VERSION": "6.1.7.10",
    },
    # resque 3.0's own ActiveJob adapter needs Rails >= 7.2: no ActiveJob, its tests skip.
    "3.0": {"RESQUE_VERSION": "3.0.0", "SCHEDULER_VERSION": "5.0.0", "ACTIVEJOB_VERSION": ""},
}

INNER_REDIS = "redis"
"""The Redis container's name on the network (the peers' REDIS_URL host)."""

LABEL = "pyresque-interop"


def enabled() -> bool:
    if MODE not in ("local", "containers"):
        raise RuntimeError(f"PYRESQUE_PEERS={MODE!r}: use local (the default) or containers")
    return MODE == "containers"


DETAIL: dict[str, str] = {}
"""What :func:`unavailable` found, in full (the harness shows it with ``pytest -v``)."""


def unavailable() -> str | None:
    """Why the container mode cannot run here, in one short line, or None; the full
    story goes to :data:`DETAIL`."""
    from pyresque.testing.plugin import _docker_answers

    reason = _docker_answers()
    short = "PYRESQUE_PEERS=containers: no Docker engine answers here"
    if reason is None:
        if shutil.which("docker") is None:
            reason = short = "PYRESQUE_PEERS=containers: no `docker` client on PATH"
        else:
            try:
                import testcontainers.core.network  # noqa: F401
            except ImportError:
                reason = short = "PYRESQUE_PEERS=containers: testcontainers is not installed"
    if reason is None:
        return None
    DETAIL["Docker"] = reason
    return short


def build_args(kind: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """The tag and ``docker build`` arguments of peer image ``kind`` (node, actionhero,
    ruby) under ``environ``'s PYRESQUE_RUBY_RESQUE / PYRESQUE_NODE_VERSION; the build
    context is this interop/ folder. Without PYRESQUE_NODE_VERSION no NODE_VERSION is
    passed: the Dockerfile's own default is the default."""
    args: Mapping[str, str] = {}
    if kind == "ruby":
        version = environ.get("PYRESQUE_RUBY_RESQUE", "2.7")
        if version not in RUBY_PINS:
            raise RuntimeError(f"PYRESQUE_RUBY_RESQUE={version!r}: one of {list(RUBY_PINS)}")
        args = RUBY_PINS[version]
        tag = f"pyresque-interop-ruby:resque-{version}"
    else:
        node = environ.get("PYRESQUE_NODE_VERSION")
        if node:
            args = {"NODE_VERSION": node}
        tag = f"pyresque-interop-{kind}:node-{node or 'default'}"
    build = ["build", "-q", "-f", str(DOCKERFILES / f"{kind}.Dockerfile"), "-t", tag]
    for key, value in args.items():
        build += ["--build-arg", f"{key}={value}"]
    return tag, [*build, str(HERE)]


def inside_url(url: str, redis_url: str) -> str:
    """``url`` as the peers reach it: this host's URL of the Redis container
    (``redis_url``) becomes ``redis://redis:6379/...``; anything else is passed as given."""
    mine, given = urlsplit(redis_url), urlsplit(url)
    try:
        same = given.scheme == mine.scheme and (given.hostname, given.port) == (
            mine.hostname,
            mine.port,
        )
    except ValueError:  # not a URL (a port that is no number)
        same = False
    if not same:
        return url  # another Redis, or not a URL: passed as given
    return urlunsplit(given._replace(netloc=f"{INNER_REDIS}:6379"))


def image_paths(argv: list[str]) -> list[str]:
    """``argv`` with this checkout's interop/ paths as the images' /interop/ ones."""
    return [
        "/interop/" + Path(arg).relative_to(HERE).as_posix() if arg.startswith(f"{HERE}/") else arg
        for arg in argv
    ]


def docker_run_argv(
    image: str,
    env: Mapping[str, str],
    *,
    name: str,
    network: str,
    redis_url: str,
    command: list[str] | None = None,
) -> list[str]:
    """``docker run -i --rm --init`` of ``image`` on ``network``, ``env`` passed in with
    its REDIS_URL as the peers reach the Redis container (:func:`inside_url`);
    ``command`` (if any) replaces the image's CMD."""
    argv = [
        "docker", "run", "-i", "--rm", "--init", "--name", name, "--label", LABEL,
        "--network", network,
    ]  # fmt: skip
    for key, value in env.items():
        if key == "REDIS_URL":
            value = inside_url(value, redis_url)
        argv += ["-e", f"{key}={value}"]
    return [*argv, image, *(command or [])]


def _docker(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} ... failed:\n{done.stderr[-4000:]}")
    return done.stdout.strip()


class World:
    """The session's network, Redis container and peer images (built once, on first use)."""

    def __init__(self) -> None:
        from testcontainers.core.network import Network

        from pyresque.testing.plugin import _start_container

        self.network = Network()
        self.network.create()
        started = _start_container(network=self.network, aliases=(INNER_REDIS,))
        if isinstance(started, str):
            self.network.remove()
            raise RuntimeError(f"no Redis container: {started}")
        self.redis_url, self._stop_redis = started
        self._images: dict[str, str] = {}

    @property
    def network_name(self) -> str:
        return str(self.network.name)

    def inside(self, url: str) -> str:
        """``url`` (this host's view of the Redis container) as the peers reach it."""
        return inside_url(url, self.redis_url)

    def image(self, kind: str) -> str:
        """The tag of peer image ``kind`` (node, actionhero, ruby), built on first use."""
        if kind in self._images:
            return self._images[kind]
        tag, build = build_args(kind, os.environ)
        _docker(*build)
        self._images[kind] = tag
        return tag

    def run_argv(
        self, kind: str, env: Mapping[str, str], *, name: str, command: list[str] | None = None
    ) -> list[str]:
        """``docker run -i`` of image ``kind`` on the network, env's REDIS_URL rewritten."""
        return docker_run_argv(
            self.image(kind), env, name=name, network=self.network_name,
            redis_url=self.redis_url, command=command,
        )  # fmt: skip

    def command(self, kind: str, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """``docker run -i`` of a peer script's ``argv`` (an interpreter, this checkout's
        interop/ paths, arguments) in image ``kind``: paths under interop/ become the
        image's /interop/..., this host's Redis URL the peers' one."""
        inner = [inside_url(arg, self.redis_url) for arg in image_paths(argv)]
        name = container_name(f"{kind}-{Path(argv[-1]).name}")
        return self.run_argv(kind, env, name=name, command=inner)

    def run_once(self, kind: str, command: list[str], env: Mapping[str, str]) -> tuple[int, str]:
        """Run ``command`` in a throwaway container of ``kind``: (exit status, stderr)."""
        argv = self.run_argv(
            kind, env, name=f"pyresque-probe-{uuid.uuid4().hex[:8]}", command=command
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        return done.returncode, done.stderr.strip()

    def close(self) -> None:
        self._stop_redis()
        self.network.remove()


_WORLD: World | None = None


def world() -> World:
    """The session's World (started on first use; :func:`close_world` ends it)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD


def close_world() -> None:
    global _WORLD
    if _WORLD is not None:
        _WORLD.close()
        _WORLD = None


def container_name(label: str) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in label).strip("-")
    return f"pyresque-{safe[:40]}-{uuid.uuid4().hex[:8]}"


def kill(name: str) -> None:
    """SIGKILL container ``name`` (a crash); gone already is fine."""
    subprocess.run(["docker", "kill", name], capture_output=True, timeout=60, check=False)


def remove(name: str) -> None:
    """Remove container ``name`` if ``--rm`` has not yet (a peer that hung on close)."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60, check=False)


def peer_env(base: Mapping[str, Any]) -> dict[str, str]:
    """What a peer container gets: the harness's own variables, never this host's PATH,
    HOME ... (they would break the image's)."""
    return {key: str(value) for key, value in base.items()}
