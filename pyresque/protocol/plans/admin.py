"""The former home of the worker, failed-list and stats plans, kept only as re-exports.

Import from :mod:`~pyresque.protocol.plans.workers` (workers, working-on records, cleaning
up dead workers), :mod:`~pyresque.protocol.plans.failed` (the failed list) and
:mod:`~pyresque.protocol.plans.stats` (scans, locks, stats, the leader, ``Resque.info``).
Still imported by ``pyresque/scheduler/scheduler.py`` and ``pyresque/tasks/admin.py``;
delete this module once they import from the modules above.
"""

from __future__ import annotations

from pyresque.protocol.plans.failed import (
    failed,
    failed_count,
    remove_failed,
    remove_failed_at,
    requeue_failed,
    retry_and_remove_failed,
    retry_stuck_jobs,
    retry_target,
)
from pyresque.protocol.plans.stats import delete_lock, info, leader, locks, scan, stats
from pyresque.protocol.plans.workers import (
    Cleaned,
    all_working_on,
    clean_old_workers,
    clean_stuck_worker,
    force_clean_worker,
    prune_dead_worker,
    split_member,
    workers,
    working_on,
)

__all__ = [
    "Cleaned",
    "all_working_on",
    "clean_old_workers",
    "clean_stuck_worker",
    "delete_lock",
    "failed",
    "failed_count",
    "force_clean_worker",
    "info",
    "leader",
    "locks",
    "prune_dead_worker",
    "remove_failed",
    "remove_failed_at",
    "requeue_failed",
    "retry_and_remove_failed",
    "retry_stuck_jobs",
    "retry_target",
    "scan",
    "split_member",
    "stats",
    "workers",
    "working_on",
]
