"""The plugin contract and runner, as node-resque has them.

A job definition lists ``plugins`` (classes, or the names of the built-in ones) and
``plugin_options`` keyed by plugin name. Around each enqueue (by a :class:`~pyresque.Queue`
built with ``jobs``, or by a scheduler moving a delayed job) and each perform, every plugin
gets a fresh instance and its hook is awaited, in list order; the first hook that returns
``False`` stops the chain and vetoes the enqueue or the perform. Anything else (``True``,
``None``) lets it go on.

``after_perform`` runs after the job, also when it raised; ``self.outcome.error`` is the
exception (clear it to turn the failure into a success, as Noop and Retry do) and
``self.outcome.result`` the job's result.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pyresque.errors import ConfigurationError
from pyresque.protocol.context import Context
from pyresque.protocol.plan import Plan

__all__ = [
    "Hook",
    "Outcome",
    "Plugin",
    "QueueLike",
    "Veto",
    "last_veto",
    "plugin_class",
    "record_veto",
    "run_plugins",
]

T = TypeVar("T")
Hook = Literal[
    "before_enqueue", "after_enqueue", "enqueue_vetoed", "before_perform", "after_perform"
]


class QueueLike(Protocol):
    """What a plugin may ask of the queue it runs beside (a :class:`pyresque.Queue`)."""

    async def enqueue(self, queue: str, job_class: str, args: object = None) -> bool:
        """Push a job now; False when one of its enqueue plugins vetoes it."""
        ...

    async def enqueue_in(
        self,
        delay: Any,
        queue: str,
        job_class: str,
        args: object = None,
        *,
        suppress_duplicate: bool = False,
    ) -> bool | None:
        """Delay a job by ``delay`` ms; None for a suppressed duplicate."""
        ...


@dataclass(slots=True)
class Outcome:
    """A perform in flight, as ``after_perform`` sees it."""

    error: BaseException | None = None
    result: Any = None
    counts_as_failure: bool = False
    """Set with ``error`` cleared: settle as a success (no failure entry, ``success``
    event) but count a failure, as node-resque's Retry leaves the stats for a retry."""
    state: dict[str, Any] = field(default_factory=dict)
    """Scratch space the hooks of one perform share (each hook gets a new plugin)."""


@dataclass(frozen=True, slots=True)
class Veto:
    """Who refused an enqueue: ``by``, the plugin's name (``middleware:<name>`` for a
    task's middleware), and ``why``, its reason when it gives one."""

    by: str
    why: str = ""

    def __str__(self) -> str:
        return f"{self.by} vetoed it" + (f" ({self.why})" if self.why else "")


# Per task (and thread): the enqueue methods keep returning plain False on a veto, and two
# enqueues running side by side each see their own.
_LAST_VETO: ContextVar[Veto | None] = ContextVar("pyresque_last_veto", default=None)


def last_veto() -> Veto | None:
    """The veto of the latest enqueue this asyncio task (or thread) made, None when that
    enqueue was not vetoed: what to say after ``enqueue`` returned False."""
    return _LAST_VETO.get()


def record_veto(veto: Veto | None) -> None:
    """Set what :func:`last_veto` returns here (an enqueue run elsewhere, reported here)."""
    _LAST_VETO.set(veto)


