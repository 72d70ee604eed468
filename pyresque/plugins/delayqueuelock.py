"""DelayQueueLock: a job is not enqueued while an identical one is delayed.

node-resque's ``DelayQueueLock``: ``enqueue`` returns False when
``timestamps:<payload>`` has members, i.e. the same class, queue and args sit in the
delayed queue (when the scheduler moves a delayed job, not counting that job: node-resque
takes it out before enqueueing it). Only ``enqueue`` is checked (not ``enqueue_at`` or
``enqueue_in``), as in node-resque.

node-resque looks only for its own encoding of the payload. This also looks for Ruby's
(resque-scheduler writes ``{"class","args","queue"}``), since pyresque treats both as the
same job everywhere else; with node-resque alone the Ruby key never exists and the two
agree. See ``spec/plugins.md``.
"""

from __future__ import annotations

from pyresque.plugins.base import Plugin
from pyresque.protocol.plans import locks

__all__ = ["DelayQueueLock"]


class DelayQueueLock(Plugin):
    """Refuse a job while a copy of it is delayed."""

    veto_reason = "the same job is already delayed"

    async def before_enqueue(self) -> bool:
        found = await self.run(
            locks.delayed_copy_exists(
                self.context, self.queue, self.job_class, self.args, moving_from=self.moving_from
            )
        )
        return not found
