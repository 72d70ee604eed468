"""An app's task configuration: Actionhero's ``config/tasks`` in snake_case, plus the
connection, the tasks folder and the cron time zone.

:func:`load_config` reads ``pyresque.toml`` in the app folder (options at the top level of
the file) or, when there is none, the ``[tool.pyresque]`` table of ``pyproject.toml``; then
``PYRESQUE_<OPTION>`` environment variables override single options. Every value is
checked, and a bad one is a :class:`~pyresque.errors.ConfigurationError` naming the option
and where it came from. The option list and the environment rules: spec/tasks.md,
"Configuration".
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import math
import os
import re
import sys
import tomllib
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pyresque.connection.settings import DEFAULT_URL, Settings, default_url
from pyresque.errors import ConfigurationError
from pyresque.scheduler.events import DEFAULT_LOG_LEVELS as SCHEDULER_LEVELS
from pyresque.scheduler.events import EVENTS as SCHEDULER_EVENTS
from pyresque.scheduler.options import SchedulerOptions
from pyresque.worker.events import DEFAULT_LOG_LEVELS as WORKER_LEVELS
from pyresque.worker.events import LEVEL_NAMES, parse_event_levels
from pyresque.worker.options import Unfinished, WorkerOptions

__all__ = ["QueuesFunction", "TasksConfig", "load_config", "log_level"]

QueuesFunction = Callable[[], Sequence[str] | Awaitable[Sequence[str]]]

# Actionhero's names for pyresque's events (``internalError`` is never read by Actionhero;
# the worker's ``error`` event is the nearest thing).
_WORKER_ALIASES = {"internalError": "error"}
_SCHEDULER_ALIASES = {"working_timestamp": "workingTimestamp", "transferred_job": "transferredJob"}
# The app's own lines: the boot enqueue of periodic tasks, and cron enqueues.
_APP_SCHEDULER_EVENTS: Mapping[str, int | None] = {
    "enqueue": logging.DEBUG,
    "reEnqueue": logging.DEBUG,
}
DEFAULT_WORKER_LOGGING: Mapping[str, int | None] = MappingProxyType(dict(WORKER_LEVELS))
DEFAULT_SCHEDULER_LOGGING: Mapping[str, int | None] = MappingProxyType(
    {**SCHEDULER_LEVELS, **_APP_SCHEDULER_EVENTS}
)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _frozen(levels: Mapping[str, int | None]) -> Mapping[str, int | None]:
    return MappingProxyType(dict(levels))


_WORKER = WorkerOptions()
_SCHEDULER = SchedulerOptions()


@dataclass(frozen=True)
class TasksConfig:
    """Every option, checked on construction (so ``TasksConfig(...)`` in code is checked
    as a file is). Times are in ms, as in Actionhero, except the options named in seconds
    (as the Worker and Scheduler take them).

    The options a node's workers and scheduler are built from are
    :meth:`worker_options` and :meth:`scheduler_options`.
    """

    scheduler: bool = False
    """Run a scheduler here, and enqueue the periodic tasks at boot."""
    queues: tuple[str, ...] | QueuesFunction = ("*",)
    """Queues in priority order, or a (possibly async) function returning them."""
    queues_refresh: float = 60_000
    """How often a ``queues`` function is called again; 0: once, at start (Actionhero)."""
    timeout: float = 5000
    min_task_processors: int = 0
    max_task_processors: int = 0
    check_timeout: float = 500
    max_event_loop_delay: float = 5
    stuck_worker_timeout: float = 3_600_000
    retry_stuck_jobs: bool = False
    job_timeout: float | None = _WORKER.job_timeout
    """A task running longer than this fails; None (left out of a file): no limit."""
    shutdown_grace: float = _WORKER.shutdown_grace
    """Seconds a running task may take to finish once the node stops."""
    unfinished: Unfinished = _WORKER.unfinished
    """A task cut off at the stop: ``"fail"`` (recorded as failed) or ``"requeue"``."""
    heartbeat_interval: float = _WORKER.heartbeat_interval
    """Seconds between Ruby resque's worker heartbeats (ruby dialect)."""
    leader_lock_timeout: int = _SCHEDULER.leader_lock_timeout
    """Whole seconds the scheduler's lock lives unless refreshed."""
    both_locks: bool = _SCHEDULER.both_locks
    """The scheduler leads only while holding node-resque's and resque-scheduler's locks."""
    processes: int = 1
    """Worker processes of ``pyresque start``: each runs a pool of ``min``..``max``
    task processors; the scheduler, if any, runs in the first only. 1: this process."""
    worker_logging: Mapping[str, int | None] = field(default_factory=lambda: DEFAULT_WORKER_LOGGING)
    scheduler_logging: Mapping[str, int | None] = field(
        default_factory=lambda: DEFAULT_SCHEDULER_LOGGING
    )
    redis: str = field(default_factory=default_url)
    namespace: str = "resque"
    dialect: str = "node"
    tasks_path: str = "tasks"
    cron_timezone: str = "UTC"

    def __post_init__(self) -> None:
        for option in _OPTIONS:
            value = _coerce(option, getattr(self, option), "TasksConfig")
            object.__setattr__(self, option, value)
        _check_together({o: getattr(self, o) for o in _OPTIONS}, {})

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone cron schedules are read in (``cron_zone``, else local)."""
        return zoneinfo.ZoneInfo(self.cron_timezone)

    def worker_options(self, name: str | None = None) -> WorkerOptions:
        """What this node's workers are built from; ``name`` is the App's (their host)."""
        return WorkerOptions(
            name=name,
            namespace=self.namespace,
            dialect=self.dialect,
            timeout=self.timeout,
            job_timeout=self.job_timeout,
            shutdown_grace=self.shutdown_grace,
            unfinished=self.unfinished,
            heartbeat_interval=self.heartbeat_interval,
            log_levels=self.worker_logging,
        )

    def scheduler_options(self, name: str | None = None) -> SchedulerOptions:
        """What this node's scheduler is built from; ``name`` is the App's (its lock
        value)."""
        return SchedulerOptions(
            name=name,
            namespace=self.namespace,
            dialect=self.dialect,
            timeout=self.timeout,
            leader_lock_timeout=self.leader_lock_timeout,
            stuck_worker_timeout=self.stuck_worker_timeout,
            retry_stuck_jobs=self.retry_stuck_jobs,
            both_locks=self.both_locks,
            # Boot and cron enqueues are the app's lines, not the scheduler's events.
            log_levels={
                event: level
                for event, level in self.scheduler_logging.items()
                if event in SCHEDULER_EVENTS
            },
        )


def log_level(levels: Mapping[str, int | None], event: str) -> int | None:
    return levels.get(event, logging.DEBUG)


# -- checking one value ----------------------------------------------------------------------


class _Env(str):
    """An environment variable's text: parsed into the option's type (a file has types)."""


def _fail(option: str, expected: str, value: object, source: str) -> ConfigurationError:
    return ConfigurationError(f"{option}: expected {expected}, got {value!r} (from {source})")


def _boolean(option: str, value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, _Env) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(option, "true or false", value, source)


def _count(option: str, value: object, source: str) -> int:
    if isinstance(value, _Env) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _fail(option, "an integer >= 0", value, source)


def _at_least_one(option: str, value: object, source: str) -> int:
    number = int(value.strip()) if isinstance(value, _Env) and value.strip().isdigit() else value
    if isinstance(number, int) and not isinstance(number, bool) and number >= 1:
        return number
    raise _fail(option, "an integer >= 1", value, source)


def _number(option: str, value: object, source: str, *, positive: bool, unit: str = "ms") -> float:
    number: object = value
    if isinstance(value, _Env):
        try:
            number = float(value)
        except ValueError:
            number = value
    if (
        isinstance(number, int | float)
        and not isinstance(number, bool)
        and math.isfinite(number)
        and (number > 0 if positive else number >= 0)
    ):
        return float(number)
    raise _fail(option, f"a number of {unit} {'>' if positive else '>='} 0", value, source)


def _whole_seconds(option: str, value: object, source: str) -> int:
    if isinstance(value, _Env) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise _fail(option, "a whole number of s > 0", value, source)


def _queues(value: object, source: str) -> tuple[str, ...] | QueuesFunction:
    if callable(value):
        return value
    names: object = value
    if isinstance(value, str):
        names = [q.strip() for q in value.split(",")]
    if (
        isinstance(names, list | tuple)
        and names
        and all(isinstance(q, str) and q.strip() for q in names)
    ):
        return tuple(q.strip() for q in names)
    raise _fail(
        "queues",
        'a list of queue names, a comma-separated string or {function = "module:attr"}',
        value,
        source,
    )


def _levels(
    option: str, value: object, source: str, base: Mapping[str, int | None] | None
) -> Mapping[str, int | None]:
    defaults = DEFAULT_WORKER_LOGGING if option == "worker_logging" else DEFAULT_SCHEDULER_LOGGING
    aliases = _WORKER_ALIASES if option == "worker_logging" else _SCHEDULER_ALIASES
    given: object = value
    if isinstance(value, _Env):  # "poll=info,job=off"
        try:
            given = parse_event_levels(value)
        except ValueError:
            raise _fail(option, "event=level pairs separated by commas", value, source) from None
    if not isinstance(given, Mapping):
        raise _fail(option, "a table of event = level", value, source)
    levels = dict(base or defaults)
    for key, level in given.items():
        event = str(key)
        name = aliases.get(event, event)
        if name not in defaults:
            known = ", ".join(sorted({*defaults, *aliases}))
            raise ConfigurationError(
                f"{option}: unknown event {event!r} (from {source}); events are {known}"
            )
        levels[name] = _level(f"{option}.{event}", level, source)
    return _frozen(levels)


def _level(option: str, level: object, source: str) -> int | None:
    if level is None or level is False:
        return None
    if isinstance(level, int) and not isinstance(level, bool) and level >= 0:
        return level
    if isinstance(level, str) and level.strip().lower() in LEVEL_NAMES:
        return LEVEL_NAMES[level.strip().lower()]
    raise _fail(option, f"a level ({', '.join(LEVEL_NAMES)}) or false", level, source)


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def _text(option: str, value: object, source: str) -> str:
    if not isinstance(value, str):
        raise _fail(option, "a string", value, source)
    if option == "redis":
        try:
            Settings.from_url(value)
        except ConfigurationError as exc:
            redacted = str(exc).replace(value, _redact(value))
            raise ConfigurationError(f"redis: {redacted} (from {source})") from None
    elif option == "dialect" and value not in ("node", "ruby"):
        raise _fail(option, "'node' or 'ruby'", value, source)
    elif option == "unfinished" and value not in ("fail", "requeue"):
        raise _fail(option, "'fail' or 'requeue'", value, source)
    elif option == "tasks_path" and not value.strip():
        raise _fail(option, "a folder", value, source)
    elif option == "cron_timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _fail(option, "an IANA time zone such as 'Europe/Paris'", value, source) from None
    return value


def _coerce(option: str, value: object, source: str, base: Any = None) -> Any:
    kind = _OPTIONS[option]
    if kind == "bool":
        return _boolean(option, value, source)
    if kind == "count":
        return _count(option, value, source)
    if kind == "count>=1":
        return _at_least_one(option, value, source)
    if kind in ("ms", "ms>0"):
        return _number(option, value, source, positive=kind == "ms>0")
    if kind == "ms>0 or none":
        return None if value is None else _number(option, value, source, positive=True)
    if kind in ("s", "s>0"):
        return _number(option, value, source, positive=kind == "s>0", unit="s")
    if kind == "whole s>0":
        return _whole_seconds(option, value, source)
    if kind == "queues":
        return _queues(value, source)
    if kind == "levels":
        return _levels(option, value, source, base)
    return _text(option, value, source)


_OPTIONS: Mapping[str, str] = {
    "scheduler": "bool",
    "queues": "queues",
    "queues_refresh": "ms",
    "timeout": "ms>0",
    "min_task_processors": "count",
    "max_task_processors": "count",
    "check_timeout": "ms>0",
    "max_event_loop_delay": "ms",
    "stuck_worker_timeout": "ms",
    "retry_stuck_jobs": "bool",
    "job_timeout": "ms>0 or none",
    "shutdown_grace": "s",
    "unfinished": "text",
    "heartbeat_interval": "s>0",
    "leader_lock_timeout": "whole s>0",
    "both_locks": "bool",
    "processes": "count>=1",
    "worker_logging": "levels",
    "scheduler_logging": "levels",
    "redis": "text",
    "namespace": "text",
    "dialect": "text",
    "tasks_path": "text",
    "cron_timezone": "text",
}
assert set(_OPTIONS) == {f.name for f in dataclasses.fields(TasksConfig)}


def _check_together(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    least = values.get("min_task_processors", 0)
    most = values.get("max_task_processors", 0)
    if least > most:
        # Actionhero would run `least` workers with max 0; say what is meant instead.
        raise ConfigurationError(
            f"min_task_processors: expected at most max_task_processors ({most}), got "
            f"{least!r} (from {sources.get('min_task_processors', 'TasksConfig')})"
        )
    processes = values.get("processes", 1)
    if processes > 1 and most == 0:
        raise ConfigurationError(
            f"processes: {processes} processes of no workers (max_task_processors is 0); "
            f"set max_task_processors, or processes = 1 (from "
            f"{sources.get('processes', 'TasksConfig')})"
        )


# -- loading ---------------------------------------------------------------------------------


def _env_names(option: str) -> tuple[str, ...]:
    if option == "redis":
        return ("PYRESQUE_REDIS_URL", "REDIS_URL")
    return (f"PYRESQUE_{option.upper()}",)


def _read(app_dir: Path) -> tuple[dict[str, Any], str]:
    """The options in the app's file, and how to name that file in messages."""
    own, project = app_dir / "pyresque.toml", app_dir / "pyproject.toml"
    path = own if own.is_file() else project if project.is_file() else None
    if path is None:
        return {}, "defaults"
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if path is own:
        return data, str(path)
    table = data.get("tool", {}).get("pyresque", {})
    where = f"{path} [tool.pyresque]"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    return table, where


