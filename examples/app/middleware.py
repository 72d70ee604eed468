"""The app's task middleware: every ``TaskMiddleware`` in ``MIDDLEWARE`` is registered
with the app's tasks when the app loads (Actionhero's ``task.addMiddleware`` in an
initializer).

``timing`` is global (it wraps every task): it notes when a run starts and logs how long
it took and how it ended on the ``example.app`` logger. A hook gets the running plugin:
``plugin.job_class`` is the task, ``plugin.args[0]`` its params, ``plugin.owner.job`` the
payload, and ``plugin.outcome`` (after the run) its result or error; ``outcome.state`` is
where the two hooks of one run share what they know.
"""

from __future__ import annotations

import logging
import time

from pyresque.plugins import Plugin
from pyresque.tasks import TaskMiddleware

__all__ = ["MIDDLEWARE"]

log = logging.getLogger("example.app")


def _started(plugin: Plugin) -> None:
    if plugin.outcome is not None:
        plugin.outcome.state["timing.started"] = time.perf_counter()


def _finished(plugin: Plugin) -> None:
    outcome = plugin.outcome
    if outcome is None or "timing.started" not in outcome.state:
        return
    ms = (time.perf_counter() - outcome.state["timing.started"]) * 1000
    ended = "ok" if outcome.error is None else f"failed: {outcome.error}"
    log.info("timing: %s on %s took %.1f ms (%s)", plugin.job_class, plugin.queue, ms, ended)


MIDDLEWARE = [
    # A low priority number runs first: timing wraps whatever other middleware does.
    TaskMiddleware(
        "timing", global_=True, priority=10, pre_processor=_started, post_processor=_finished
    ),
]
