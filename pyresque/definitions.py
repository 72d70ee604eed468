"""Job definitions: what a worker runs for a job class, and the plugins around it.

A ``jobs`` mapping (job class name -> callable or :class:`JobDefinition`) is the only way
a job class resolves to code: nothing named in a payload is ever imported or evaluated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyresque.errors import ArgumentError

__all__ = ["JobDefinition", "JobDefinitions", "job_definitions"]


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


def _definition(name: object, job: Any) -> JobDefinition:
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"job names must be non-empty strings, not {name!r}")
    if isinstance(job, JobDefinition):
        return job
    if callable(job):
        return JobDefinition(job)
    raise ArgumentError(f"job {name!r} is neither callable nor a JobDefinition: {job!r}")


class JobDefinitions(Mapping[str, JobDefinition]):
    """A live, read-only view of a ``jobs`` mapping, each value as a :class:`JobDefinition`.

    Live, so a job added to the mapping after a worker started (``Tasks.add``, a rewrap by
    ``Tasks.add_middleware``) is seen by that worker: node-resque's workers copy the map
    when built, and a task added later fails there as unknown. Every value is checked when
    the view is made, and again (cheaply) when looked up.
    """

    __slots__ = ("_made", "_source")

    def __init__(self, jobs: Mapping[str, Any] | None = None) -> None:
        source = jobs._source if isinstance(jobs, JobDefinitions) else jobs
        self._source: Mapping[str, Any] = {} if source is None else source
        # A plain callable gets one definition, kept while the mapping holds that callable.
        self._made: dict[str, tuple[Any, JobDefinition]] = {}
        for name, job in self._source.items():
            _definition(name, job)

    def __getitem__(self, name: str) -> JobDefinition:
        job = self._source[name]
        if isinstance(job, JobDefinition):
            return job
        made = self._made.get(name)
        if made is not None and made[0] is job:
            return made[1]
        definition = _definition(name, job)
        self._made[name] = (job, definition)
        return definition

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __repr__(self) -> str:
        return f"JobDefinitions({sorted(self._source)!r})"


def job_definitions(jobs: Mapping[str, Any] | None) -> JobDefinitions:
    """A live view of a ``jobs`` mapping (callables or definitions) as definitions; a
    value that is neither raises TypeError now."""
    return JobDefinitions(jobs)
