"""``pyresque generate``: the source of new tasks and their tests, written into an app."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from pyresque.errors import ConfigurationError
from pyresque.tasks.config import load_config

__all__ = ["generate_app", "generate_task", "render_config", "render_task", "wire_task"]


def render_task(name: str, queue: str, frequency: float, description: str) -> tuple[str, str]:
    """The source of a new task module and of its test (pytest, against the spec helpers
    of :mod:`pyresque.testing.tasks` and the pyresque pytest plugin's Redis)."""
    class_name = "".join(p[:1].upper() + p[1:] for p in name.replace("-", "_").split("_") if p)
    if not class_name.isidentifier() or class_name[0].isdigit():
        class_name = f"Task{class_name}"
    number = int(frequency) if float(frequency).is_integer() else frequency
    q = json.dumps  # a JSON string is a valid Python string literal
    task = f'''"""The {name} task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pyresque.tasks import Input, Task


class {class_name}(Task):
    name = {q(name)}
    description = {q(description)}
    queue = {q(queue)}
    frequency = {number!r}  # ms between runs; 0: not periodic
    inputs: ClassVar[Mapping[str, Input]] = {{}}  # e.g. {{"to": Input(required=True)}}

    async def run(self, params: Mapping[str, Any], worker: Any) -> Any:
        # params: the validated inputs (read-only); worker.job: the resque payload.
        return {{"task": self.name}}
'''
    test = f'''"""Tests of the {name} task (Redis from the pyresque pytest plugin)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pyresque.tasks import Tasks
from pyresque.testing.tasks import delete_enqueued_tasks, find_enqueued_tasks, run_task

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def test_{_identifier(name)}_is_enqueued_and_runs(redis_url: str, resque_namespace: str) -> None:
    async def scenario() -> None:
        tasks = Tasks(redis_url, namespace=resque_namespace)
        try:
            tasks.load(TASKS)
            assert await tasks.enqueue({q(name)}, {{}}) is True
            found = await find_enqueued_tasks(tasks, {q(name)})
            assert len(found) == 1
            assert found[0]["queue"] == {q(queue)}
            assert found[0]["timestamp"] is None
            assert await run_task(tasks, {q(name)}, {{}}) == {{"task": {q(name)}}}
            assert await delete_enqueued_tasks(tasks, {q(name)}, {{}}) == 1
        finally:
            await tasks.aclose()

    asyncio.run(scenario())
'''
    return task, test


def generate_task(
    app_dir: str | Path,
    name: str,
    queue: str,
    frequency: float = 0,
    description: str | None = None,
) -> list[Path]:
    """Write ``<tasks_path>/<name>.py`` and ``tests/test_<name>.py`` in the app; the paths.
    Refuses (ConfigurationError, nothing written) when either exists."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
        raise ConfigurationError(f"--name {name!r}: letters, digits, _ and - only")
    if not (0 <= frequency < math.inf):
        raise ConfigurationError(f"--frequency must be a number of ms >= 0, not {frequency:g}")
    folder = Path(app_dir)
    files = [
        folder / load_config(folder).tasks_path / f"{name}.py",
        folder / "tests" / f"test_{_identifier(name)}.py",
    ]
    if taken := [str(path) for path in files if path.exists()]:
        raise ConfigurationError(f"{' and '.join(taken)} already exist(s); nothing was written")
    sources = render_task(name, queue, frequency, description or name)
    for path, source in zip(files, sources, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return files


CONFIG = "pyresque.toml"
_QUEUES_LINE = re.compile(
    r"^queues[ \t]*=[ \t]*\[(?P<items>[^\]#\n]*)\](?P<rest>[ \t]*(#.*)?)$", re.M
)


def render_config(queue: str, *, scheduler: bool) -> str:
    """A ``pyresque.toml`` for a node that works ``queue`` (and, with ``scheduler``, runs
    the scheduler that enqueues periodic tasks)."""
    return f"""# The app's task settings (all options: pyresque's spec/tasks.md, "Configuration").
# Environment variables override single options: PYRESQUE_REDIS_URL (or REDIS_URL),
# PYRESQUE_NAMESPACE, PYRESQUE_MAX_TASK_PROCESSORS ...

# This node works tasks: a pool of up to this many workers.
max_task_processors = 1

# Queues in priority order (["*"]: every queue).
queues = [{json.dumps(queue)}]

# This node enqueues periodic tasks at boot and moves due delayed tasks to their queues.
scheduler = {"true" if scheduler else "false"}

# namespace = "resque"
# redis = "redis://127.0.0.1:6379/0"  # default: $REDIS_URL, else this
"""


def wire_task(app_dir: str | Path, queue: str, *, periodic: bool) -> tuple[Path | None, str]:
    """Make the app run a task on ``queue``: write a ``pyresque.toml`` when the app has no
    configuration, else add ``queue`` to a one-line ``queues = [...]`` of its
    ``pyresque.toml``. Returns the file written or changed (None) and what was done, or
    what to change by hand (a queues function, a pyproject table, a list over lines)."""
    folder = Path(app_dir)
    path = folder / CONFIG
    if not path.exists() and not (folder / "pyproject.toml").exists():
        path.write_text(render_config(queue, scheduler=periodic), encoding="utf-8")
        return path, f"wrote {path} (works queue {queue!r})"
    config = load_config(folder, environ={})
    notes = []
    if not config.scheduler and periodic:
        notes.append("periodic tasks need a scheduler node: add scheduler = true")
    if config.max_task_processors == 0:
        notes.append("this node works no tasks: add max_task_processors = 1")
    changed = None
    queues = config.queues
    text = path.read_text("utf-8") if path.exists() else ""
    lines = list(_QUEUES_LINE.finditer(text))  # one line we can edit safely, or none
    if callable(queues) or "*" in queues or queue in queues:
        pass
    elif len(lines) == 1:
        match = lines[0]
        items = match["items"].rstrip().rstrip(",").rstrip()
        added = f"{items}, {json.dumps(queue)}" if items.strip() else json.dumps(queue)
        line = f"queues = [{added}]{match['rest']}"
        path.write_text(text[: match.start()] + line + text[match.end() :], encoding="utf-8")
        changed = path
        notes.insert(0, f"added queue {queue!r} to queues in {path}")
    else:
        names = ", ".join(json.dumps(q) for q in (*queues, queue))
        notes.insert(0, f"add the queue by hand: queues = [{names}]")
    return changed, "; ".join(notes)


def generate_app(app_dir: str | Path) -> list[Path]:
    """Write a new app into ``app_dir``: ``pyresque.toml``, ``tasks/hello.py``, its test
    ``tests/test_hello.py`` and a ``README.md``; the paths. Refuses (ConfigurationError,
    nothing written) when any of them exists."""
    folder = Path(app_dir)
    files = [folder / CONFIG, folder / "tasks" / "hello.py", folder / "tests" / "test_hello.py"]
    files.append(folder / "README.md")
    if taken := [str(path) for path in files if path.exists()]:
        raise ConfigurationError(f"{' and '.join(taken)} already exist(s); nothing was written")
    task, test = render_task("hello", "default", 0, "says hello")
    sources = [render_config("default", scheduler=False), task, test, _readme(folder)]
    for path, source in zip(files, sources, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return files


def _readme(folder: Path) -> str:
    return f"""# {folder.resolve().name}

A pyresque app: its settings in `pyresque.toml`, its tasks in `tasks/`.

Run a node (workers on the queues of `pyresque.toml`) until Ctrl-C:

    pyresque start --app {folder}

Enqueue the `hello` task, from another shell:

    pyresque task enqueue hello --app {folder}

Add a task (and its queue to `pyresque.toml`):

    pyresque generate task --name send-mail --queue mail --app {folder}

Run the tests (the pyresque pytest plugin starts a Redis for them):

    cd {folder} && pytest
"""


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name).lower()
