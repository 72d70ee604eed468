"""Run workers in the foreground until a signal says stop: what ``pyresque worker`` does.

The first SIGTERM or SIGINT stops the workers taking jobs; each running job gets its
worker's ``shutdown_grace`` to finish, then is cut off and settled per the worker's
``unfinished`` (failed, or back at the head of its queue), and the workers unregister. A
second signal cuts running jobs off at once. Ruby resque and rq behave alike.

The process title is ``pyresque-<version>: Working <queues>`` for the run. Ruby resque's
dead-worker pruning lists live workers with ``ps`` and a pattern that matches
``resque-<digit>``: without such a title, Ruby workers on this host and these queues
would prune this process's workers from the ``workers`` set while they run. The title
stays put while jobs come and go (Ruby's changes per job; a worker pool has no single
"current job" to show, and the hot path stays free of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Sequence
from typing import Any

import setproctitle

from pyresque._version import __version__
from pyresque.errors import ConfigurationError
from pyresque.signals import STOP_SIGNALS, StopSignals
from pyresque.worker.multi import MultiWorker
from pyresque.worker.summary import RunSummary
from pyresque.worker.worker import Worker

__all__ = ["STOP_SIGNALS", "process_title", "run_until_signalled"]

log = logging.getLogger("pyresque.worker")


# A cut-off job is cancelled; a job taken just before the stop may start only after that,
# so the runner cancels again on this beat until the worker is done.
_CUT_OFF_BEAT = 0.05


def process_title(workers: Sequence[Worker | MultiWorker]) -> str:
    """``pyresque-<version>: Working <queues>``: the workers' queues as given, in order."""
    queues: list[str] = []
    for worker in workers:
        given = worker.patterns if isinstance(worker, Worker) else worker.queues
        for name in given.split(",") if isinstance(given, str) else given:
            if name.strip() and name.strip() not in queues:
                queues.append(name.strip())
    return f"pyresque-{__version__}: Working {','.join(queues) or '*'}"


def _grace(worker: Worker | MultiWorker) -> float:
    return float(worker.shutdown_grace)


class _Run:
    """One worker's run. A Worker ends through its ``join()`` only: the runner asks it to
    stop with ``request_stop()`` and, past its grace, cuts the job off (see
    :meth:`_Run.cut_off`). A MultiWorker ends through its ``stop()``, which applies the grace
    to its children itself."""

    def __init__(self, worker: Worker | MultiWorker) -> None:
        self.worker = worker
        self.task: asyncio.Future[None] | None = None
        self.deadline = math.inf
        self.checked = False
        self.failed = False
        self.cut = False

    async def start(self, *, burst: bool) -> None:
        if isinstance(self.worker, Worker):
            await self.worker.start(burst=burst)
            self.task = asyncio.ensure_future(self.worker.join())
        else:
            await self.worker.start()

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def stop(self, now: float) -> None:
        """Stop taking jobs; running ones may finish within the grace."""
        if isinstance(self.worker, Worker):
            if not self.done:
                self.worker.request_stop()
                self.deadline = now + self.worker.shutdown_grace
        elif self.task is None:
            self.task = asyncio.ensure_future(self.worker.stop())

    def cut_off(self, why: str) -> None:
        if not self.cut and self.worker.working:
            self.cut = True
            log.warning("%r: %s; cutting running jobs off", self.worker, why)
        # On a beat, not once: a job taken just before the stop may start after a cancel.
        self.worker.cut_off()

    def check(self) -> bool:
        """True the first time the run is seen to have failed."""
        if self.task is None or not self.task.done() or self.checked:
            return False
        self.checked = True
        if self.task.cancelled():
            log.error("%r: its run was cancelled; stopping the others", self.worker)
        elif (exc := self.task.exception()) is not None:
            log.error("%r failed; stopping the others", self.worker, exc_info=exc)
        else:
            return False
        self.failed = True
        return True


