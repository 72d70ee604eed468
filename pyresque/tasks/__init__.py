"""Actionhero-style tasks on pyresque: Task classes, inputs, middleware, the ``task.*`` API."""

from pyresque.tasks.app import App
from pyresque.tasks.config import TasksConfig, load_config
from pyresque.tasks.cron import Cron, CronSyntaxError
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
from pyresque.tasks.tasks import PERIODIC_LOCKS, Tasks, current_tasks

__all__ = [
    "DEFAULT_PRIORITY",
    "MISSING",
    "PERIODIC_LOCKS",
    "App",
    "Cron",
    "CronSyntaxError",
    "Input",
    "InputValidationError",
    "Task",
    "TaskDefinitionError",
    "TaskError",
    "TaskMiddleware",
    "Tasks",
    "TasksConfig",
    "current_tasks",
    "load_config",
    "validate_inputs",
]
