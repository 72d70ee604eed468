"""Rails ActiveJob on resque, sans-IO: job data and argument (de)serialization.

ActiveJob's resque adapter enqueues every job as one resque class,
``ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper``, with a single argument: the job
data ``job.serialize`` returns (``job_class``, ``job_id``, ``arguments`` ...; Rails 6.1's
keys and order). Arguments use ActiveJob's serialization: JSON values, hashes marked
with ``_aj_symbol_keys`` or ``_aj_ruby2_keywords`` (keyword arguments), GlobalIDs and
``_aj_serialized`` objects (symbols, times, dates, durations, modules).

Reading accepts anything Rails 6.1 to 7.x writes (extra job-data keys are ignored);
writing produces Rails 6.1's bytes exactly (golden vectors in ``spec/vectors``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyresque.errors import ActiveJobError

__all__ = [
    "WRAPPER",
    "ActiveJobData",
    "ActiveJobError",
    "GlobalID",
    "RubyModule",
    "Symbol",
    "deserialize_arguments",
    "job_data",
    "read_job_data",
    "serialize_arguments",
]

WRAPPER = "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper"
"""The resque class of every ActiveJob job."""

_GLOBALID = "_aj_globalid"
_SYMBOL_KEYS = "_aj_symbol_keys"
_RUBY2_KEYWORDS = "_aj_ruby2_keywords"
_INDIFFERENT = "_aj_hash_with_indifferent_access"
_SERIALIZED = "_aj_serialized"
_RESERVED = frozenset({_GLOBALID, _SYMBOL_KEYS, _RUBY2_KEYWORDS, _INDIFFERENT, _SERIALIZED})
_SERIALIZERS = "ActiveJob::Serializers::"


class Symbol(str):
    """A Ruby symbol: as an argument, or as a hash key (listed in ``_aj_symbol_keys``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str(self)!r})"


class GlobalID(str):
    """A record reference (``gid://app/User/1``), which Rails locates when it runs the job."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"GlobalID({str(self)!r})"


class RubyModule(str):
    """A Ruby class or module passed by name (ActiveJob's ModuleSerializer)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"RubyModule({str(self)!r})"


# -- arguments: ActiveJob -> Python -----------------------------------------------------------


def deserialize_arguments(arguments: Any) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for a Python handler. A trailing hash marked as
    Ruby keywords (``_aj_ruby2_keywords``) becomes the keyword arguments."""
    if not isinstance(arguments, list):
        raise ActiveJobError(f"ActiveJob arguments must be a list, not {arguments!r}")
    kwargs: dict[str, Any] = {}
    last = arguments[-1] if arguments else None
    if isinstance(last, dict) and _RUBY2_KEYWORDS in last and _plain_hash(last):
        kwargs = {k: _load(v) for k, v in last.items() if k != _RUBY2_KEYWORDS}
        arguments = arguments[:-1]
    return [_load(a) for a in arguments], kwargs


def _plain_hash(value: dict[str, Any]) -> bool:
    return not (len(value) == 1 and _GLOBALID in value) and _SERIALIZED not in value


def _load(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [_load(v) for v in value]
    if not isinstance(value, dict):
        raise ActiveJobError(f"not an ActiveJob argument: {value!r}")
    if len(value) == 1 and _GLOBALID in value:
        return GlobalID(value[_GLOBALID])
    if _SERIALIZED in value:
        return _load_object(value)
    symbols = value.get(_SYMBOL_KEYS) or value.get(_RUBY2_KEYWORDS) or ()
    return {
        (Symbol(k) if k in symbols else k): _load(v)
        for k, v in value.items()
        if k not in (_SYMBOL_KEYS, _RUBY2_KEYWORDS, _INDIFFERENT)
    }


_NANOS = re.compile(r"(\.\d{6})\d+")


def _load_object(value: dict[str, Any]) -> Any:
    kind = str(value[_SERIALIZED]).removeprefix(_SERIALIZERS)
    raw = value.get("value")
    try:
        if kind == "SymbolSerializer":
            return Symbol(raw)
        if kind in ("TimeSerializer", "TimeWithZoneSerializer", "DateTimeSerializer"):
            # Rails writes nanoseconds; Python keeps microseconds.
            return datetime.fromisoformat(_NANOS.sub(r"\1", str(raw)).replace("Z", "+00:00"))
        if kind == "DateSerializer":
            return date.fromisoformat(str(raw))
        if kind == "DurationSerializer":
            return timedelta(seconds=float(str(raw)))
        if kind == "ModuleSerializer":
            return RubyModule(raw)
    except (TypeError, ValueError) as exc:
        raise ActiveJobError(f"bad {kind} value {raw!r}: {exc}") from None
    raise ActiveJobError(
        f"no Python equivalent for the ActiveJob serializer {value[_SERIALIZED]!r}"
    )


# -- arguments: Python -> ActiveJob -----------------------------------------------------------


def serialize_arguments(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> list[Any]:
    """ActiveJob's ``arguments`` for ``perform(*args, **kwargs)`` (Ruby keywords)."""
    out = [_dump(a) for a in args]
    if kwargs:
        hash_ = _dump_hash(kwargs)
        hash_[_RUBY2_KEYWORDS] = [str(k) for k in kwargs]
        out.append(hash_)
    return out


def _dump(value: Any) -> Any:
    if isinstance(value, Symbol):
        return {_SERIALIZED: _SERIALIZERS + "SymbolSerializer", "value": str(value)}
    if isinstance(value, GlobalID):
        return {_GLOBALID: str(value)}
    if isinstance(value, RubyModule):
        return {_SERIALIZED: _SERIALIZERS + "ModuleSerializer", "value": str(value)}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, Mapping):
        hash_ = _dump_hash(value)
        hash_[_SYMBOL_KEYS] = [str(k) for k in value if isinstance(k, Symbol)]
        return hash_
    if isinstance(value, datetime):
        return {_SERIALIZED: _SERIALIZERS + "TimeSerializer", "value": _iso8601_9(value)}
    if isinstance(value, date):
        return {_SERIALIZED: _SERIALIZERS + "DateSerializer", "value": value.isoformat()}
    raise ActiveJobError(f"ActiveJob cannot carry a {type(value).__name__}: {value!r}")


