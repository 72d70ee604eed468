"""``pyresque demo``, in two parts.

1. The protocol: enqueue normal and delayed jobs, show the state as node-resque's Queue
   and as Ruby resque / resque-scheduler report it, work the jobs that are due with
   pyresque workers (one per dialect), show the state again.
2. The task layer: boot the example app in this process for a few seconds, a line per
   task run, failure and scheduler move, then a summary. The app is ``examples/app`` of
   the repository; the wheel ships the same files as ``pyresque/demo_app`` (see
   :func:`example_app`).

Redis: ``--redis`` or ``$REDIS_URL`` if given; else the one on 127.0.0.1:6379 if it
answers; else a private ``redis-server`` started on a loopback port for the demo.

Each run writes under namespaces of its own, ``pyresque-demo-<random>`` (part 1) and
``pyresque-demo-<random>-app`` (part 2), says which, and deletes every key under them when
it ends, also after an error or Ctrl-C: nothing else in the Redis is touched, and a
re-run starts from nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyresque.connection.blocking import BlockingConnection
from pyresque.connection.settings import Settings
from pyresque.errors import PyresqueError
from pyresque.queue import Queue
from pyresque.server import RedisServer, redis_answers
from pyresque.worker import Worker
from pyresque.worker.runner import run_until_signalled

if TYPE_CHECKING:
    from pyresque.tasks import Tasks

__all__ = ["example_app", "remove_namespaces", "run_demo"]

APP_SECONDS = 8.0
"""How long the example app may run; it stops sooner once it has shown everything."""
CLEANUP_SECONDS = 3.0
"""How long the clean-up at the end waits for Redis to connect, and for each reply."""


@dataclass
class _Run:
    """One run's namespaces, and whether Redis has answered it (else there is nothing to
    clean up)."""

    namespace: str
    """Part 1's; part 2's is :attr:`app_namespace`."""
    reached: bool = False

    @classmethod
    def fresh(cls) -> _Run:
        return cls(f"pyresque-demo-{secrets.token_hex(4)}")

    @property
    def app_namespace(self) -> str:
        return f"{self.namespace}-app"

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.namespace, self.app_namespace)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


# The demo's jobs. `async def` so their lines print in order with the workers' own.
async def add(a: float, b: float) -> float:
    print(f"    add: {a} + {b} = {a + b}")
    return a + b


async def send_welcome(message: dict[str, str]) -> None:
    print(f"    SendWelcome: would email {message.get('name')} at {message.get('to')}")


async def daily_report(day: str) -> None:
    print(f"    Reports::Daily: would build the report for {day}")


def _finished(dialect: str, queue: str, job: dict[str, Any], result: Any, ms: float) -> None:
    """A worker's ``success`` event."""
    shown = _show(job.get("args")) + ("" if result is None else f" -> {_show(result)}")
    print(f"  finished   {queue:<8} {job.get('class', ''):<16} {shown:<44} ({dialect} worker)")


async def _work(url: str, namespace: str) -> None:
    print(
        "\nWorking the jobs due now with pyresque workers, in burst mode (they stop once their"
        "\nqueues are empty): node dialect on math,email; ruby dialect on reports."
    )
    node_jobs = {"add": add, "SendWelcome": send_welcome}
    workers = [
        Worker(url, ["math", "email"], node_jobs, namespace=namespace, dialect="node"),
        Worker(
            url, ["reports"], {"Reports::Daily": daily_report}, namespace=namespace, dialect="ruby"
        ),
    ]
    for worker in workers:
        worker.on("success", functools.partial(_finished, worker.context.dialect.name))
    # No stop signals of its own: Ctrl-C interrupts the whole demo, not just this part.
    if await run_until_signalled(workers, burst=True, signals=()):
        raise PyresqueError("a demo worker failed (see the log above)")