class Plugin:
    """Base class of plugins; override the hooks you need.

    Attributes a hook may use: ``owner`` (the Queue, Worker or Scheduler running it),
    ``context`` (key space, dialect, clock), ``job_class``, ``queue``, ``job`` (the job
    definition), ``args``, ``options`` (this plugin's ``plugin_options`` entry),
    ``queue_object`` (to enqueue), ``outcome`` (perform hooks), ``moving_from`` (the
    delayed second a job is leaving while the scheduler runs its enqueue hooks, else None),
    and :meth:`run` to run a protocol plan on the owner's Redis connection.
    """

    plugin_name: ClassVar[str] = ""
    """The name options are looked up by; the class name unless set."""
    veto_reason: ClassVar[str] = ""
    """Why its ``before_enqueue`` refuses, for :class:`Veto` (empty: it does not say)."""

    def __init__(
        self,
        *,
        owner: Any,
        context: Context,
        runner: Callable[[Plan[Any]], Awaitable[Any]],
        queue_object: QueueLike | None,
        job_class: str,
        queue: str,
        job: Any,
        args: list[Any],
        options: Mapping[str, Any],
        outcome: Outcome | None = None,
        moving_from: str | None = None,
    ) -> None:
        self.owner = owner
        self.context = context
        self._runner = runner
        self.queue_object = queue_object
        self.job_class = job_class
        self.queue = queue
        self.job = job
        self.args = args
        self.options = options
        self.outcome = outcome
        self.moving_from = moving_from

    @classmethod
    def name_for_options(cls) -> str:
        """The key of this plugin's entry in a job's ``plugin_options``."""
        return cls.plugin_name or cls.__name__

    async def run(self, plan: Plan[T]) -> T:
        """Run a protocol plan on the owner's connection."""
        result: T = await self._runner(plan)
        return result

    async def before_enqueue(self) -> bool | None:
        """Before a job is enqueued (or moved by the scheduler): False vetoes it
        (nothing is written), and the plugins that allowed it get :meth:`enqueue_vetoed`."""
        return True

    async def after_enqueue(self) -> bool | None:
        """After the job was enqueued."""
        return True

    async def enqueue_vetoed(self) -> None:
        """A later plugin vetoed an enqueue this plugin's ``before_enqueue`` allowed: give
        back what it took (QueueLock's lock), or it would refuse the job until it expires."""

    async def before_perform(self) -> bool | None:
        """Before a worker runs the job: False skips the run (nothing is counted)."""
        return True

    async def after_perform(self) -> bool | None:
        """After the run, also a failed one (``self.outcome``); clear
        ``outcome.error`` to turn a failure into a success."""
        return True


def plugin_class(reference: type[Plugin] | str) -> type[Plugin]:
    """A plugin class, or the built-in one of that name (``"JobLock"`` ...)."""
    if isinstance(reference, str):
        builtins = importlib.import_module("pyresque.plugins").BUILTIN_PLUGINS
        try:
            found: type[Plugin] = builtins[reference]
        except KeyError:
            raise ConfigurationError(
                f"no built-in plugin {reference!r}; built-ins are {', '.join(sorted(builtins))}"
            ) from None
        return found
    if isinstance(reference, type) and issubclass(reference, Plugin):
        return reference
    raise ConfigurationError(f"a plugin must be a Plugin subclass or a name, not {reference!r}")


async def run_plugins(
    hook: Hook,
    *,
    plugins: Sequence[type[Plugin] | str],
    plugin_options: Mapping[str, Mapping[str, Any]],
    owner: Any,
    context: Context,
    runner: Callable[[Plan[Any]], Awaitable[Any]],
    queue_object: QueueLike | None,
    job_class: str,
    queue: str,
    job: Any,
    args: list[Any],
    outcome: Outcome | None = None,
    moving_from: str | None = None,
) -> bool:
    """Run ``hook`` of each plugin in order; False as soon as one returns False. A vetoed
    ``before_enqueue`` calls ``enqueue_vetoed`` of the plugins that had allowed it."""
    passed: list[Plugin] = []
    if hook == "before_enqueue":
        _LAST_VETO.set(None)
    for reference in plugins:
        cls = plugin_class(reference)
        plugin = cls(
            owner=owner,
            context=context,
            runner=runner,
            queue_object=queue_object,
            job_class=job_class,
            queue=queue,
            job=job,
            args=args,
            options=plugin_options.get(cls.name_for_options(), {}),
            outcome=outcome,
            moving_from=moving_from,
        )
        if await getattr(plugin, hook)() is False:
            if hook == "before_enqueue":
                _LAST_VETO.set(Veto(cls.name_for_options(), cls.veto_reason))
                for earlier in reversed(passed):
                    await earlier.enqueue_vetoed()
            return False
        passed.append(plugin)
    return True
