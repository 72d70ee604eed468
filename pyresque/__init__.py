"""pyresque: a Python peer for Ruby resque and node-resque on a shared Redis.

``pyresque.Queue`` is the asyncio client, ``pyresque.sync.Queue`` its blocking twin.
"""

from pyresque._version import __version__
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

__all__ = [
    "NODE",
    "RUBY",
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
