"""Worker processes under one supervisor: ``pyresque worker --processes N`` and an app's
``processes`` option, so one node uses every core.

The supervisor forks N children with :func:`os.fork`; each child runs the ordinary
single-process path (its own event loop through ``asyncio.run``, its own Redis
connection, its own registration under its own pid) and ends with :func:`os._exit`. The
supervisor itself runs no event loop, holds no Redis connection while it forks, imports
nothing after the fork, and runs no job: it waits for signals and for its children.

Why a bare fork, not :mod:`multiprocessing`: the jobs (or the app's tasks) are imported
and checked once, in the supervisor, before the first fork, and the children inherit
them, whatever they are (closures and lambdas included); ``spawn`` and ``forkserver``
would import them again in every child and need picklable arguments, and the fork
context would add a process object, a resource tracker and atexit handlers the
supervisor has no use for. What the fork must not share, it does not: the supervisor
opens Redis only to clean a dead child, and closes it again before the next fork.

**Signals.** The first SIGTERM or SIGINT to the supervisor is sent on to every child as
one SIGTERM (each stops taking jobs and lets running ones finish within its grace); a
second is sent on as a second SIGTERM (children cut running jobs off). Children ignore
SIGINT: Ctrl-C in a terminal signals the whole foreground process group, and a child
that counted it besides its supervisor's SIGTERM would take one Ctrl-C for two. A child
starts with SIGTERM blocked and its worker runner unblocks it once its handler is in
place, so a stop sent while the child was still starting waits for it instead of
killing it. A child still alive ``grace`` + 10 s after the first signal (or 10 s after a
second one) is hung: it gets SIGKILL and is cleaned like any dead child.

**A dead child.** When a child dies otherwise than by exiting 0 (SIGKILL, a crash, the
OOM killer), the supervisor unregisters every worker that process registered (the
``host:pid`` names of :func:`~pyresque.protocol.workers.process_owns`) as
``force_clean_worker`` does, the job each held going to ``failed`` with the reason
``Child process received unhandled signal pid 1234 SIGKILL (signal 9)`` (Ruby resque's
own words when its forked child dies), then starts a replacement after a backoff: 0.5 s,
doubling for each death in a row up to 30 s, back to 0.5 s once a child lived 60 s. In a
burst run (or once stopping) nothing is restarted.

**Its own death.** Children watch a pipe whose write end only the supervisor holds: when
the supervisor is gone (SIGKILL too), the read end sees end-of-file and each child sends
itself SIGTERM, stopping gracefully rather than working on as orphans.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

import setproctitle

from pyresque._version import __version__
from pyresque.connection import Settings
from pyresque.errors import ConfigurationError
from pyresque.protocol.dialect import Dialect
from pyresque.protocol.workers import process_owns

__all__ = [
    "FIRST_RESTART_DELAY",
    "KILL_MARGIN",
    "MAX_RESTART_DELAY",
    "STEADY_AFTER",
    "Supervisor",
    "exit_reason",
    "registration_cleaner",
]

log = logging.getLogger("pyresque.worker")

FIRST_RESTART_DELAY = 0.5
"""Seconds before a dead child's replacement starts, after a child that lived long."""
MAX_RESTART_DELAY = 30.0
"""The longest wait before a replacement: the delay doubles per death in a row up to it."""
STEADY_AFTER = 60.0
"""Seconds a child must live for its death to start the backoff afresh."""
KILL_MARGIN = 10.0
"""Seconds past its grace (or past a second signal) a stopping child may take to exit."""

Cleaner = Callable[[int, str], list[str]]
"""``clean(pid, reason)``: unregister what dead process ``pid`` registered, failing the
jobs it held with ``reason``; the names cleaned."""