def _dump_hash(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ActiveJobError(f"ActiveJob hash keys are strings or symbols, not {key!r}")
        if key in _RESERVED:
            raise ActiveJobError(f"an ActiveJob hash cannot use the reserved key {key!r}")
        out[str(key)] = _dump(item)
    return out


def _iso8601_9(value: datetime) -> str:
    """Ruby's ``Time#iso8601(9)``: nanoseconds, ``Z`` for UTC, else ``+hh:mm``."""
    if value.tzinfo is None:
        raise ActiveJobError(f"a naive datetime has no zone for ActiveJob: {value!r}")
    offset = value.utcoffset() or timedelta(0)
    if offset.total_seconds() % 60:
        # An offset with seconds (old local mean times) does not fit +hh:mm: same instant in UTC.
        value, offset = value.astimezone(UTC), timedelta(0)
    stamp = value.strftime("%Y-%m-%dT%H:%M:%S") + f".{value.microsecond:06d}000"
    if offset == timedelta(0) and value.tzinfo is UTC:
        return stamp + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{stamp}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# -- job data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveJobData:
    """What a Python handler sees of the job besides its arguments."""

    job_class: str
    job_id: str
    queue_name: str | None
    executions: int
    locale: str | None
    enqueued_at: str | None
    raw: Mapping[str, Any] = field(repr=False)


def read_job_data(data: Any) -> ActiveJobData:
    """The job data of a wrapper payload's one argument, checked."""
    if not isinstance(data, dict) or not isinstance(data.get("job_class"), str):
        raise ActiveJobError(f"not ActiveJob job data (no job_class): {data!r}")
    executions = data.get("executions")
    return ActiveJobData(
        job_class=data["job_class"],
        job_id=str(data.get("job_id") or ""),
        queue_name=data.get("queue_name"),
        executions=executions if isinstance(executions, int) else 0,
        locale=data.get("locale"),
        enqueued_at=data.get("enqueued_at"),
        raw=data,
    )


def job_data(
    job_class: str,
    arguments: list[Any],
    *,
    queue_name: str,
    now: float,
    job_id: str | None = None,
    priority: int | None = None,
    locale: str = "en",
    timezone: str | None = None,
) -> dict[str, Any]:
    """``job.serialize`` as Rails 6.1 writes it (``arguments`` already serialized)."""
    enqueued = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "job_class": job_class,
        "job_id": job_id or str(uuid.uuid4()),
        "provider_job_id": None,
        "queue_name": queue_name,
        "priority": priority,
        "arguments": arguments,
        "executions": 0,
        "exception_executions": {},
        "locale": locale,
        "timezone": timezone,
        "enqueued_at": enqueued,
    }
