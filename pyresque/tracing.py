"""OpenTelemetry spans for enqueue and perform, as opentelemetry-ruby-contrib's resque
instrumentation makes them, so one trace can cross Ruby, Python (and node) peers.

Needs the ``tracing`` extra: ``pip install 'pyresque[tracing]'`` (opentelemetry-api; the
application installs and configures the SDK and its exporter). Nothing else in pyresque
imports this module: without :class:`Tracing` attached, no OpenTelemetry code is loaded
and no byte changes. ``spec/tracing.md`` says what is written and what is read::

    tracing = Tracing(propagation="link", inject=True)
    tracing.attach(queue)    # a "<queue> send" PRODUCER span around each write
    tracing.attach(worker)   # a "<queue> process" CONSUMER span around each job

- Producer (``Queue.enqueue``, ``enqueue_at``, ``enqueue_in``): a span named
  ``"<queue> send"`` (``span_naming="job_class"``: ``"<job class> send"``), kind PRODUCER,
  with the gem's attributes. With ``inject=True`` only, the propagator's fields
  (``traceparent``, ``tracestate`` when not empty, by default) are written into the payload
  as extra top-level string fields after the standard ones: this changes the job's bytes.
- Consumer (a ``Worker`` or ``MultiWorker`` running any job): the context is extracted
  from the payload's top-level string fields (written by opentelemetry-ruby, or by
  pyresque above); ``"link"`` (the default, as the gem's): a new ROOT span with a Link to
  that span context when valid; ``"child"``: a child of it; ``"none"``: a root span with no
  link. The span is current while the job runs (its own spans are its children); a
  failure records the exception and sets status ERROR ``"Unhandled exception of type:
  <class>"``, as the gem does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, TypeVar

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.propagators.textmap import Getter, TextMapPropagator
    from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - tested by hand in a bare venv
    from pyresque.errors import MissingExtraError

    raise MissingExtraError(
        "pyresque.tracing needs opentelemetry-api: pip install 'pyresque[tracing]'"
    ) from exc

from pyresque._version import __version__
from pyresque.errors import ArgumentError, ConfigurationError
from pyresque.protocol.activejob import WRAPPER
from pyresque.queue import Enqueueing, Queue
from pyresque.worker import CurrentJob, MultiWorker, Worker

__all__ = [
    "MESSAGING_SYSTEM",
    "Propagation",
    "SpanNaming",
    "Tracing",
    "job_class_of",
]

Propagation = Literal["link", "child", "none"]
SpanNaming = Literal["queue", "job_class"]
Attachable = TypeVar("Attachable", bound=Queue | Worker | MultiWorker)

MESSAGING_SYSTEM = "resque"
"""The ``messaging.system`` attribute of every span, as the Ruby gem sets it."""
_INSTRUMENTATION = "pyresque.tracing"


def job_class_of(job_class: str, args: Any) -> str:
    """The class a span names: an ActiveJob wrapper's ``job_class`` (its first argument's,
    when that is an object naming one), else ``job_class`` itself, as the gem resolves it."""
    if job_class == WRAPPER and isinstance(args, list) and args and isinstance(args[0], dict):
        wrapped = args[0].get("job_class")
        if isinstance(wrapped, str):
            return wrapped
    return job_class


class _PayloadGetter(Getter[Mapping[str, Any]]):
    """Reads a payload's top-level string fields only (anything else is no trace context)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k for k, v in carrier.items() if isinstance(v, str)]


_GETTER = _PayloadGetter()


