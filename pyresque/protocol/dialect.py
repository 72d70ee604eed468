"""Dialects: which peer's bytes pyresque writes.

Readers accept both peers' bytes whatever the dialect; the dialect decides only what
pyresque *writes*. ``node`` (node-resque 9.x, the default) versus ``ruby`` (resque 2.x with
resque-scheduler):

- queue payload: ``{"class","queue","args"}`` versus ``{"class","args"}``;
- delayed item: ``{"class","queue","args"}`` versus ``{"class","args","queue"}``;
- delayed second: ``Math.round(ms / 1000)`` versus ``Time#to_i`` (floor);
- the same job at the same second: refused (``DuplicateJobError``) versus kept twice;
- ``enqueue_at`` in the past: delayed anyway versus enqueued at once;
- JSON numbers: JavaScript's (``1.0`` -> ``1``) versus Ruby's (``1.0``, ``1.0e+20``);
- failure entries: each peer's key order and date format;
- scheduler lock: ``resque_scheduler_leader_lock`` versus ``resque:resque_scheduler_master_lock``.

``extra``: a payload or delayed item may carry extra top-level string fields after the
standard ones (trace context: ``spec/tracing.md``); none are written unless given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pyresque.errors import ConfigurationError, PayloadEncodeError
from pyresque.protocol import times
from pyresque.protocol.jsjson import JSONValue, js_dumps, js_dumps_each
from pyresque.protocol.rubyjson import ruby_dumps, ruby_dumps_each

__all__ = [
    "NODE",
    "RUBY",
    "STANDARD_FIELDS",
    "Dialect",
    "DialectName",
    "check_extra",
    "get_dialect",
    "job_args",
]

DialectName = Literal["node", "ruby"]


def job_args(args: object) -> list[JSONValue]:
    """node-resque's ``arrayify``: a list or tuple as is, ``None`` as no args, else ``[args]``."""
    if args is None:
        return []
    if isinstance(args, list | tuple):
        return list(args)
    return [args]  # type: ignore[list-item]


STANDARD_FIELDS = frozenset({"class", "queue", "args"})
"""The fields a queue payload or delayed item is made of; extra fields may not reuse them."""


def check_extra(extra: Mapping[str, str] | None) -> dict[str, str]:
    """Extra top-level fields for a payload, checked: string names that are not
    :data:`STANDARD_FIELDS`, string values; kept in the order given."""
    if not extra:
        return {}
    checked: dict[str, str] = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not name or name in STANDARD_FIELDS:
            raise PayloadEncodeError(
                f"an extra payload field needs a name other than class, queue and args, "
                f"not {name!r}"
            )
        if not isinstance(value, str):
            raise PayloadEncodeError(
                f"extra payload field {name!r} must be a string, not {type(value).__name__}"
            )
        checked[name] = value
    return checked


def _check_names(queue: str, job_class: str) -> None:
    if not isinstance(queue, str) or not queue.strip():
        raise PayloadEncodeError(f"queue must be a non-empty string, not {queue!r}")
    if not isinstance(job_class, str) or not job_class.strip():
        raise PayloadEncodeError(f"job class must be a non-empty string, not {job_class!r}")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What pyresque writes.

    ``non_finite="null"`` writes NaN and Infinity as ``null`` the way node-resque silently
    does; the default refuses them. ``json_adapter`` picks the Ruby JSON library whose
    bytes the ruby dialect reproduces (``"json"``: the json gem, resque's default;
    ``"oj"``: Oj through MultiJson). ``resque_version=3`` adds the zone to ``retried_at``.
    """

    name: DialectName
    non_finite: Literal["error", "null"] = "error"
    json_adapter: Literal["json", "oj"] = "json"
    resque_version: Literal[2, 3] = 2

    @property
    def is_node(self) -> bool:
        """True for node-resque's dialect, False for Ruby resque's."""
        return self.name == "node"

    def dumps(self, value: JSONValue) -> bytes:
        """Encode any stored JSON value the way this dialect's peer does."""
        if self.name == "node":
            return js_dumps(value, non_finite=self.non_finite)
        if self.non_finite == "null":
            value = _nulls_for_non_finite(value)
        return ruby_dumps(value, adapter=self.json_adapter)

    def dumps_each(self, values: Sequence[JSONValue]) -> list[bytes]:
        """``[self.dumps(v) for v in values]``, faster (bulk enqueue); the first value that
        cannot be encoded raises :class:`PayloadEncodeError` as :meth:`dumps` would."""
        if self.name == "node":
            return js_dumps_each(list(values), non_finite=self.non_finite)
        if self.non_finite == "null":
            return ruby_dumps_each(
                [_nulls_for_non_finite(v) for v in values], adapter=self.json_adapter
            )
        return ruby_dumps_each(list(values), adapter=self.json_adapter)

    def job(
        self,
        queue: str,
        job_class: str,
        args: Sequence[JSONValue],
        *,
        extra: Mapping[str, str] | None = None,
    ) -> bytes:
        """A queue payload, as pushed onto ``queue:<queue>``; ``extra`` string fields
        (checked by :func:`check_extra`) follow the standard ones, in the order given."""
        _check_names(queue, job_class)
        fields = check_extra(extra)
        value: dict[str, JSONValue]
        if self.name == "node":
            value = {"class": job_class, "queue": queue, "args": list(args), **fields}
        else:
            value = {"class": job_class, "args": list(args), **fields}
        return self.dumps(value)

    def delayed_job(
        self,
        queue: str,
        job_class: str,
        args: Sequence[JSONValue],
        *,
        extra: Mapping[str, str] | None = None,
    ) -> bytes:
        """A delayed item, as pushed onto ``delayed:<ts>`` and named in ``timestamps:<item>``;
        ``extra`` string fields follow the standard ones, as in :meth:`job`."""
        _check_names(queue, job_class)
        fields = check_extra(extra)
        value: dict[str, JSONValue]
        if self.name == "node":
            value = {"class": job_class, "queue": queue, "args": list(args), **fields}
        else:
            value = {"class": job_class, "args": list(args), "queue": queue, **fields}
        return self.dumps(value)

    def bucket(self, at_ms: float) -> int:
        """The delayed-queue second for a due time in milliseconds."""
        if self.name == "node":
            return times.js_bucket(at_ms)
        return times.ruby_bucket(at_ms / 1000)

    @property
    def other(self) -> Dialect:
        """The other peer's dialect (to read what it wrote)."""
        return NODE if self.name == "ruby" else RUBY


def _nulls_for_non_finite(value: JSONValue) -> JSONValue:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_nulls_for_non_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _nulls_for_non_finite(v) for k, v in value.items()}
    return value


NODE = Dialect("node")
RUBY = Dialect("ruby")


def get_dialect(dialect: str | Dialect) -> Dialect:
    """``"node"``, ``"ruby"`` or a :class:`Dialect`."""
    if isinstance(dialect, Dialect):
        return dialect
    if dialect == "node":
        return NODE
    if dialect == "ruby":
        return RUBY
    raise ConfigurationError(f"unknown dialect {dialect!r}: expected 'node' or 'ruby'")
