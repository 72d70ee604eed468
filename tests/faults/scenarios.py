"""The fault scenarios, each in a short size (CI) and a full one (``python -m tests.faults
--full``). A scenario runs on one side, pyresque's processes or node-resque's, and returns
an :class:`~tests.faults.run.Outcome`; its ``problems`` are the claims that did not hold:

* 0 lost: every id done, failed with a reason, or still queued;
* no duplicate run without a failure entry for the id explaining it;
* every delayed job promoted (run) exactly once, where there are delayed jobs;
* worker and scheduler processes alive at the end unless we killed them;
* and what the scenario adds (every job finished, LOADING actually seen, poison in failed).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from pyresque import Queue
from pyresque.errors import ConnectionFailedError
from pyresque.sync import Queue as SyncQueue
from tests.faults.harness import ClientKillLoop, LoadingProbe, Spawned, wait_until
from tests.faults.poison import poison_scenario
from tests.faults.run import Outcome, Run

__all__ = ["SCENARIOS", "Feeder", "run_scenario"]

Q = "faults"


class Feeder:
    """Enqueues ``ids`` onto ``queue`` at ``rate`` jobs/s from a thread (pyresque's
    blocking Queue). A refusal that is certain (an ``OOM`` reply, a connection error before
    sending) is retried; an error that leaves it unknown whether the job landed marks the id
    ``uncertain``. ``rate`` 0: as fast as it goes."""

    def __init__(
        self, run: Run, queue: str, ids: Sequence[str], rate: float,
        args: Callable[[str], list[Any]], dialect: str = "node",
    ) -> None:  # fmt: skip
        assert run.redis is not None
        # patience=0: the feeder sees each refusal itself (it retries the certain ones).
        self.queue = SyncQueue(run.redis.url, namespace=run.namespace, dialect=dialect, patience=0)
        self.target, self.ids, self.rate, self.args = queue, ids, rate, args
        self.uncertain: list[str] = []
        self.refusals: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            for i, job_id in enumerate(self.ids):
                if self.rate:
                    time.sleep(max(0.0, t0 + i / self.rate - time.monotonic()))
                self._enqueue(job_id)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.queue.close()

    def _enqueue(self, job_id: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.queue.enqueue(self.target, "work", self.args(job_id))
                return
            except redis.ResponseError as exc:
                if not str(exc).startswith(("OOM", "LOADING", "BUSY")):
                    raise
                self.refusals[str(exc).split()[0]] += 1
            except (ConnectionFailedError, redis.ConnectionError, redis.TimeoutError) as exc:
                if getattr(exc, "maybe_sent", True):
                    self.uncertain.append(job_id)
                    return
                self.refusals["not sent"] += 1
            time.sleep(0.02)
        raise TimeoutError(f"could not enqueue {job_id} for 60 s: {self.refusals}")

    def join(self, timeout: float = 120) -> None:
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error


def _job_args(ms: tuple[int, int]) -> Callable[[str], list[Any]]:
    return lambda job_id: [job_id, random.randint(*ms)]


def _enqueue_now(run: Run, ids: Sequence[str], ms: tuple[int, int]) -> None:
    feeder = Feeder(run, Q, ids, 0, _job_args(ms)).start()
    feeder.join()
    assert not feeder.uncertain, feeder.uncertain


def _until_done(run: Run, fraction: float, total: int, timeout: float = 20) -> None:
    client = run.client(socket_timeout=2)
    key = f"{run.namespace}:fault:done"
    if not wait_until(lambda: client.scard(key) >= fraction * total, timeout):
        run.note(f"fewer than {fraction:.0%} of the jobs done within {timeout} s")


def _size(full: bool, short: Any, long: Any) -> Any:
    return long if full else short


# -- 1. worker SIGKILL storm ----------------------------------------------------------------


def worker_storm(run: Run, full: bool) -> Outcome:
    """Workers on the node dialect (pings every 200 ms) run 1-10 ms jobs fed at a steady
    rate; one random worker is SIGKILLed every 0.3-1 s and replaced. A scheduler cleans
    workers silent for 2 s (their held job becomes a stuck-worker failure) and retries them.
    Then no more kills, and the system drains."""
    workers, seconds, rate = _size(full, (4, 8.0, 200), (6, 45.0, 250))
    run.start_redis()
    procs = run.procs
    pool = [procs.worker([Q]) for _ in range(workers)]
    procs.scheduler(timeout_ms=250, stuck_worker_timeout_ms=2000, retry_stuck_jobs=True)
    run.watch([Q])
    ids = run.ids(int(seconds * rate))
    feeder = Feeder(run, Q, ids, rate, _job_args((1, 10))).start()
    kills = 0
    while feeder.running:
        time.sleep(random.uniform(0.3, 1.0))  # the fault's own timing
        alive = [p for p in pool if p.alive]
        if alive:
            victim = random.choice(alive)
            victim.kill()
            kills += 1
        pool.append(procs.worker([Q]))
    feeder.join()
    run.note(f"{kills} workers SIGKILLed")
    run.drain(_size(full, 20, 40))
    return run.finish(ids, uncertain=feeder.uncertain)


# -- 2. scheduler SIGKILL mid-promotion -----------------------------------------------------


async def _enqueue_delayed(run: Run, ids: Sequence[str], first: float, spread: float) -> None:
    assert run.redis is not None
    async with Queue(run.redis.url, namespace=run.namespace) as queue:
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            await asyncio.gather(
                *(
                    queue.enqueue_at(
                        (first + spread * (start + i) / len(ids)) * 1000, Q, "work", [job_id, 0]
                    )
                    for i, job_id in enumerate(chunk)
                )
            )


def _moving_second(client: redis.Redis, namespace: str, timeout: float) -> str | None:
    """Wait (polling every ms) until a due second's delayed list is seen shrinking, i.e.
    the leader is moving it; its key, or None at ``timeout``. The caller kills the leader
    then, so that kills land mid-promotion (a promotion takes milliseconds)."""
    schedule = f"{namespace}:delayed_queue_schedule"
    seen: tuple[str, int] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        due = client.zrangebyscore(schedule, 0, time.time() + 0.5, start=0, num=1)
        if due:
            key = f"{namespace}:delayed:{due[0].decode()}"
            left = client.llen(key)
            if seen is not None and seen[0] == key and 0 < left < seen[1]:
                return key
            seen = (key, left)
        time.sleep(0.001)
    return None


def scheduler_kills(run: Run, full: bool) -> Outcome:
    """Thousands of delayed jobs due over a few seconds; 3 schedulers (stable names, so a
    restarted one takes its lock back); every 0.2-0.5 s one is SIGKILLed and restarted: two
    times in three the leader, the moment it is seen moving a due second's jobs (so kills
    land mid-promotion). Workers are not harmed. Every delayed job must run exactly once."""
    jobs, spread = _size(full, (3000, 4.0), (20000, 12.0))
    run.start_redis()
    procs = run.procs
    for _ in range(3):
        procs.worker([Q])
    names = [f"{run.tag}-scheduler-{i}" for i in range(3)]

    def scheduler(name: str) -> Spawned:
        return procs.scheduler(name=name, timeout_ms=200, leader_lock_timeout_s=3)

    slots = {name: scheduler(name) for name in names}
    run.watch([Q])
    ids = run.ids(jobs)
    first = time.time() + 2.0 + jobs / 10_000  # enqueueing takes about 1 s per 10,000
    asyncio.run(_enqueue_delayed(run, ids, first, spread))
    client = run.client(socket_timeout=5)
    schedule = f"{run.namespace}:delayed_queue_schedule"
    lock = f"{run.namespace}:resque_scheduler_leader_lock"
    deadline = time.monotonic() + spread + 30
    kills = mid_move = 0
    while time.monotonic() < deadline and (time.time() < first + spread or client.zcard(schedule)):
        time.sleep(random.uniform(0.2, 0.5))  # the fault's own timing
        leader = (client.get(lock) or b"").decode()
        moving = None
        if leader in slots and random.random() < 2 / 3:
            name, moving = leader, _moving_second(client, run.namespace, 0.5)
        else:
            name = random.choice(names)
        slots[name].kill()
        kills += 1
        mid_move += bool(moving and client.llen(moving))
        slots[name] = scheduler(name)
    run.note(
        f"{kills} schedulers SIGKILLed, {mid_move} of them the leader while it was moving a "
        f"second's jobs (items left behind); {client.zcard(schedule)} seconds still scheduled"
    )
    run.drain(_size(full, 20, 60))
    return run.finish(ids, delayed=ids)


# -- 3. Redis restart with AOF, answering LOADING -------------------------------------------


def _pad(run: Run, keys: int) -> None:
    client = run.client(socket_timeout=120)
    t0 = time.monotonic()
    client.execute_command("DEBUG", "POPULATE", keys, "faultpad", 100)
    client.bgrewriteaof()

    def rewritten() -> bool:
        info = client.info("persistence")
        return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

    if not wait_until(rewritten, 120, interval=0.1):
        raise RuntimeError("the AOF rewrite of the padding did not finish")
    used = client.info("memory")["used_memory_human"]
    run.note(f"padding: {keys:,} keys, {used} used, written in {time.monotonic() - t0:.1f} s")


def _hold_steps(control: redis.Redis, attempts: int = 10) -> int:
    """``CLIENT PAUSE WRITE`` until at least two clients are held with an EVALSHA sent (a
    worker's step; at most one is the scheduler's): the SHUTDOWN that follows then lands
    while steps are in flight, sent and not answered, so their senders cannot know whether
    they ran and must reconnect (into LOADING) to find out. Returns how many were held."""
    held = 0
    for _attempt in range(attempts):
        control.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            clients = control.client_list()
            held = sum(1 for c in clients if "b" in c["flags"] and c["cmd"] == "evalsha")
            if held >= 2:
                return held
            time.sleep(0.01)
        control.execute_command("CLIENT", "UNPAUSE")
        time.sleep(random.uniform(0.02, 0.05))  # the fault's own timing: try again
    return held


def redis_restart(run: Run, full: bool) -> Outcome:
    """Redis with ``--appendonly yes`` and enough padding that loading the AOF takes over a
    second; SHUTDOWN (with steps in flight) and start again on the same port and dir while
    workers and a scheduler run. The workers must still be alive afterwards and finish
    every job."""
    pad, jobs = _size(full, (2_500_000, 2000), (6_000_000, 8000))
    server = run.start_redis("--appendonly", "yes")
    _pad(run, pad)
    ids = run.ids(jobs)
    # Short jobs: a worker spends about half its time in a step, so with 4 workers one is
    # almost surely mid-step when writes are paused before the SHUTDOWN.
    _enqueue_now(run, ids, (0, 2))
    workers = 4
    procs = run.procs
    for _ in range(workers):
        procs.worker([Q])
    procs.scheduler(timeout_ms=500, stuck_worker_timeout_ms=60_000, retry_stuck_jobs=True)
    run.watch([Q])
    _until_done(run, 0.1, jobs)
    probe = LoadingProbe(server.port).start()
    in_flight = _hold_steps(run.client())
    server.restart(until_loaded=False)
    pinger = run.client(socket_timeout=1, socket_connect_timeout=1)
    loaded = wait_until(lambda: bool(pinger.ping()), 120, interval=0.02)
    probe.stop()
    run.note(
        f"restart: {in_flight} scripts (steps) in flight at SHUTDOWN; "
        f"down {probe.longest_down:.2f} s, LOADING answered for "
        f"{probe.longest_loading:.2f} s ({probe.polls} probe polls)"
    )
    if not loaded:
        run.problem("Redis did not finish loading within 120 s")
    if not probe.loading_runs:
        run.problem("LOADING was never seen: the padding is too small for this machine")
    run.drain(_size(full, 20, 60))
    return run.finish(ids, require_done=ids)


# -- 4. CLIENT KILL loop --------------------------------------------------------------------


def client_kills(run: Run, full: bool) -> Outcome:
    """``CLIENT KILL TYPE normal SKIPME yes`` every 50-100 ms while workers work (every
    connection of theirs is cut over and over); then the loop stops and they drain."""
    jobs, seconds = _size(full, (1500, 6.0), (8000, 30.0))
    server = run.start_redis()
    ids = run.ids(jobs)
    _enqueue_now(run, ids, (5, 15))
    for _ in range(3):
        run.procs.worker([Q])
    run.watch([Q])
    killer = ClientKillLoop(server, (0.05, 0.1)).start()
    client = run.client(socket_timeout=2)
    done_key = f"{run.namespace}:fault:done"
    wait_until(lambda: client.scard(done_key) >= jobs, seconds, interval=0.2)
    killer.stop()
    run.note(f"{killer.rounds} CLIENT KILL rounds killed {killer.killed} connections")
    run.drain(_size(full, 20, 60))
    return run.finish(ids)


# -- 5. paused Redis ------------------------------------------------------------------------


def _paused(run: Run, full: bool, how: str) -> Outcome:
    jobs, pause = _size(full, (400, 3.0), (2000, 10.0))
    server = run.start_redis()
    ids = run.ids(jobs)
    _enqueue_now(run, ids, (10, 20))
    for _ in range(2):
        run.procs.worker([Q], url_query="socket_timeout=1&socket_connect_timeout=1")
    run.watch([Q])
    _until_done(run, 0.15, jobs)
    if how == "sigstop":
        server.pause()
        time.sleep(pause)  # the fault's own timing
        server.resume()
        run.note(f"redis-server SIGSTOPped for {pause:.0f} s")
    else:
        run.client().execute_command("CLIENT", "PAUSE", int(pause * 1000), "ALL")
        time.sleep(pause)  # the fault's own timing
        run.note(f"CLIENT PAUSE {pause * 1000:.0f} ALL")
    run.drain(_size(full, 20, 60))
    return run.finish(ids, require_done=ids)


def redis_sigstop(run: Run, full: bool) -> Outcome:
    """SIGSTOP redis-server for longer than the workers' reply timeout (``socket_timeout=1``
    in their URL), then SIGCONT. Workers stay alive and finish every job."""
    return _paused(run, full, "sigstop")


def redis_client_pause(run: Run, full: bool) -> Outcome:
    """``CLIENT PAUSE <ms> ALL`` for longer than the workers' reply timeout. Workers stay
    alive and finish every job."""
    return _paused(run, full, "client-pause")


# -- 6. OOM under maxmemory noeviction ------------------------------------------------------


def oom(run: Run, full: bool) -> Outcome:
    """``maxmemory-policy noeviction``; jobs are fed and worked; ``CONFIG SET maxmemory`` to
    half the memory in use, so enqueues and the workers' writes get ``OOM`` replies for a
    while, then back to no limit. Every job accounted for; workers alive."""
    seconds, rate, starved = _size(full, (7.0, 80, 2.5), (30.0, 150, 10.0))
    run.start_redis("--maxmemory-policy", "noeviction")
    for _ in range(3):
        run.procs.worker([Q])
    run.watch([Q])
    ids = run.ids(int(seconds * rate))
    feeder = Feeder(run, Q, ids, rate, _job_args((1, 10))).start()
    control = run.client(socket_timeout=5)
    time.sleep(1.5)  # the fault's own timing: work goes on normally first
    used = int(control.info("memory")["used_memory"])
    control.config_set("maxmemory", used // 2)
    time.sleep(starved)  # the fault's own timing
    control.config_set("maxmemory", 0)
    run.note(f"maxmemory {used // 2:,} bytes for {starved} s: enqueue refusals "
             f"{dict(feeder.refusals)}")  # fmt: skip
    feeder.join()
    if not feeder.refusals["OOM"]:
        run.problem("no enqueue got an OOM reply: the scenario did not starve Redis")
    run.drain(_size(full, 20, 60))
    return run.finish(ids, uncertain=feeder.uncertain)


# -- the table of scenarios -----------------------------------------------------------------

Scenario = Callable[[Run, bool], Outcome]


@dataclass(frozen=True)
class Entry:
    run: Scenario
    sides: tuple[str, ...] = ("pyresque", "node")


SCENARIOS: dict[str, Entry] = {
    "worker-sigkill-storm": Entry(worker_storm),
    "scheduler-sigkill": Entry(scheduler_kills),
    "redis-restart-loading": Entry(redis_restart),
    "client-kill-loop": Entry(client_kills),
    "redis-sigstop": Entry(redis_sigstop),
    "redis-client-pause": Entry(redis_client_pause),
    "oom-noeviction": Entry(oom),
    "poison-node-dialect": Entry(lambda run, full: poison_scenario(run, full, "node")),
    "poison-ruby-dialect": Entry(
        lambda run, full: poison_scenario(run, full, "ruby"), sides=("pyresque",)
    ),
}


def run_scenario(name: str, side: str = "pyresque", *, full: bool = False) -> Outcome:
    """Run one scenario on one side, in its own Redis and temp dir, cleaned up after."""
    with Run(name, side) as run:
        return SCENARIOS[name].run(run, full)
