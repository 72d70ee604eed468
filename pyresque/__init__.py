"""pyresque: a Python peer for Ruby resque and node-resque on a shared Redis.

``pyresque.Queue`` is the asyncio client, ``pyresque.sync.Queue`` its blocking twin.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pyresque._version import __version__

if TYPE_CHECKING:
    from pyresque.bulk import BulkItem, BulkResult
    from pyresque.errors import (
        ConfigurationError,
        ConnectionFailedError,
        DuplicateJobError,
        JobNotFoundError,
        PayloadDecodeError,
        PayloadEncodeError,
        ProtocolError,
        PyresqueError,
        QueueError,
    )
    from pyresque.protocol.dialect import NODE, RUBY, Dialect
    from pyresque.protocol.payloads import FailedJob, Job, WorkingOn
    from pyresque.queue import DelayedAt, Queue
    from pyresque.scheduler import Scheduler, SchedulerOptions
    from pyresque.worker import JobDefinition, MultiWorker, Worker, WorkerOptions, current_job

# Each name is imported on first use (PEP 562): `import pyresque.cli` for `pyresque --help`
# then loads no Redis client, worker or scheduler.
_WHERE = {
    **dict.fromkeys(
        [
            "ConfigurationError",
            "ConnectionFailedError",
            "DuplicateJobError",
            "JobNotFoundError",
            "PayloadDecodeError",
            "PayloadEncodeError",
            "ProtocolError",
            "PyresqueError",
            "QueueError",
        ],
        "pyresque.errors",
    ),
    **dict.fromkeys(["NODE", "RUBY", "Dialect"], "pyresque.protocol.dialect"),
    **dict.fromkeys(["FailedJob", "Job", "WorkingOn"], "pyresque.protocol.payloads"),
    **dict.fromkeys(["BulkItem", "BulkResult"], "pyresque.bulk"),
    **dict.fromkeys(["DelayedAt", "Queue"], "pyresque.queue"),
    **dict.fromkeys(["Scheduler", "SchedulerOptions"], "pyresque.scheduler"),
    **dict.fromkeys(
        ["JobDefinition", "MultiWorker", "Worker", "WorkerOptions", "current_job"],
        "pyresque.worker",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pyresque' has no attribute {name!r}")
    found = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = found  # once: later lookups do not come here
    return found


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "NODE",
    "RUBY",
    "BulkItem",
    "BulkResult",
    "ConfigurationError",
    "ConnectionFailedError",
    "DelayedAt",
    "Dialect",
    "DuplicateJobError",
    "FailedJob",
    "Job",
    "JobDefinition",
    "JobNotFoundError",
    "MultiWorker",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "ProtocolError",
    "PyresqueError",
    "Queue",
    "QueueError",
    "Scheduler",
    "SchedulerOptions",
    "Worker",
    "WorkerOptions",
    "WorkingOn",
    "__version__",
    "current_job",
]