async def _demo(url: str, run: _Run) -> None:
    node = Queue(url, namespace=run.namespace, dialect="node")
    ruby = Queue(url, namespace=run.namespace, dialect="ruby")
    try:
        await node.connect()
        run.reached = True  # from here on, there may be keys to clean up

        print("\nPart 1: the resque protocol, as node-resque and Ruby resque share it.")
        print(f"Enqueued in namespace {run.namespace!r}:")
        jobs: list[tuple[Queue, str, str, list[Any]]] = [
            (node, "math", "add", [1, 2]),
            (node, "math", "add", [3, 4.5]),
            (node, "email", "SendWelcome", [{"to": "ada@example.com", "name": "Ada"}]),
            (ruby, "reports", "Reports::Daily", ["2026-11-28"]),
        ]
        for queue, name, cls, args in jobs:
            await queue.enqueue(name, cls, args)
            print(
                f"  now        {name:<8} {cls:<16} {_show(args):<44} ({queue.dialect.name} bytes)"
            )
        now_ms = node.context.now_ms()
        delayed: list[tuple[Queue, float, str, str, list[Any]]] = [
            (node, 60_000, "math", "add", [5, 6]),
            (node, 3_600_000, "email", "SendReminder", [{"to": "ada@example.com"}]),
            (ruby, 86_400_000, "reports", "Reports::Weekly", []),
        ]
        for queue, delay, name, cls, args in delayed:
            await queue.enqueue_at(now_ms + delay, name, cls, args)
            label = f"in {delay / 1000:.0f} s"
            print(
                f"  {label:<10} {name:<8} {cls:<16} {_show(args):<44} ({queue.dialect.name} bytes)"
            )

        names = await node.queues()
        print("\nAs node-resque's Queue reports it:")
        print(f"  queue.queues()       {_show(names)}")
        for name in names:
            print(
                f"  queue.length({name!r}){' ' * max(0, 8 - len(name))} {await node.length(name)}"
            )
        print(f"  queue.timestamps()   {_show(await node.timestamps())}")
        for ms, tasks in (await node.all_delayed()).items():
            print(f"  allDelayed[{ms}]  {_show(tasks)}")
        print(f"  queue.failedCount()  {await node.failed_count()}")
        print(f"  queue.workers()      {_show(await node.workers())}")

        info = await ruby.info()
        print("\nAs Ruby resque and resque-scheduler report it:")
        print("  Resque.info          " + ", ".join(f"{k}={v}" for k, v in info.items()))
        for name in names:
            print(f"  Resque.peek({name!r}, 0, 10)  {_show(await ruby.queued(name, 0, 9))}")
        print(f"  Resque.delayed_queue_schedule_size  {await ruby.delayed_queue_schedule_size()}")
        print(f"  Resque.count_all_scheduled_jobs     {await ruby.count_all_scheduled_jobs()}")
        print(
            f"  Resque.delayed_queue_peek(0, 10)    {_show(await ruby.delayed_queue_peek(0, 10))}"
        )
        print(
            "\nThe bytes differ by dialect: node-resque writes "
            '{"class","queue","args"}, Ruby resque {"class","args"};'
            "\neach peer reads both. See spec/ for every key."
        )

        await _work(url, run.namespace)
        print("\nAfter the workers:")
        for name in names:
            print(
                f"  queue.length({name!r}){' ' * max(0, 8 - len(name))} {await node.length(name)}"
            )
        print(f"  queue.stats()        {_show(await node.stats())}")
        info = await ruby.info()
        print("  Resque.info          " + ", ".join(f"{k}={v}" for k, v in info.items()))
        print(
            f"  delayed jobs         {await ruby.count_all_scheduled_jobs()} still waiting "
            f"for their time: {_show(await node.timestamps())}"
        )
    finally:
        await node.aclose()
        await ruby.aclose()


# -- part 2: the example app ------------------------------------------------------------------

# What the demo enqueues into the example app, as a web node of the app would: (task,
# inputs). Each signup enqueues its own send_reminder, 2 s on.
_APP_ENQUEUES: list[tuple[str, dict[str, Any]]] = [
    ("signup", {"email": "ada@example.com", "name": "Ada", "plan": "pro"}),
    ("signup", {"email": "grace@example.com"}),
    ("import_feed", {}),
]
_REFUSED = ("signup", {"email": "not-an-email"})
# When the app has shown everything: runs (or failures) per task.
_APP_GOALS: Mapping[str, tuple[str, int]] = {
    "signup": ("ran", 2),
    "send_reminder": ("ran", 1),
    "heartbeat": ("ran", 3),
    "minute_report": ("ran", 1),
    "import_feed": ("failed", 1),
}