def _queues_function(reference: object, app_dir: Path, source: str) -> QueuesFunction:
    """``{function = "module:attr"}``: import it, the app folder first on the path."""
    spec = reference.get("function") if isinstance(reference, dict) else None
    if not (isinstance(reference, dict) and set(reference) == {"function"}):
        raise _fail("queues", '{function = "module:attr"}', reference, source)
    module_name, colon, attr = str(spec).partition(":")
    if not (isinstance(spec, str) and colon and module_name and attr):
        raise _fail("queues", 'a function reference "module:attr"', spec, source)
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except Exception as exc:
        raise ConfigurationError(
            f"queues: cannot import {spec!r}: {type(exc).__name__}: {exc} (from {source})"
        ) from None
    if not callable(found) or inspect.isclass(found):
        raise _fail("queues", "a function", found, source)
    return found  # type: ignore[no-any-return]


def load_config(
    app_dir: str | Path = ".", *, environ: Mapping[str, str] | None = None
) -> TasksConfig:
    """The app's configuration: defaults, then its file, then the environment
    (``environ``, default ``os.environ``)."""
    env = os.environ if environ is None else environ
    folder = Path(app_dir).resolve()
    data, where = _read(folder)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option, value in data.items():
        if option not in _OPTIONS:
            known = ", ".join(_OPTIONS)
            raise ConfigurationError(
                f"{option}: unknown option (from {where}); options are {known}"
            )
        if option == "queues" and isinstance(value, dict):
            value = _queues_function(value, folder, where)
        values[option] = _coerce(option, value, where)
        sources[option] = where
    for option in _OPTIONS:
        for name in _env_names(option):
            raw = env.get(name)
            if raw is None or (name == "REDIS_URL" and not raw):
                continue
            # A level map from the environment changes the events it names, no others.
            values[option] = _coerce(option, _Env(raw), name, base=values.get(option))
            sources[option] = name
            break
    # Not the field's default: that reads os.environ, and ``environ`` may be another.
    values.setdefault("redis", DEFAULT_URL)
    _check_together(values, sources)
    return TasksConfig(**values)
