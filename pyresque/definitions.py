"""Job definitions: what a worker runs for a job class, and the plugins around it.

A ``jobs`` mapping (job class name -> callable or :class:`JobDefinition`) is the only way
a job class resolves to code: nothing named in a payload is ever imported or evaluated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JobDefinition", "job_definitions"]


@dataclass(frozen=True, slots=True)
class JobDefinition:
    """What a worker runs for one job class: ``perform(*args)``.

    ``plugins`` and ``plugin_options`` follow node-resque's job definitions (see
    :mod:`pyresque.plugins`).
    """

    perform: Callable[..., Any]
    plugins: tuple[Any, ...] = ()
    plugin_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    is_async: bool = field(init=False)
    """An ``async def`` (or an object whose ``__call__`` is one): runs on the loop."""

    def __post_init__(self) -> None:
        is_async = inspect.iscoroutinefunction(self.perform) or inspect.iscoroutinefunction(
            getattr(self.perform, "__call__", None)  # noqa: B004 - async callable objects
        )
        object.__setattr__(self, "is_async", is_async)


def job_definitions(jobs: Mapping[str, Any] | None) -> dict[str, JobDefinition]:
    """Normalise a ``jobs`` mapping (callables or definitions) into definitions."""
    found: dict[str, JobDefinition] = {}
    for name, job in (jobs or {}).items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"job names must be non-empty strings, not {name!r}")
        if isinstance(job, JobDefinition):
            found[name] = job
        elif callable(job):
            found[name] = JobDefinition(job)
        else:
            raise TypeError(f"job {name!r} is neither callable nor a JobDefinition: {job!r}")
    return found
