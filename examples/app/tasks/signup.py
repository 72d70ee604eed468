"""A task with inputs, and the delayed task that follows it up.

``signup``'s inputs show the three kinds of declaration: ``email`` is required and
validated, ``name`` and ``plan`` have defaults (``plan`` is validated too). Defaults are
filled in and validators run when the task is enqueued, so a bad call fails in the caller,
not later in a worker. Each signup enqueues a ``send_reminder`` for later, through
``current_tasks()`` (the registry of the running task, as Actionhero code calls the global
``task.enqueueIn``). ``send_reminder``'s ``run`` is a plain ``def``, so the worker runs it
in a thread, as blocking I/O should.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyresque.tasks import Input, Task, current_tasks

PLANS = ("free", "pro")
REMINDER_DELAY = 2000  # ms; a real app would wait days


def _email(value: Any) -> bool | str:
    # True: valid; a string: rejected with that message (False gives the standard one).
    if isinstance(value, str) and "@" in value.strip("@"):
        return True
    return f"{value} is not an email address"


class Signup(Task):
    name = "signup"
    description = "welcomes a new user"
    queue = "default"
    inputs = {
        "email": Input(required=True, validator=_email),
        "name": Input(default="friend"),
        "plan": Input(default="free", validator=lambda plan: plan in PLANS),
    }

    async def run(self, params: Mapping[str, Any], worker: Any) -> str:
        # ``params`` are read-only here; ``worker.job`` is the resque payload.
        # The follow-up, through the registry running this task (validated as any enqueue).
        await current_tasks().enqueue_in(
            REMINDER_DELAY, "send_reminder", {"email": params["email"]}
        )
        return f"welcomed {params['name']} <{params['email']}> ({params['plan']} plan)"


class SendReminder(Task):
    name = "send_reminder"
    description = "reminds a user who signed up to finish their profile"
    queue = "mail"
    inputs = {
        "email": Input(required=True, validator=_email),
        "days": Input(default=3, validator=lambda days: isinstance(days, int) and days > 0),
    }

    def run(self, params: Mapping[str, Any], worker: Any) -> str:
        return f"reminded {params['email']} ({params['days']} days left)"