def example_app() -> Path | None:
    """The folder of the example app the demo boots, None if there is none.

    There is one copy of it in the repository, ``examples/app``, where users read it. The
    wheel ships its settings, tasks and middleware (not its tests) inside the package as
    ``pyresque/demo_app`` (``[tool.hatch.build.targets.wheel]`` in pyproject.toml): that
    is what an installed wheel finds. An editable install (``pip install -e``) has no
    ``pyresque/demo_app`` and finds ``examples/app`` beside the package.
    """
    package = Path(__file__).resolve().parent
    for folder in (package / "demo_app", package.parent / "examples" / "app"):
        if (folder / "pyresque.toml").is_file() and (folder / "tasks").is_dir():
            return folder
    return None


class _Progress:
    """Prints a line per worker, scheduler and app event worth seeing; knows when the
    demo has shown everything."""

    def __init__(self, tasks: Tasks) -> None:
        self.began = time.monotonic()
        self.periodic = {name for name, task in tasks.tasks.items() if task.periodic}
        self.cron = {name for name, task in tasks.tasks.items() if task.schedule}
        self.queues = {name: task.queue for name, task in tasks.tasks.items()}
        self.ran: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.timed = 0
        self.done = asyncio.Event()

    def line(self, label: str, task: str, queue: str, detail: str) -> None:
        elapsed = time.monotonic() - self.began
        print(f"  {elapsed:4.1f}s  {label:<9} {task:<14} {queue:<9} {detail}")

    def success(self, wid: int, queue: str, job: Mapping[str, Any], result: Any, ms: float) -> None:
        name = str(job.get("class", ""))
        self.ran[name] += 1
        label = f"tick {self.ran[name]}" if name in self.periodic else "ran"
        why = " (cron)" if name in self.cron else ""
        self.line(label, name, queue, f"-> {_show(result)}{why}  [worker {wid}, {ms:.0f} ms]")
        self._check()

    def failure(
        self, wid: int, queue: str, job: Mapping[str, Any], exc: BaseException | None, ms: float
    ) -> None:
        name = str(job.get("class", "")) if isinstance(job, Mapping) else "?"
        self.failed[name] += 1
        error = "cut off by stop" if exc is None else f"{type(exc).__name__}: {exc}"
        self.line("FAILED", name, queue, f"{error}  [worker {wid}]")
        self._check()

    def moved(self, timestamp: Any, job: Mapping[str, Any]) -> None:
        self.line(
            "due", str(job.get("class", "")), str(job.get("queue", "")),
            "moved from the delayed schedule to its queue by the scheduler",
        )  # fmt: skip

    def vetoed(self, timestamp: Any, job: Mapping[str, Any]) -> None:
        self.line(
            "vetoed", str(job.get("class", "")), str(job.get("queue", "")),
            "a plugin refused its move from the delayed schedule: dropped",
        )  # fmt: skip

    def logged(self, record: logging.LogRecord) -> None:
        """The app's own lines (boot enqueue, cron, leadership, middleware)."""
        message = record.getMessage()
        if record.name == "example.app" and message.startswith("timing:"):
            self.timed += 1  # the example's middleware: counted, shown in the summary
        elif getattr(record, "pyresque_event", None) == "leader":
            self.line("leader", "", "", "this node's scheduler leads: it moves due delayed "
                      "tasks and enqueues cron tasks")  # fmt: skip
        elif message.startswith("periodic tasks enqueued at boot: "):
            for name in message.partition(": ")[2].split(", "):
                queue = self.queues.get(name, "")
                self.line("boot", name, queue, "periodic: enqueued as the scheduler node boots")
        elif message.startswith("cron: "):
            name, _, rest = message[len("cron: ") :].partition(" ")
            self.line("cron", name, self.queues.get(name, ""), rest)

    def _check(self) -> None:
        counts = {"ran": self.ran, "failed": self.failed}
        if all(counts[kind][name] >= n for name, (kind, n) in _APP_GOALS.items()):
            self.done.set()

    def missing(self) -> list[str]:
        counts = {"ran": self.ran, "failed": self.failed}
        return [
            f"{name} {kind} {counts[kind][name]}/{n}"
            for name, (kind, n) in _APP_GOALS.items()
            if counts[kind][name] < n
        ]


