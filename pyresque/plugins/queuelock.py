"""QueueLock: a job is not enqueued again while an identical one waits in its queue.

node-resque's ``QueueLock``, on the same key: ``lock:<class>:<queue>:<args JSON>``, value
``now_s + lockTimeout + 1``, TTL ``lockTimeout`` (3600 s). ``enqueue`` takes the lock or
returns False; a lock whose value is in the past (one left without a TTL) is taken over.
The lock goes when a worker is about to run the job, so the job may be enqueued again
while it runs, and when a later plugin vetoes the enqueue (node-resque keeps it then).

Options: ``lockTimeout`` (or ``lock_timeout``), ``key`` (a string, or a callable given
the plugin).
"""

from __future__ import annotations

from pyresque.plugins.base import Plugin
from pyresque.plugins.joblock import custom_key, option, whole_seconds
from pyresque.protocol.plans import locks

__all__ = ["QueueLock"]


class QueueLock(Plugin):
    """Refuse duplicates of a queued job; see the module docstring."""

    veto_reason = "the same job is queued already: its lock is held"

    def key(self) -> str:
        """The lock key: the ``key`` option, else ``lock:<class>:<queue>:<args JSON>``."""
        found = custom_key(self)
        if found is not None:
            return found
        return self.context.keys.queue_lock(self.job_class, self.queue, locks.args_json(self.args))

    async def before_enqueue(self) -> bool:
        timeout = whole_seconds(
            option(self.options, "lockTimeout", "lock_timeout"), 3600, "lockTimeout"
        )
        # One script where node-resque sends SETNX, EXPIRE (then GET, SET, EXPIRE).
        return await self.run(locks.acquire_queue_lock(self.context, self.key(), timeout))

    async def enqueue_vetoed(self) -> None:
        # node-resque keeps the lock, refusing the job for lockTimeout with nothing queued.
        await self.run(locks.release_lock(self.key()))

    async def before_perform(self) -> bool:
        await self.run(locks.release_lock(self.key()))
        return True
