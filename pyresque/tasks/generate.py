"""``pyresque generate``: the source of new tasks and their tests, written into an app."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from pyresque.errors import ConfigurationError
from pyresque.tasks.config import load_config

__all__ = ["generate_task", "render_task"]


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


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name).lower()
