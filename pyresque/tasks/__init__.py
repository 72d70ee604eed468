"""Actionhero-style tasks on pyresque: Task classes, inputs, middleware, the ``task.*`` API."""

from pyresque.tasks.middleware import DEFAULT_PRIORITY, TaskMiddleware
from pyresque.tasks.task import (
    MISSING,
    Input,
    InputValidationError,
    Task,
    TaskDefinitionError,
    TaskError,
    validate_inputs,
)
from pyresque.tasks.tasks import PERIODIC_LOCKS, Tasks

__all__ = [
    "DEFAULT_PRIORITY",
    "MISSING",
    "PERIODIC_LOCKS",
    "Input",
    "InputValidationError",
    "Task",
    "TaskDefinitionError",
    "TaskError",
    "TaskMiddleware",
    "Tasks",
    "validate_inputs",
]