class Tracing:
    """Spans for the queues and workers it is attached to (:meth:`attach`).

    ``propagation``: how a job's span relates to the context in its payload (``"link"``,
    ``"child"``, ``"none"``). ``span_naming``: spans are named after the queue or the job
    class. ``inject``: write the trace context into payloads (changes their bytes; see
    ``spec/tracing.md``). ``tracer_provider`` and ``propagator``: default to the global
    ones (read when each span starts).
    """

    def __init__(
        self,
        *,
        propagation: Propagation = "link",
        span_naming: SpanNaming = "queue",
        inject: bool = False,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        if propagation not in ("link", "child", "none"):
            raise ConfigurationError(
                f"propagation must be 'link', 'child' or 'none', not {propagation!r}"
            )
        if span_naming not in ("queue", "job_class"):
            raise ConfigurationError(
                f"span_naming must be 'queue' or 'job_class', not {span_naming!r}"
            )
        self.propagation: Propagation = propagation
        self.span_naming: SpanNaming = span_naming
        self.inject = bool(inject)
        self.tracer_provider = tracer_provider
        self.propagator = propagator

    def __repr__(self) -> str:
        return (
            f"Tracing(propagation={self.propagation!r}, span_naming={self.span_naming!r}, "
            f"inject={self.inject!r})"
        )

    def attach(self, target: Attachable) -> Attachable:
        """Trace ``target``: a :class:`~pyresque.Queue` gets producer spans around its
        writes, a :class:`~pyresque.Worker` or :class:`~pyresque.MultiWorker` consumer
        spans around its jobs. Returns ``target``; attaching twice is refused."""
        if isinstance(target, Queue):
            wrappers: list[Any] = target.around_enqueue
            wrapper: Any = self.enqueue_span
        elif isinstance(target, Worker | MultiWorker):
            wrappers, wrapper = target.around_perform, self.perform_span
        else:
            raise ArgumentError(
                f"Tracing attaches to a Queue, Worker or MultiWorker, not {type(target).__name__}"
            )
        if any(getattr(w, "__self__", None) is self for w in wrappers):
            raise ConfigurationError(f"{self!r} is already attached to {target!r}")
        wrappers.append(wrapper)
        return target

    def _tracer(self) -> trace.Tracer:
        return trace.get_tracer(_INSTRUMENTATION, __version__, self.tracer_provider)

    def _name(self, queue: str, job_class: str, operation: str) -> str:
        subject = job_class if self.span_naming == "job_class" else queue
        return f"{subject} {operation}"

    @staticmethod
    def attributes(queue: str, job_class: str) -> dict[str, str]:
        """The attributes of both spans, named as the Ruby gem names them."""
        return {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.destination": queue,
            "messaging.destination_kind": "queue",
            "messaging.resque.job_class": job_class,
        }

    @contextmanager
    def enqueue_span(self, call: Enqueueing) -> Iterator[Span]:
        """The PRODUCER span around one write (an ``around_enqueue`` wrapper); with
        ``inject``, the trace context goes into ``call.extra``."""
        job_class = job_class_of(call.job_class, call.args)
        span = self._tracer().start_span(
            self._name(call.queue, job_class, "send"),
            kind=SpanKind.PRODUCER,
            attributes=self.attributes(call.queue, job_class),
        )
        with _current(span):
            if self.inject:
                fields: dict[str, str] = {}
                propagator = self.propagator or propagate.get_global_textmap()
                propagator.inject(fields)
                call.extra.update(fields)
            yield span

    def perform_span(self, job: CurrentJob) -> AbstractContextManager[Span]:
        """The CONSUMER span around one job (an ``around_perform`` wrapper)."""
        job_class = job_class_of(job.job_class, job.args)
        propagator = self.propagator or propagate.get_global_textmap()
        try:
            extracted = propagator.extract(job.payload, getter=_GETTER)
        except Exception:  # a payload's fields are no reason to fail its job
            extracted = otel_context.Context()
        links: list[Link] = []
        parent = extracted if self.propagation == "child" else otel_context.Context()
        if self.propagation == "link":
            found = trace.get_current_span(extracted).get_span_context()
            if found.is_valid:
                links.append(Link(found))
        span = self._tracer().start_span(
            self._name(job.queue, job_class, "process"),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=self.attributes(job.queue, job_class),
            links=links,
        )
        return _current(span)


@contextmanager
def _current(span: Span) -> Iterator[Span]:
    """``span`` current while entered, ended on exit; an error raised inside is recorded
    with status ERROR as the Ruby gem words it, and raised on."""
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        error = f"Unhandled exception of type: {type(exc).__name__}"
        span.set_status(Status(StatusCode.ERROR, error))
        raise
    finally:
        otel_context.detach(token)
        span.end()