async def run_until_signalled(
    workers: Sequence[Worker | MultiWorker],
    *,
    burst: bool = False,
    fail_on_job_failure: bool = False,
    title: str | None = None,
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
) -> int:
    """Start ``workers`` and run them until stopped by a signal or, with ``burst``, until
    their queues are empty. Returns an exit status: 0, or 1 if a worker failed (or, with
    ``burst`` and ``fail_on_job_failure``, if a job failed).

    A burst run ends with one line, the workers' :class:`RunSummary` together: ``burst
    over: the queues are empty; 3 jobs done (2 succeeded, 1 failed) in 0.52 s`` (WARNING
    when a job failed, with the summary's fields).

    ``burst`` needs plain Workers (a MultiWorker has no burst mode). ``title`` replaces the
    default process title (keep ``resque-<digit>`` in it; see the module docstring).
    Signal handlers and the title are restored on return.
    """
    if burst and any(isinstance(w, MultiWorker) for w in workers):
        raise ConfigurationError("burst needs Workers; a MultiWorker has no burst mode")
    graces = "/".join(f"{g:g}" for g in sorted({_grace(w) for w in workers}))

    def request_stop(count: int) -> None:
        for worker in workers:
            if isinstance(worker, Worker):
                worker.request_stop()  # also one still trying to reach Redis to start

    stop_signals = StopSignals(
        log,
        "workers",
        stop=f"stopping; no new jobs, running ones have {graces or '0'} s to finish "
        "(a second signal stops at once)",
        cut_off="stopping at once; running jobs are cut off",
        signals=signals,
        on_signal=request_stop,
    )
    with stop_signals:
        code = await _run(workers, stop_signals, burst=burst, title=title)
    if burst and fail_on_job_failure and code == 0 and _summary(workers).failed:
        return 1
    return code


def _summary(workers: Sequence[Worker | MultiWorker]) -> RunSummary:
    return RunSummary.total(w.summary() for w in workers if isinstance(w, Worker))


async def _run(
    workers: Sequence[Worker | MultiWorker],
    stop_signals: StopSignals,
    *,
    burst: bool,
    title: str | None,
) -> int:
    previous_title = setproctitle.getproctitle()
    setproctitle.setproctitle(title or process_title(workers))
    runs = [_Run(worker) for worker in workers]
    try:
        for run in runs:
            try:
                await run.start(burst=burst)
            except BaseException:
                with contextlib.suppress(Exception):
                    await run.worker.stop(grace=0)  # drops whatever registration it wrote
                raise
        log.info(
            "pyresque %s: %d worker(s) started%s",
            __version__,
            len(runs),
            " (burst: until the queues are empty)" if burst else "",
        )
        await _supervise(runs, stop_signals)
    finally:
        await _abandon(runs)
        setproctitle.setproctitle(previous_title)
    failed = [run for run in runs if run.failed]
    for run in failed:
        if isinstance(run.worker, Worker):
            await run.worker.stop(grace=0)  # its join raised before it unregistered
    if stop_signals.stopping or failed:
        log.info("stopped")
    else:
        summary = _summary(workers)
        log.log(
            logging.WARNING if summary.failed else logging.INFO,
            "burst over: the queues are empty; %s",
            summary.line(),
            extra={"pyresque_event": "summary", **summary.fields()},
        )
    return 1 if failed else 0


async def _supervise(runs: list[_Run], stop_signals: StopSignals) -> None:
    stopping = False
    while True:
        stop_signals.changed.clear()  # the counts are read below; the event only wakes us
        failed = [run for run in runs if run.check()]
        if all(run.done for run in runs):
            return
        now = time.monotonic()
        if (stop_signals.stopping or failed) and not stopping:
            stopping = True
            for run in runs:
                run.stop(now)
        left = [run for run in runs if not run.done]
        hard = stop_signals.cutting_off
        due = [run for run in left if hard or run.deadline <= now]
        for run in due:
            run.cut_off("stopping at once" if hard else "its shutdown grace is over")
        soonest = min((run.deadline for run in left), default=math.inf)
        timeout = _CUT_OFF_BEAT if due else None if math.isinf(soonest) else soonest - now
        woken = asyncio.ensure_future(stop_signals.changed.wait())
        waits: set[asyncio.Future[Any]] = {run.task for run in left if run.task is not None}
        try:
            await asyncio.wait(
                {woken, *waits}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()


async def _abandon(runs: list[_Run]) -> None:
    """The runner is leaving early (a start failed, or it was cancelled): cut every
    started worker off and wait until each has unregistered."""
    now = time.monotonic()
    left = [run for run in runs if not run.done and (run.task is not None or run.worker.running)]
    for run in left:
        run.stop(now)
    while not all(run.done for run in left):
        for run in left:
            if not run.done:
                run.cut_off("the runner is leaving")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(
                [run.task for run in left if run.task is not None and not run.done],
                timeout=_CUT_OFF_BEAT,
            )
