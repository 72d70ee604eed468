"""Real node-resque and Ruby resque processes as test peers, for contract tests.

"Our Node service enqueues X and our Python worker runs it" in a few lines: a peer is one
long-lived process of the real library, from the user's own project, on the test's Redis
and namespace. It enqueues as that library does and runs a real worker of it with the
user's job definitions. The pytest plugin (:mod:`pyresque.testing.plugin`) gives them as
the fixtures ``node_peer`` / ``make_node_peer`` and ``ruby_peer`` / ``make_ruby_peer``.

:class:`NodePeer` runs ``node_peer.js`` (the one node-resque driver, shipped in
``pyresque/conformance/peers/`` and shared with ``pyresque conformance``): node-resque is
resolved from ``project_dir`` (its ``node_modules``, as ``require`` would from there), the
job definitions from the module ``jobs`` names (``module.exports = {name: {perform}}``, or a
``jobs`` export). :class:`RubyPeer` runs ``ruby_peer.rb``, the one Ruby driver, shared with
``pyresque conformance`` (in :data:`pyresque.conformance.drivers.SCRIPTS`): resque from
``load_path`` (``-I`` folders), ``RUBYLIB`` or the installed gems, then ``require``\\ s the
user's files (their job classes; resque-scheduler too, where it loads, for ``enqueue_at``).

``work(queues, count=N)`` runs the library's own worker until N jobs ran and returns a
:class:`PeerOutcome` for each (fewer in time: :class:`~pyresque.errors.PeerError`).
Calls block until the peer answers (in an ``async def`` test nothing else on its event loop
runs meanwhile: enqueue with pyresque first, then ``work``).
:func:`node_unavailable` and :func:`ruby_unavailable` say in one line why a peer cannot run
here (the fixtures skip with it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pyresque.conformance import drivers
from pyresque.conformance.drivers import SCRIPTS
from pyresque.errors import ConfigurationError, PeerError

__all__ = [
    "DRIVERS",
    "NodePeer",
    "PeerError",
    "PeerOutcome",
    "RubyPeer",
    "node_unavailable",
    "ruby_unavailable",
]

DRIVERS = SCRIPTS
"""The folder of the driver scripts (``node_peer.js``, ``ruby_peer.rb``), shared with
``pyresque conformance``."""


@dataclass(frozen=True, slots=True)
class PeerOutcome:
    """One job a peer's worker ran: its result (node-resque's), or the error it failed with
    (``"Error: message"``; Ruby: ``"ArgumentError: message"``)."""

    ok: bool
    queue: str
    job_class: str
    args: list[Any]
    result: Any = None
    error: str | None = None


def _outcomes(label: str, got: list[dict[str, Any]], count: int, timeout: float) -> list[Any]:
    outcomes = [
        PeerOutcome(
            ok=bool(o.get("ok")),
            queue=str(o.get("queue")),
            job_class=str(o.get("class")),
            args=list(o.get("args") or []),
            result=o.get("result"),
            error=o.get("error"),
        )
        for o in got
    ]
    if len(outcomes) < count:
        raise PeerError(
            f"the {label} worker ran {len(outcomes)} of {count} jobs in {timeout}s: {outcomes}"
        )
    return outcomes


def _ms(at: float | datetime) -> float:
    return at.timestamp() * 1000 if isinstance(at, datetime) else float(at)


def node_unavailable(project_dir: str | os.PathLike[str] | None) -> str | None:
    """Why a node-resque peer cannot run from ``project_dir`` here (one line, naming the
    option that picks the project), or None."""
    return drivers.node_unavailable(
        project_dir, point_with="--pyresque-node-project (PYRESQUE_NODE_PROJECT)"
    )


class NodePeer:
    """A node-resque process from the user's project on ``redis_url`` / ``namespace``.

    ``jobs``: the module of job definitions its worker runs (needed by :meth:`work` only).
    ``env`` adds environment variables. Close it with :meth:`close` (the fixtures do).
    """

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        *,
        project_dir: str | os.PathLike[str],
        jobs: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        project = Path(project_dir).resolve()
        self.project_dir = project
        self.jobs = jobs
        self._namespace = namespace
        self._process = drivers.start_node(
            project, redis_url, namespace=namespace, jobs=jobs, env=env, cwd=project
        )

    def _queue(self, method: str, *args: Any) -> Any:
        return self._process.call(
            "queue", namespace=self._namespace, method=method, args=list(args)
        )

    def enqueue(self, queue: str, job_class: str, args: Sequence[Any] = ()) -> None:
        """node-resque's ``queue.enqueue(queue, job_class, args)`` (its plugins run)."""
        self._queue("enqueue", queue, job_class, list(args))

    def enqueue_at(
        self, at: float | datetime, queue: str, job_class: str, args: Sequence[Any] = ()
    ) -> None:
        """``queue.enqueueAt(at, ...)``: ``at`` in milliseconds since the epoch, or a
        datetime."""
        self._queue("enqueueAt", _ms(at), queue, job_class, list(args))

    def enqueue_in(
        self, delay_ms: float, queue: str, job_class: str, args: Sequence[Any] = ()
    ) -> None:
        """``queue.enqueueIn(delay_ms, ...)``."""
        self._queue("enqueueIn", delay_ms, queue, job_class, list(args))

    def call(self, method: str, *args: Any) -> Any:
        """Any other node-resque ``Queue`` method (``length``, ``queued``, ``failed`` ...),
        with JSON arguments; its JSON result."""
        return self._queue(method, *args)

    def work(
        self, queues: str | Iterable[str], *, count: int = 1, timeout: float = 10.0
    ) -> list[PeerOutcome]:
        """Run a node-resque ``Worker`` with the ``jobs`` module on ``queues`` until
        ``count`` jobs ran (succeeded or failed); their outcomes, in order. Fewer within
        ``timeout`` seconds: :class:`~pyresque.errors.PeerError`."""
        if self.jobs is None:
            raise ConfigurationError("NodePeer.work needs jobs=PATH (a module of job definitions)")
        names = [queues] if isinstance(queues, str) else list(queues)
        got = self._process.call(
            "work", namespace=self._namespace, queues=names, count=count, timeout=timeout
        )
        return _outcomes("node-resque", got, count, timeout)

    def close(self) -> None:
        """End the process (its connections closed)."""
        self._process.close()


