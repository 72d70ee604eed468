"""Actionhero-style task definitions: a :class:`Task` subclass per task, with its inputs.

A task runs as a resque job of class ``name`` whose ``args`` are ``[inputs]``, exactly as
Actionhero enqueues its tasks, so Actionhero nodes and pyresque nodes run each other's
tasks from one Redis.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pyresque.errors import InputValidationError, TaskDefinitionError, TaskError

__all__ = [
    "MISSING",
    "Input",
    "InputValidationError",
    "Task",
    "TaskDefinitionError",
    "TaskError",
    "validate_inputs",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""No default: the input is left out when the caller leaves it out."""

# Actionhero's config.general.missingParamChecks: what counts as "not given".
_MISSING_VALUES: tuple[object, ...] = (None, "")


@dataclass(frozen=True, slots=True)
class Input:
    """One declared input, checked in this order when the task is enqueued.

    ``default``: a value, or a (possibly async) callable returning it, used when the
    input is absent. ``formatter``: a (possibly async) callable of a present value
    returning the value to keep (``"42"`` to ``42``, say). ``validator``: a (possibly
    async) callable of a present value returning ``None``/``True`` (valid), ``False``
    (rejected with the standard message) or a message; raising rejects with that
    exception. ``required``: absent, ``None`` or ``""`` by then is rejected.

    That is the order of Actionhero's action inputs. Its task inputs declare a formatter
    and a schema but ignore both; here a formatter runs, and a field Input does not have
    (``schema``) is a TypeError where the task is defined.
    """

    required: bool = False
    default: Any = MISSING
    formatter: Callable[[Any], Any] | None = None
    validator: Callable[[Any], Any] | None = None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _js(value: Any) -> str:
    # Actionhero's messages interpolate the value with JavaScript's String().
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    return str(value)


async def validate_inputs(task: Task, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Inputs with defaults filled in, formatted and validated, in declaration order, as
    Actionhero's ``validateInput`` does (plus the formatter); a new dict (Actionhero writes
    the defaults into the caller's). Undeclared keys pass.

    Raises :class:`InputValidationError` (or what a validator raised).
    """
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InputValidationError(
            f"inputs for task {task.name} must be a mapping, not {type(inputs).__name__}",
            task=task.name,
            key="",
            inputs={},
        )
    values = dict(inputs or {})
    for key, spec in task.inputs.items():
        if key not in values and spec.default is not MISSING:
            default = spec.default
            values[key] = await _maybe_await(default() if callable(default) else default)
        if key in values and spec.formatter is not None:
            values[key] = await _maybe_await(spec.formatter(values[key]))
        if key in values and spec.validator is not None:
            verdict = await _maybe_await(spec.validator(values[key]))
            if verdict is False:
                raise InputValidationError(
                    f"{_js(values[key])} is not a valid value for {key} in task {task.name}",
                    task=task.name,
                    key=key,
                    inputs=values,
                )
            if verdict is not None and verdict is not True:
                raise InputValidationError(str(verdict), task=task.name, key=key, inputs=values)
        if spec.required and (key not in values or values[key] in _MISSING_VALUES):
            raise InputValidationError(
                f"{key} is a required input for task {task.name}",
                task=task.name,
                key=key,
                inputs=values,
            )
    return values


class Task:
    """Base class of tasks. Subclass, set the class attributes, implement :meth:`run`.

    ``frequency`` (ms) > 0 makes the task periodic: enqueued when a scheduler node boots
    and again ``frequency`` ms after each run (also after a failure, unless
    ``re_enqueue_periodic_task_if_exception`` is False), one instance cluster-wide.
    ``schedule``: cron expressions (``"*/5 * * * *"``) at which the scheduler leader
    enqueues the task, once per tick cluster-wide.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    """Defaults to the name (Actionhero documents that but cannot do it)."""
    queue: ClassVar[str] = "default"
    frequency: ClassVar[float] = 0
    inputs: ClassVar[Mapping[str, Input]] = {}
    """None declared: the task takes any inputs (``{}`` when none are given)."""
    middleware: ClassVar[tuple[str, ...] | list[str]] = ()
    plugins: ClassVar[tuple[Any, ...] | list[Any]] = ()
    plugin_options: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    re_enqueue_periodic_task_if_exception: ClassVar[bool] = True
    """True by default, as in Actionhero's code: a periodic run that raises is recorded as
    failed and the chain goes on. (Actionhero's JSDoc says false, and its guide that a
    failing periodic task is never run again; the code re-enqueues it.)"""
    schedule: ClassVar[tuple[str, ...] | list[str]] = ()

    def run(self, params: Mapping[str, Any], worker: Any) -> Any | Awaitable[Any]:
        """The task's work; ``params`` are the (read-only) inputs, ``worker`` the job
        context (``worker.job`` the payload, ``worker.queue``, ``worker.worker``)."""
        raise NotImplementedError

    @property
    def periodic(self) -> bool:
        """True when the task re-enqueues itself every ``frequency`` ms."""
        return self.frequency > 0

    @property
    def is_async(self) -> bool:
        """True when ``run`` is a coroutine function (run on the loop, not a thread)."""
        return inspect.iscoroutinefunction(self.run)

    @classmethod
    def validate(cls) -> None:
        """Refuse a definition that cannot work, with Actionhero's messages."""
        if not isinstance(cls.name, str) or not cls.name:
            raise TaskDefinitionError(f"name is required for this task ({cls.__qualname__})")
        if not isinstance(cls.description, str):
            raise TaskDefinitionError(f"description of the task `{cls.name}` must be a string")
        if not isinstance(cls.queue, str) or not cls.queue.strip():
            raise TaskDefinitionError(f"queue is required for the task `{cls.name}`")
        if (
            isinstance(cls.frequency, bool)
            or not isinstance(cls.frequency, int | float)
            or not math.isfinite(cls.frequency)
            or cls.frequency < 0
        ):
            raise TaskDefinitionError(
                f"frequency of the task `{cls.name}` must be a number of ms >= 0, "
                f"not {cls.frequency!r}"
            )
        if cls.run is Task.run:
            raise TaskDefinitionError(f"task `{cls.name}` has no run method")
        for key, spec in cls.inputs.items():
            if not isinstance(spec, Input):
                raise TaskDefinitionError(
                    f"input {key!r} of task `{cls.name}` must be an Input, not {spec!r}"
                )
            for field in ("formatter", "validator"):
                if getattr(spec, field) is not None and not callable(getattr(spec, field)):
                    # Actionhero crashes on a string validator; refuse it when loading.
                    raise TaskDefinitionError(
                        f"{field} of input {key!r} of task `{cls.name}` must be callable"
                    )
        if not all(isinstance(m, str) for m in cls.middleware):
            raise TaskDefinitionError(f"middleware of task `{cls.name}` must be names")
        if not isinstance(cls.schedule, list | tuple) or not all(
            isinstance(s, str) for s in cls.schedule
        ):
            raise TaskDefinitionError(f"schedule of task `{cls.name}` must be cron strings")

    @property
    def summary(self) -> str:
        """One line about the task for listings: name, queue, frequency, inputs."""
        return self.description or self.name
