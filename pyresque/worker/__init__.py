"""Workers: take jobs from resque queues and run them beside node-resque and Ruby resque."""

from pyresque.worker.events import DEFAULT_LOG_LEVELS, Events
from pyresque.worker.jobs import (
    CurrentJob,
    JobDefinition,
    JobTimeoutError,
    PerformWrapper,
    UnknownJobError,
    current_job,
)
from pyresque.worker.multi import MultiWorker
from pyresque.worker.options import WorkerOptions
from pyresque.worker.runner import run_until_signalled
from pyresque.worker.summary import RunSummary
from pyresque.worker.waker import Waker
from pyresque.worker.worker import Worker

__all__ = [
    "DEFAULT_LOG_LEVELS",
    "CurrentJob",
    "Events",
    "JobDefinition",
    "JobTimeoutError",
    "MultiWorker",
    "PerformWrapper",
    "RunSummary",
    "UnknownJobError",
    "Waker",
    "Worker",
    "WorkerOptions",
    "current_job",
    "run_until_signalled",
]