_POLL = 1.0  # a SIGCHLD may be coalesced with another: reap on this beat too
_SUPERVISOR_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def exit_reason(pid: int, code: int) -> str:
    """What a child's exit status (:func:`os.waitstatus_to_exitcode`) says, in Ruby
    resque's words for a forked child killed by a signal: ``Child process received
    unhandled signal pid 1234 SIGKILL (signal 9)``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"SIG{-code}"
        return f"Child process received unhandled signal pid {pid} {name} (signal {-code})"
    return f"Child process exited unexpectedly pid {pid} exit {code}"


def registration_cleaner(
    redis: str | Settings | None,
    *,
    namespace: str | Sequence[str] = "resque",
    dialect: str | Dialect = "node",
    host: str | None = None,
    patience: float = 10.0,
) -> Cleaner:
    """A :data:`Cleaner` on ``redis``: each call opens a blocking connection, force-cleans
    every registered worker whose name :func:`process_owns` gives to the dead pid (``host``:
    the workers' name or host part, default this machine's), and closes it again, so no
    connection is open when the supervisor next forks."""

    def clean(pid: int, reason: str) -> list[str]:
        from pyresque.sync import Queue

        with Queue(redis, namespace=namespace, dialect=dialect, patience=patience) as queue:
            names = [n for n in queue.workers() if process_owns(queue.context, host, pid, n)]
            for name in names:
                entry = queue.force_clean_worker(name, reason=reason)
                job = (entry or {}).get("payload") or {}
                held = f"; its job {job.get('class')!r} is failed" if entry else ""
                log.warning("cleaned worker %s of dead process %d%s", name, pid, held)
        return names

    return clean


@dataclass
class _Slot:
    """One of the N places a child runs in; ``index`` 0 to N-1 (the app's scheduler runs
    in slot 0)."""

    index: int
    pid: int | None = None
    started_at: float = 0.0
    deaths: int = 0  # deaths in a row, for the backoff
    restart_at: float | None = None
    finished: bool = False


class Supervisor:
    """Forks ``processes`` children, each running ``child(index)`` (its exit status),
    and supervises them until they have all exited: see the module docstring.

    ``burst``: a child exiting 0 is done, not restarted. ``grace``: the children's
    shutdown grace, which sets when a stopping child counts as hung. ``clean``: what
    unregisters a dead child (:func:`registration_cleaner`); None cleans nothing.
    ``title``: the supervisor's process title.
    """

    def __init__(
        self,
        processes: int,
        child: Callable[[int], int],
        *,
        burst: bool = False,
        grace: float = 30.0,
        clean: Cleaner | None = None,
        title: str | None = None,
    ) -> None:
        if processes < 1:
            raise ConfigurationError(f"processes: expected 1 or more, got {processes!r}")
        self.processes = processes
        self.child = child
        self.burst = burst
        self.grace = grace
        self.clean = clean
        self.title = title or f"pyresque-{__version__}: Supervising {processes} processes"
        self.signals = 0
        self.failed = False
        self._slots = [_Slot(i) for i in range(processes)]
        self._kill_at: float | None = None
        self._wakeup: tuple[int, int] | None = None
        self._lifeline: tuple[int, int] | None = None

    @property
    def pids(self) -> list[int]:
        """The live children's pids, by slot."""
        return [slot.pid for slot in self._slots if slot.pid is not None]

    def run(self) -> int:
        """Fork the children and supervise them until every one has exited. Returns 0,
        or 1 if a child failed (died, or exited with a status other than 0)."""
        previous = setproctitle.getproctitle()
        setproctitle.setproctitle(self.title)
        try:
            with self._signals_and_pipes():
                for slot in self._slots:
                    self._spawn(slot)
                log.info(
                    "pyresque %s: %d worker processes forked (pids %s)%s",
                    __version__,
                    self.processes,
                    ", ".join(map(str, self.pids)),
                    " (burst: each until the queues are empty)" if self.burst else "",
                )
                self._supervise()
        finally:
            setproctitle.setproctitle(previous)
        log.info("all worker processes exited%s", "; one or more failed" if self.failed else "")
        return 1 if self.failed else 0

    # -- the supervisor's loop ----------------------------------------------------------------
    @contextlib.contextmanager
    def _signals_and_pipes(self) -> Iterator[None]:
        """The stop signals and SIGCHLD write their number to a pipe the loop selects on
        (their Python handlers do nothing); put back as they were on leaving."""
        self._wakeup = os.pipe()
        self._lifeline = os.pipe()
        os.set_blocking(self._wakeup[0], False)
        os.set_blocking(self._wakeup[1], False)
        handlers = {sig: signal.signal(sig, _ignore) for sig in _SUPERVISOR_SIGNALS}
        old_fd = signal.set_wakeup_fd(self._wakeup[1], warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(old_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for fd in (*self._wakeup, *self._lifeline):
                os.close(fd)
            self._wakeup = self._lifeline = None

    def _supervise(self) -> None:
        assert self._wakeup is not None
        while True:
            self._reap()
            if all(slot.pid is None and (slot.finished or self.signals) for slot in self._slots):
                return
            now = time.monotonic()
            if self._kill_at is not None and now >= self._kill_at:
                self._kill_hung()
            for slot in self._slots:
                if slot.restart_at is not None and now >= slot.restart_at and not self.signals:
                    self._spawn(slot)
            due = [s.restart_at for s in self._slots if s.restart_at is not None]
            if self._kill_at is not None:
                due.append(self._kill_at)
            timeout = max(0.0, min([now + _POLL, *due]) - now)
            readable, _, _ = select.select([self._wakeup[0]], [], [], timeout)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    for signum in os.read(self._wakeup[0], 512):
                        if signum in (signal.SIGTERM, signal.SIGINT):
                            self._on_stop_signal(signal.Signals(signum))

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        now = time.monotonic()
        live = self.pids
        if self.signals == 1:
            log.info(
                "%s: stopping %d worker processes; running jobs have %g s to finish "
                "(a second signal stops at once)",
                sig.name,
                len(live),
                self.grace,
            )
            self._kill_at = now + self.grace + KILL_MARGIN
        else:
            log.warning("%s again: stopping at once; running jobs are cut off", sig.name)
            self._kill_at = min(self._kill_at or math.inf, now + KILL_MARGIN)
        for slot in self._slots:
            slot.restart_at = None  # nothing starts once stopping
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _kill_hung(self) -> None:
        self._kill_at = None
        for pid in self.pids:
            log.error("worker process %d did not exit in time after the stop; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _reap(self) -> None:
        for slot in self._slots:
            if slot.pid is None:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: take it as gone, status unknown
                pid, status = slot.pid, 1 << 8
            if pid == 0:
                continue
            slot.pid = None
            self._exited(slot, pid, os.waitstatus_to_exitcode(status))

    def _exited(self, slot: _Slot, pid: int, code: int) -> None:
        now = time.monotonic()
        lived = now - slot.started_at
        if code == 0:
            if self.burst or self.signals:
                slot.finished = True
                log.info("worker process %d exited", pid)
                return
            log.warning("worker process %d exited on its own after %.1f s", pid, lived)
        else:
            reason = exit_reason(pid, code)
            log.error("worker process %d died: %s", pid, reason)
            if self.burst or self.signals:
                self.failed = True
            self._clean(pid, reason)
            if self.burst or self.signals:
                slot.finished = True
                return
        if lived >= STEADY_AFTER:
            slot.deaths = 0
        delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2**slot.deaths)
        slot.deaths += 1
        slot.restart_at = now + delay
        log.warning("starting a replacement for worker process %d in %g s", pid, delay)

    def _clean(self, pid: int, reason: str) -> None:
        if self.clean is None:
            return
        try:
            self.clean(pid, reason)
        except Exception as exc:  # Redis away: its workers stay for the peers' cleanups
            log.error(
                "could not clean the workers of dead process %d: %s; node-resque's and Ruby "
                "resque's dead-worker cleanups (and pyresque's scheduler) will find them",
                pid,
                exc,
            )

    def _spawn(self, slot: _Slot) -> None:
        slot.restart_at = None
        stops = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # see _become_child
        try:
            pid = os.fork()
            if pid == 0:
                self._run_child(slot.index)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)  # in the supervisor only
        slot.pid, slot.started_at = pid, time.monotonic()

    # -- in the child ------------------------------------------------------------------------
    def _run_child(self, index: int) -> NoReturn:
        code = 1
        try:
            self._become_child()
            code = int(self.child(index))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)  # never back into the supervisor's frames

    def _become_child(self) -> None:
        """Still with SIGTERM and SIGINT blocked (see :meth:`_spawn`): drop the
        supervisor's handlers and pipes, ignore SIGINT, and leave SIGTERM blocked for the
        worker runner to unblock once its handler is in place (``StopSignals``)."""
        assert self._wakeup is not None and self._lifeline is not None
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Caught rather than SIG_IGN, so programs a job executes get the default back.
        signal.signal(signal.SIGINT, _ignore)
        # A late SIGTERM, after the runner put back this handler, is ignored too.
        signal.signal(signal.SIGTERM, _ignore)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for fd in (*self._wakeup, self._lifeline[1]):
            os.close(fd)
        supervisor = os.getppid()
        threading.Thread(
            target=_watch_supervisor,
            args=(self._lifeline[0], supervisor),
            name="pyresque-lifeline",
            daemon=True,
        ).start()


def _ignore(signum: int, frame: object) -> None:
    """A handler that does nothing: the signal's number still reaches the wakeup fd."""


def _watch_supervisor(fd: int, supervisor: int) -> None:
    """In a child: block on the lifeline until it reads end-of-file (the supervisor is
    gone), then stop this process as a signal would."""
    with contextlib.suppress(OSError):
        while os.read(fd, 1):
            pass
    log.warning("the supervisor (pid %d) is gone; stopping", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)
