"""Hypothesis strategies for resque jobs, for property tests of code that uses pyresque.

Values drawn here can be enqueued in the given dialect and read back equal, and (for the
node dialect) passed through JavaScript unchanged: integers stay within ``±(2**53 - 1)``,
floats are finite, strings hold no lone surrogates unless asked for.

>>> from hypothesis import given
>>> from pyresque.testing.strategies import job_args
>>> @given(job_args())
... def test_round_trip(args): ...

Payloads exactly as each peer writes them, byte for byte, for testing the code that reads
what another service enqueued (push ``payload.raw`` onto ``<namespace>:queue:<queue>``):

``node_payloads()``
    node-resque's ``JSON.stringify({class, queue, args})`` (``queue.enqueue``).
``ruby_payloads(adapter="json")``
    Ruby resque's ``{class, args}`` through ``MultiJson.dump``: the json gem
    (``adapter="json"``) or Oj (``adapter="oj"``, what MultiJson picks where Oj is installed).
``activejob_payloads()``
    Rails 6.1's resque adapter: the class ``ActiveJob::QueueAdapters::ResqueAdapter::
    JobWrapper`` with one argument, the job data (``job_class``, ``job_id``,
    ``provider_job_id``, ``queue_name``, ``priority``, ``arguments`` with
    ``_aj_symbol_keys`` / ``_aj_ruby2_keywords`` hashes, symbols, times and dates,
    ``executions``, ``exception_executions``, ``locale``, ``timezone``, ``enqueued_at``).

Each draws a :class:`PeerPayload` (``raw`` bytes and the decoded ``value``, ``queue``,
``job_class``, ``args``) or, for ActiveJob, an :class:`ActiveJobPayload` (also the Rails
job class, its job id and the ``args`` and ``kwargs`` a Python handler receives). The bytes
come from pyresque's encoders, which its interop tests hold byte-equal to the real peers
(node-resque 9, resque 2.7 with json 2.6 / Oj 3.14, ActiveJob 6.1)::

    @given(node_payloads(queues=st.just("mail")))
    async def test_mail_jobs_from_node_are_read(payload, resque_redis, resque_namespace): ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

from hypothesis import strategies as st

from pyresque.protocol.activejob import WRAPPER, Symbol, job_data, serialize_arguments
from pyresque.protocol.jsjson import js_dumps, loads
from pyresque.protocol.rubyjson import ruby_dumps

__all__ = [
    "ActiveJobPayload",
    "PeerPayload",
    "activejob_arguments",
    "activejob_payloads",
    "class_names",
    "job_args",
    "json_values",
    "node_payloads",
    "queue_names",
    "ruby_payloads",
]

SAFE_INT = 2**53 - 1


def json_values(
    *,
    dialect: str = "node",
    max_leaves: int = 12,
    surrogates: bool = False,
) -> st.SearchStrategy[Any]:
    """JSON values (None, bools, ints, finite floats, text, lists, str-keyed dicts).

    node: integers JavaScript represents exactly, floats below 2**53 in magnitude (JavaScript
    writes a larger float as integer digits, which Python reads back as an int with the same
    double value but not an equal one), and some array-index keys (``"7"``), which
    JavaScript orders first; ruby: any integer size.
    """
    bound = SAFE_INT if dialect == "node" else 2**70
    floats = st.floats(allow_nan=False, allow_infinity=False)
    if dialect == "node":
        floats = st.floats(-float(SAFE_INT), float(SAFE_INT), allow_nan=False)
    alphabet = st.characters() if surrogates else st.characters(exclude_categories=["Cs"])
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-bound, bound),
        floats,
        st.text(alphabet, max_size=16),
    )
    keys = st.text(alphabet, max_size=8)
    if dialect == "node":
        keys = st.one_of(keys, st.integers(0, 99).map(str))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def job_args(*, dialect: str = "node", max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    """A job's ``args`` list."""
    return st.lists(json_values(dialect=dialect), max_size=max_size)


def queue_names() -> st.SearchStrategy[str]:
    """Queue names that are not blank (the peers drop blank key parts)."""
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
        lambda name: name.strip() != ""
    )


def class_names(*, ruby: bool = False) -> st.SearchStrategy[str]:
    """Job class names; ``ruby=True`` gives constant paths Ruby can resolve
    (``Billing::Invoice``)."""
    if ruby:
        return st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,10}(::[A-Z][A-Za-z0-9]{0,10}){0,2}\Z")
    return st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.:-]{0,30}\Z")


# -- payloads as the peers write them ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerPayload:
    """A queue payload exactly as a peer pushes it onto ``queue:<queue>``.

    ``raw``: the bytes; ``value``: them decoded (a dict); ``queue``, ``job_class`` and
    ``args``: what the peer was asked to enqueue.
    """

    raw: bytes
    value: dict[str, Any]
    queue: str
    job_class: str
    args: list[Any]


@dataclass(frozen=True, slots=True)
class ActiveJobPayload:
    """A Rails ActiveJob job exactly as the resque adapter pushes it onto ``queue:<queue>``.

    ``raw`` and ``value`` are the whole resque payload (class ``JobWrapper``, ``args``:
    ``[data]``); ``data`` is the job data; ``job_class`` the Rails job class; ``args`` and
    ``kwargs`` what ``perform`` was given (and a pyresque handler receives: symbols as
    :class:`~pyresque.activejob.Symbol`, times as aware datetimes).
    """

    raw: bytes
    value: dict[str, Any]
    queue: str
    job_class: str
    job_id: str
    data: dict[str, Any]
    args: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


