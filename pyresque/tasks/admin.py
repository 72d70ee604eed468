"""Actionhero's ``task.*`` inspection and admin calls: the base class of
:class:`~pyresque.tasks.Tasks`.

Most pass straight through to the :class:`~pyresque.Queue`. Where Actionhero's leave
something behind or skip a check, these do not:

* deleting jobs (``delete``, ``delete_by_function``, ``delete_queue``) gives back the
  QueueLock of each deleted job that no longer waits; Actionhero keeps it for an hour,
  refusing the job all that time;
* ``retry_and_remove_failed`` of a task's entry validates its inputs and runs the task's
  enqueue plugins and middleware *before* taking the entry out of the failed list (in one
  atomic step with the enqueue); a refusal or a veto leaves the entry where it is;
* ``working_on`` says ``"started"`` for a registered idle worker, as Actionhero documents;
* ``details`` is the one status model (:mod:`pyresque.protocol.status`): Actionhero's
  fields as numbers, plus delayed and failed jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pyresque.definitions import JobDefinition
from pyresque.errors import JobNotFoundError
from pyresque.plugins.base import plugin_class, run_plugins
from pyresque.plugins.queuelock import QueueLock
from pyresque.protocol.jsjson import loads
from pyresque.protocol.payloads import FailedJob, Job, WorkingOn
from pyresque.protocol.plans import failed as failed_plans
from pyresque.protocol.plans import locks as lock_plans
from pyresque.protocol.status import Status
from pyresque.queue import DelayedAt, Queue
from pyresque.tasks.task import Task, validate_inputs

__all__ = ["TaskAdmin"]


class TaskAdmin:
    """The admin half of :class:`~pyresque.tasks.Tasks` (see the module docstring)."""

    queue: Queue
    tasks: dict[str, Task]
    jobs: dict[str, JobDefinition]

    def _hooks(self, name: str, queue: str, args: list[Any], plugins: Sequence[Any]) -> Any:
        """The keyword arguments of ``run_plugins`` for task ``name``'s enqueue hooks."""
        definition = self.jobs[name]
        return {
            "plugins": plugins,
            "plugin_options": definition.plugin_options,
            "owner": self,
            "context": self.queue.context,
            "runner": self.queue._run,
            "queue_object": self.queue,
            "job_class": name,
            "queue": queue,
            "job": definition,
            "args": args,
        }

    async def details(self) -> Status:
        """Actionhero's health view in pyresque's one status model (what ``Queue.status()``
        returns and ``pyresque status`` shows): each queue's ``length``, each worker's
        ``working_on`` record (None where Actionhero says ``"started"``), the counters as
        integers (a worker's own under that worker), the ``leader``; and what Actionhero
        leaves out: delayed jobs, the failed count, each worker's kind, start and last sign
        of life. Each value is read on its own: one that cannot be read (a key of another
        type, a record that is not JSON ...) is an ``Unreadable`` marker in its place,
        naming the key, and the others are read all the same."""
        return await self.queue.status()

    # -- deleting, and the locks deleted jobs leave --------------------------------------------
    def _has_queue_lock(self, name: str) -> bool:
        """Task ``name`` carries QueueLock on its default key (a periodic task does). A
        ``key`` option, or a subclass with its own ``key()``, names keys we cannot know."""
        definition = self.jobs.get(name)
        if definition is None:
            return False
        for reference in definition.plugins:
            cls = plugin_class(reference)
            if issubclass(cls, QueueLock):
                options = definition.plugin_options.get(cls.name_for_options(), {})
                return cls.key is QueueLock.key and not options.get("key")
        return False

    async def _release_queue_locks(self, queue: str, names: Sequence[str]) -> int:
        """Give back the queue locks of tasks ``names`` on ``queue`` whose job no longer
        waits there; how many. Each is checked and deleted atomically, so the lock of a
        copy enqueued meanwhile stays."""
        keys = self.queue.context.keys
        prefixes = {keys.unprefixed(keys.queue_lock_prefix(name, queue)): name for name in names}
        released = 0
        for lock in await self.queue.locks():
            for prefix, name in prefixes.items():
                if not lock.startswith(prefix):
                    continue
                try:
                    args = loads(lock[len(prefix) :])
                except ValueError:
                    continue  # not a lock QueueLock wrote
                if isinstance(args, list) and await self.queue._run(
                    lock_plans.release_queue_lock(
                        self.queue.context, queue, name, args, key=keys.key(lock)
                    )
                ):
                    released += 1
        return released

    # Actionhero passes ``[inputs]`` as the job's args in the calls below.
    async def delete(self, queue: str, name: str, inputs: Any = None, count: int = 0) -> int:
        """Remove queued copies whose inputs are exactly ``inputs``; how many. When none is
        left, the task's QueueLock for those inputs goes too."""
        args = [inputs]
        removed = await self.queue.delete(queue, name, args, count)
        if removed and self._has_queue_lock(name):
            await self.queue._run(
                lock_plans.release_queue_lock(self.queue.context, queue, name, args)
            )
        return removed

    async def delete_by_function(
        self, queue: str, name: str, start: int = 0, stop: int = -1
    ) -> int:
        """Remove the task's queued copies in that range of the queue; how many. The task's
        queue locks whose job no longer waits there go too."""
        removed = await self.queue.delete_by_function(queue, name, start, stop)
        if removed and self._has_queue_lock(name):
            await self._release_queue_locks(queue, [name])
        return removed

    async def delete_queue(self, queue: str) -> None:
        """Delete a queue and its jobs, and the queue locks those jobs held."""
        await self.queue.delete_queue(queue)
        names = [name for name in self.tasks if self._has_queue_lock(name)]
        if names:
            await self._release_queue_locks(queue, names)

    async def delete_delayed(self, queue: str, name: str, inputs: Any = None) -> list[int]:
        """Remove every delayed copy of the task ``name`` with these inputs; the
        seconds (unix) they were due at."""
        return await self.queue.delete_delayed(queue, name, [inputs])

    async def scheduled_at(self, queue: str, name: str, inputs: Any = None) -> list[int]:
        """The seconds (unix) at which the task ``name`` with these inputs is delayed."""
        return await self.queue.scheduled_at(queue, name, [inputs])

    # -- failed jobs ---------------------------------------------------------------------------
    async def retry_and_remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> bool:
        """Enqueue a failed job again and take its entry out of the failed list, atomically.

        For a registered task, first as ``enqueue`` does: its inputs get their defaults
        and are validated (``InputValidationError``), and its ``before_enqueue`` plugins
        and middleware run; False when one vetoed. Either way the entry stays. Actionhero
        validates nothing here, and loses the entry when a plugin vetoes. Other classes are
        retried as they are. Raises ``JobNotFoundError`` when the entry is not there.
        """
        entry = dict(failed_job)
        payload = entry.get("payload")
        name = payload.get("class") if isinstance(payload, Mapping) else None
        task = self.tasks.get(name) if isinstance(name, str) else None
        if task is None or not isinstance(name, str):
            return await self.queue.retry_and_remove_failed(entry)
        queue, _, args = failed_plans.retry_target(self.queue.context, entry)
        params = await validate_inputs(task, args[0] if args else None)
        retried: list[Any] = [params, *args[1:]]
        plugins = self.jobs[name].plugins
        if not await run_plugins("before_enqueue", **self._hooks(name, queue, retried, plugins)):
            return False
        try:
            await self.queue._run(
                failed_plans.retry_and_remove_failed(self.queue.context, entry, args=retried)
            )
        except JobNotFoundError:
            # Nothing was enqueued: the plugins give back what they took (QueueLock's lock).
            given_back = tuple(reversed(plugins))
            await run_plugins("enqueue_vetoed", **self._hooks(name, queue, retried, given_back))
            raise
        await run_plugins("after_enqueue", **self._hooks(name, queue, retried, plugins))
        return True

    async def failed_count(self) -> int:
        """How many entries the failed list holds."""
        return await self.queue.failed_count()

    async def failed(self, start: int = 0, stop: int = -1) -> list[FailedJob]:
        """Failed entries from ``start`` to ``stop`` (inclusive), decoded."""
        return await self.queue.failed(start, stop)

    async def remove_failed(self, failed_job: FailedJob | dict[str, Any]) -> int:
        """Remove one failed entry equal to ``failed_job``; 1 when found."""
        return await self.queue.remove_failed(failed_job)

    # -- workers -------------------------------------------------------------------------------
    async def working_on(self, worker_name: str, queues: str) -> WorkingOn | str | None:
        """The job a worker holds; ``"started"`` when it is registered and idle (what
        Actionhero's JSDoc promises; its code returns null); None for no such worker."""
        record = await self.queue.working_on(worker_name, queues)
        if record is not None:
            return record
        workers = await self.queue.workers()
        return "started" if worker_name in workers and workers[worker_name] == queues else None

    async def all_working_on(self) -> dict[str, WorkingOn | str]:
        """``{worker name: its working-on record, or "started"}`` (Actionhero's
        ``allWorkingOn``)."""
        return await self.queue.all_working_on()

    async def workers(self) -> dict[str, str | None]:
        """Every registered worker, node or Ruby: ``{name: queues}``."""
        return await self.queue.workers()

    async def clean_old_workers(self, age_ms: float) -> dict[str, dict[str, Any]]:
        """Force-clean every worker whose current job started more than
        ``age_ms`` ago; ``{worker name: failure entry}``."""
        return await self.queue.clean_old_workers(age_ms)

    # -- the rest of task.* is the Queue's API unchanged ---------------------------------------
    async def stats(self) -> dict[str, str | None]:
        """The ``stat:*`` counters as Actionhero's ``task.stats`` reports them."""
        return await self.queue.stats()

    async def queued(self, queue: str, start: int = 0, stop: int = -1) -> list[Job]:
        """The tasks waiting in ``queue`` from ``start`` to ``stop``, decoded."""
        return await self.queue.queued(queue, start, stop)

    async def locks(self) -> dict[str, str | None]:
        """Plugin locks: name without the namespace -> value."""
        return await self.queue.locks()

    async def delete_lock(self, key: str) -> int:
        """Delete a lock by its name as :meth:`locks` gives it; 1 when it existed."""
        return await self.queue.delete_lock(key)

    async def timestamps(self) -> list[int]:
        """Due times in ms, sorted as numbers (Actionhero sorts them as strings)."""
        return await self.queue.timestamps()

    async def delayed_at(self, at: float | datetime) -> DelayedAt:
        """The tasks due in the second of ``at`` and that second."""
        return await self.queue.delayed_at(at)

    async def all_delayed(self) -> dict[str, list[Job]]:
        """Every delayed task, keyed by its due time in ms, earliest first."""
        return await self.queue.all_delayed()