_RUBY_ADVICE = (
    "`gem install resque`, or set --pyresque-ruby-lib (PYRESQUE_RUBY_LIB) to the lib folders "
    "of resque and its gems"
)


def ruby_unavailable(load_path: Sequence[str] = ()) -> str | None:
    """Why a Ruby resque peer cannot run here with ``load_path`` (one line, saying what to
    install or set), or None. Probed once per load path and process."""
    return drivers.ruby_unavailable(load_path, scheduler=False, advice=_RUBY_ADVICE)


class RubyPeer:
    """A Ruby resque process on ``redis_url`` / ``namespace``: ``load_path`` folders go on
    Ruby's ``-I``, then the files in ``require`` (the user's job classes) are required.
    ``env`` adds environment variables. Close it with :meth:`close` (the fixtures do)."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        *,
        load_path: Sequence[str | os.PathLike[str]] = (),
        require: Sequence[str | os.PathLike[str]] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self._process = drivers.start_ruby(
            load_path,
            redis_url,
            namespace=namespace,
            require=require,
            env=env,
            cwd=Path(cwd) if cwd is not None else Path.cwd(),
        )

    def enqueue(self, queue: str, job_class: str, args: Sequence[Any] = ()) -> None:
        """``Resque.enqueue_to(queue, JobClass, *args)`` for a class the required files
        define (its hooks run), else ``Resque::Job.create`` with the class name."""
        self._process.call("enqueue", queue=queue, **{"class": job_class}, args=list(args))

    def enqueue_at(
        self, at: float | datetime, queue: str, job_class: str, args: Sequence[Any] = ()
    ) -> None:
        """resque-scheduler's ``Resque.enqueue_at_with_queue`` (``at``: milliseconds since
        the epoch, or a datetime); needs resque-scheduler on the load path."""
        self._process.call(
            "enqueue_at", at=_ms(at) / 1000, queue=queue, **{"class": job_class}, args=list(args)
        )

    def size(self, queue: str) -> int:
        """``Resque.size(queue)``."""
        return int(self._process.call("size", queue=queue))

    def work(
        self, queues: str | Iterable[str], *, count: int = 1, timeout: float = 10.0
    ) -> list[PeerOutcome]:
        """Run a ``Resque::Worker`` (in the peer's process, no fork) on ``queues`` until
        ``count`` jobs ran; their outcomes, in order (``result`` is always None: resque
        keeps none). Fewer within ``timeout`` seconds: :class:`~pyresque.errors.PeerError`."""
        names = [queues] if isinstance(queues, str) else list(queues)
        got = self._process.call("work", queues=names, count=count, timeout=timeout)
        return _outcomes("Ruby resque", got, count, timeout)

    def close(self) -> None:
        """End the process."""
        self._process.close()