def node_payloads(
    *,
    queues: st.SearchStrategy[str] | None = None,
    classes: st.SearchStrategy[str] | None = None,
    args: st.SearchStrategy[list[Any]] | None = None,
) -> st.SearchStrategy[PeerPayload]:
    """What node-resque's ``queue.enqueue(queue, class, args)`` pushes:
    ``JSON.stringify({class, queue, args})`` (defaults: :func:`queue_names`,
    :func:`class_names`, ``job_args(dialect="node")``)."""

    def build(queue: str, job_class: str, job_args_: list[Any]) -> PeerPayload:
        raw = js_dumps({"class": job_class, "queue": queue, "args": job_args_})
        return PeerPayload(raw, _decoded(raw), queue, job_class, job_args_)

    return st.builds(
        build,
        queues if queues is not None else queue_names(),
        classes if classes is not None else class_names(),
        args if args is not None else job_args(dialect="node"),
    )


def ruby_payloads(
    adapter: Literal["json", "oj"] = "json",
    *,
    queues: st.SearchStrategy[str] | None = None,
    classes: st.SearchStrategy[str] | None = None,
    args: st.SearchStrategy[list[Any]] | None = None,
) -> st.SearchStrategy[PeerPayload]:
    """What Ruby resque's ``Resque.enqueue_to(queue, Class, *args)`` pushes:
    ``MultiJson.dump({class, args})`` with the json gem (``"json"``) or Oj (``"oj"``);
    defaults: :func:`queue_names`, ``class_names(ruby=True)``, ``job_args(dialect="ruby")``."""

    def build(queue: str, job_class: str, job_args_: list[Any]) -> PeerPayload:
        raw = ruby_dumps({"class": job_class, "args": job_args_}, adapter=adapter)
        return PeerPayload(raw, _decoded(raw), queue, job_class, job_args_)

    return st.builds(
        build,
        queues if queues is not None else queue_names(),
        classes if classes is not None else class_names(ruby=True),
        args if args is not None else job_args(dialect="ruby"),
    )


_AJ_RESERVED = ("_aj_",)
_SYMBOL_NAMES = st.from_regex(r"\A[a-z_][a-z0-9_]{0,8}\Z")


def _aj_keys() -> st.SearchStrategy[str]:
    plain = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
    return st.one_of(plain, _SYMBOL_NAMES.map(Symbol)).filter(
        lambda key: not key.startswith(_AJ_RESERVED)
    )


def activejob_arguments(*, max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """One ActiveJob argument as a Python value: JSON scalars, :class:`Symbol`, UTC or
    fixed-offset datetimes (whole microseconds), dates, lists, and hashes whose keys are
    strings or symbols."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    times = st.datetimes(
        datetime(1970, 1, 1), datetime(2100, 1, 1), timezones=st.one_of(st.just(UTC), offsets)
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
        _SYMBOL_NAMES.map(Symbol),
        times,
        st.dates(date(1900, 1, 1), date(2100, 1, 1)),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_aj_keys(), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def activejob_payloads(
    adapter: Literal["json", "oj"] = "json",
    *,
    queues: st.SearchStrategy[str] | None = None,
    job_classes: st.SearchStrategy[str] | None = None,
    args: st.SearchStrategy[list[Any]] | None = None,
    kwargs: st.SearchStrategy[dict[str, Any]] | None = None,
) -> st.SearchStrategy[ActiveJobPayload]:
    """What Rails 6.1's resque adapter pushes for ``JobClass.perform_later(*args,
    **kwargs)``: ``{"class": JobWrapper, "args": [job.serialize]}`` through
    ``MultiJson.dump`` (json gem or Oj). Drawn too: the job id, ``priority`` (nil or an
    integer), ``locale``, ``timezone`` and ``enqueued_at`` (whole seconds, UTC).
    Defaults: ``queue_names()``, ``class_names(ruby=True)`` with ``Job`` appended, up to
    three :func:`activejob_arguments`, keyword arguments named like Ruby identifiers."""
    return st.builds(
        _activejob_payload,
        st.just(adapter),
        queues if queues is not None else queue_names(),
        job_classes if job_classes is not None else class_names(ruby=True).map(_job_suffix),
        args if args is not None else st.lists(activejob_arguments(), max_size=3),
        kwargs
        if kwargs is not None
        else st.dictionaries(_SYMBOL_NAMES, activejob_arguments(max_leaves=3), max_size=2),
        st.uuids(),
        st.one_of(st.none(), st.integers(-100, 100)),
        st.sampled_from(["en", "de", "fr", "pt-BR"]),
        st.sampled_from([None, "UTC", "Berlin", "Pacific Time (US & Canada)"]),
        st.integers(1_600_000_000, 2_000_000_000),
    )


def _job_suffix(name: str) -> str:
    return name if name.endswith("Job") else name + "Job"


def _activejob_payload(
    adapter: Literal["json", "oj"],
    queue: str,
    job_class: str,
    args: list[Any],
    kwargs: dict[str, Any],
    job_id: Any,
    priority: int | None,
    locale: str,
    zone: str | None,
    enqueued_at: int,
) -> ActiveJobPayload:
    data = job_data(
        job_class,
        serialize_arguments(args, kwargs),
        queue_name=queue,
        now=enqueued_at,
        job_id=str(job_id),
        priority=priority,
        locale=locale,
        timezone=zone,
    )
    raw = ruby_dumps({"class": WRAPPER, "args": [data]}, adapter=adapter)
    return ActiveJobPayload(
        raw, _decoded(raw), queue, job_class, str(job_id), data, args, dict(kwargs)
    )


def _decoded(raw: bytes) -> dict[str, Any]:
    value = loads(raw)
    assert isinstance(value, dict)
    return value