class _Relay(logging.Handler):
    def __init__(self, progress: _Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.logged(record)


@contextlib.contextmanager
def _relaying(progress: _Progress) -> Iterator[None]:
    """Route the app's INFO lines to ``progress`` for as long as the app runs."""
    handler = _Relay(progress)
    loggers = [
        logging.getLogger(n) for n in ("pyresque.tasks", "pyresque.scheduler", "example.app")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _describe(tasks: Tasks) -> None:
    for name, task in tasks.tasks.items():
        if task.periodic:
            kind = f"periodic, every {task.frequency:g} ms"
        elif task.schedule:
            kind = "cron " + ", ".join(f"{s!r}" for s in task.schedule)
        else:
            declared = [f"{key}{'*' if spec.required else ''}" for key, spec in task.inputs.items()]
            kind = f"inputs {', '.join(declared)}" if declared else "no inputs"
        print(f"  {name:<14} {task.queue:<9} {kind:<32} {task.summary}")
    middleware = ", ".join(
        f"{m.name} ({'global' if m.global_ else 'per task'})" for m in tasks.middleware.values()
    )
    print(f"  middleware: {middleware or 'none'}  (* = required input)")


async def _enqueue_samples(tasks: Tasks) -> None:
    from pyresque.tasks import InputValidationError

    print("\nEnqueued by the demo, as the app's web node would (inputs validated here):")
    for name, inputs in _APP_ENQUEUES:
        await tasks.enqueue(name, inputs)
        print(f"  {'now':<9} {name:<14} {_show(inputs)}")
    print("  (each signup enqueues a send_reminder for 2 s later itself: current_tasks())")
    name, inputs = _REFUSED
    try:
        await tasks.enqueue(name, inputs)
    except InputValidationError as exc:
        print(f"  refused   {name:<14} {_show(inputs)}: {exc}")


async def _summary(url: str, namespace: str, progress: _Progress, seconds: float) -> None:
    async with Queue(url, namespace=namespace) as queue:
        stats = await queue.stats()
        failed = await queue.failed()
        delayed = await queue.all_delayed()
        lengths = {name: await queue.length(name) for name in await queue.queues()}
        now_ms = queue.context.now_ms()
    print(f"\nAfter {seconds:.1f} s the app was stopped (its workers and scheduler shut down):")
    print("  runs         " + ", ".join(f"{n} {c}" for n, c in progress.ran.items()))
    print("  failures     " + (", ".join(f"{n} {c}" for n, c in progress.failed.items()) or "0"))
    shown = {k: stats[k] for k in ("processed", "failed") if k in stats}
    print(f"  queue.stats()  {_show(shown)}")
    for entry in failed:
        payload = entry.get("payload")
        failed_class = payload.get("class") if isinstance(payload, dict) else payload
        print(
            f"  failed list  {failed_class} on {entry.get('queue')}: "
            f"{entry.get('exception')}: {entry.get('error')}"
        )
    for ms, jobs in delayed.items():
        for job in jobs:
            why = " (a periodic task's next run)" if job["class"] in progress.periodic else ""
            due = (int(ms) - now_ms) / 1000
            print(f"  still delayed  {job['class']} on {job.get('queue')}, due in {due:.1f} s{why}")
    if not delayed:
        print("  still delayed  nothing")
    print("  queues       " + ", ".join(f"{n} {length}" for n, length in lengths.items()))
    print(f"  middleware   timing timed {progress.timed} runs (its lines go to 'example.app')")
    missing = progress.missing()
    if missing:
        print(f"  (stopped after {APP_SECONDS:g} s before seeing: {', '.join(missing)})")


async def _app_demo(url: str, namespace: str, folder: Path) -> None:
    from pyresque.tasks.app import App

    # The demo's own settings over the app's file; the caller's PYRESQUE_* are not read.
    environ = {
        "PYRESQUE_REDIS_URL": url,
        "PYRESQUE_NAMESPACE": namespace,
        "PYRESQUE_SCHEDULER_LOGGING": "enqueue=info",  # the boot and cron enqueue lines
        "PYRESQUE_WORKER_LOGGING": "failure=off",  # the demo prints failures itself
    }
    app = App.from_path(folder, environ=environ)
    print(
        f"\nPart 2: an Actionhero-style app ({folder}), booted in this process for up to "
        f"{APP_SECONDS:g} s,\nwith a scheduler and {app.config.min_task_processors} to "
        f"{app.config.max_task_processors} workers, in namespace {namespace!r}. Its tasks:"
    )
    _describe(app.tasks)
    progress = _Progress(app.tasks)
    try:
        await _enqueue_samples(app.tasks)
        print("\nRunning (a line per run, failure and scheduler move; time since the app started):")
        with _relaying(progress):
            progress.began = time.monotonic()
            await app.start()
            # The pool starts its first worker a check after it starts, and the scheduler
            # moves nothing before its next poll: nothing is missed by listening now.
            if app.multi_worker is not None:
                app.multi_worker.on("success", progress.success)
                app.multi_worker.on("failure", progress.failure)
            if app.scheduler is not None:
                app.scheduler.on("transferredJob", progress.moved)
                app.scheduler.on("vetoedJob", progress.vetoed)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(APP_SECONDS):
                    await progress.done.wait()
    finally:
        seconds = time.monotonic() - progress.began
        await app.stop()  # also closes its connection when it never started
    await _summary(url, namespace, progress, seconds)


async def _demo_all(url: str, run: _Run) -> None:
    await _demo(url, run)
    folder = example_app()
    if folder is None:
        print(
            "\nPart 2, the example app of Actionhero-style tasks, is not in this installation"
            "\n(neither pyresque/demo_app of the wheel nor examples/app of a source checkout)."
        )
        return
    await _app_demo(url, run.app_namespace, folder)


def remove_namespaces(url: str, namespaces: Sequence[str]) -> int:
    """Delete every key under ``namespaces`` (``<namespace>:*``); how many there were.

    Blocking, on a connection of its own with short timeouts: it runs after the event loop
    is gone (an error, Ctrl-C), and must not hang on a Redis that stopped answering.
    """
    settings = Settings.from_url(
        url, socket_connect_timeout=CLEANUP_SECONDS, socket_timeout=CLEANUP_SECONDS
    )
    connection = BlockingConnection(settings)
    try:
        removed = 0
        for namespace in namespaces:
            cursor: Any = b"0"
            while True:
                scan = ["SCAN", cursor, "MATCH", f"{namespace}:*", "COUNT", 1000]
                cursor, keys = _answer(connection.send([scan])[0])
                if keys:
                    removed += _answer(connection.send([["DEL", *keys]])[0])
                if cursor in (b"0", "0", 0):
                    break
        return removed
    finally:
        connection.close()


def _answer(reply: Any) -> Any:
    if isinstance(reply, Exception):  # an error reply: raw connections return them
        raise PyresqueError(f"Redis refused the clean-up: {reply}")
    return reply


def _clean_up(url: str, run: _Run) -> None:
    """Delete the run's namespaces, and say so (on stdout: an interrupted run's stderr is
    the command line's one line)."""
    if not run.reached:
        return
    first, second = run.namespaces
    try:
        removed = remove_namespaces(url, run.namespaces)
    except (PyresqueError, OSError) as exc:
        print(
            f"pyresque demo: could not delete namespaces {first} and {second} ({exc}); "
            f"their keys match {first}:* and {second}:*"
        )
        return
    print(f"\npyresque demo: deleted namespaces {first} and {second} ({removed} keys)")


def run_demo(url: str | None = None) -> int:
    """Run the demo; returns the process exit code."""
    server: RedisServer | None = None
    url = url or os.environ.get("REDIS_URL")
    if url:
        print(f"pyresque demo: using Redis at {url}")
    elif redis_answers("127.0.0.1", 6379):
        url = "redis://127.0.0.1:6379/0"
        print(f"pyresque demo: using the Redis already answering at {url}")
    else:
        try:
            server = RedisServer()
            url = server.start()
        except PyresqueError as exc:
            print(f"pyresque demo: no Redis configured, none on 127.0.0.1:6379, and {exc}")
            return 1
        print(
            "pyresque demo: no Redis configured and none answering on 127.0.0.1:6379, "
            f"so started a private redis-server ({server.source}: {server.binary}) at {url}"
        )
    run = _Run.fresh()
    print(
        f"pyresque demo: writing in namespaces {run.namespace} (part 1) and "
        f"{run.app_namespace} (part 2), deleted at the end"
    )
    try:
        asyncio.run(_demo_all(url, run))
    except PyresqueError as exc:
        print(f"pyresque demo: {exc}")
        return 1
    finally:
        _clean_up(url, run)  # also after an error or Ctrl-C
        if server is not None:
            server.stop()
            print("pyresque demo: stopped the private redis-server")
    return 0
