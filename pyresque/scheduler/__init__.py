"""The scheduler: leader election, delayed-job promotion, dead-worker cleanup."""

from pyresque.scheduler.events import DEFAULT_LOG_LEVELS, EVENTS, SchedulerEvents
from pyresque.scheduler.options import SchedulerOptions
from pyresque.scheduler.runner import run_scheduler_until_signalled
from pyresque.scheduler.scheduler import Scheduler, ruby_hostname

__all__ = [
    "DEFAULT_LOG_LEVELS",
    "EVENTS",
    "Scheduler",
    "SchedulerEvents",
    "SchedulerOptions",
    "ruby_hostname",
    "run_scheduler_until_signalled",
]
