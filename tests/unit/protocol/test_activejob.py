"""ActiveJob job data and arguments against what Rails 6.1's resque adapter wrote."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.protocol.activejob import (
    WRAPPER,
    ActiveJobError,
    GlobalID,
    RubyModule,
    Symbol,
    deserialize_arguments,
    job_data,
    read_job_data,
    serialize_arguments,
)
from pyresque.protocol.dialect import RUBY

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "spec/vectors/activejob-ruby.json").read_text()
)
CASES = {case["name"]: case for case in VECTORS["cases"]}

PLUS_2 = timezone(timedelta(hours=2))

# name: (job class, queue, positional args, keyword args) as Python calls them; the same
# values are what reading the recorded arguments gives back.
CALLS: dict[str, tuple[str, str, list[Any], dict[str, Any]]] = {
    "positional": ("SendInvoiceJob", "python", [42, "hi", 1.5, None, True, -7], {}),
    "keywords": ("SendInvoiceJob", "python", [42], {"force": True, "note": "x"}),
    "symbols": (
        "SendInvoiceJob",
        "python",
        [Symbol("urgent"), {Symbol("a"): 1, "b": [Symbol("sym"), 2]}],
        {},
    ),
    "times": (
        "SendInvoiceJob",
        "python",
        [
            datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC),
            date(2026, 11, 28),
            datetime(2026, 6, 1, 9, 30, tzinfo=PLUS_2),
        ],
        {},
    ),
    "global_id": ("ChargeJob", "python", [GlobalID("gid://shop/Invoice/7"), {"amount": 12.5}], {}),
    "empty": ("ChargeJob", "python", [[], {}], {}),
    "unicode": ("ChargeJob", "python", ["é ✓ 😀", {"ключ": "值"}], {}),
    "queue_name": ("ChargeJob", "billing", [1], {}),
    "delayed": ("ChargeJob", "python", [2], {"when": "later"}),
}  # fmt: skip


def _recorded(name: str) -> tuple[str, bytes]:
    ((key, (raw,)),) = CASES[name]["writes"].items()
    return key, raw.encode()


def _data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_recorded(name)[1])["args"][0]
    return data


def test_every_recorded_case_has_a_python_call() -> None:
    assert set(CASES) == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_pyresque_writes_the_bytes_rails_wrote(name: str) -> None:
    job_class, queue, args, kwargs = CALLS[name]
    recorded = _data(name)
    enqueued = datetime.fromisoformat(recorded["enqueued_at"].replace("Z", "+00:00"))
    data = job_data(
        job_class,
        serialize_arguments(args, kwargs),
        queue_name=queue,
        now=enqueued.timestamp() + 0.9,  # Rails writes whole seconds
        job_id=CASES[name]["job_id"],
    )
    key, raw = _recorded(name)
    if key.startswith("delayed:"):
        assert RUBY.delayed_job(queue, WRAPPER, [data]) == raw
    else:
        assert key == f"queue:{queue}"
        assert RUBY.job(queue, WRAPPER, [data]) == raw


@pytest.mark.parametrize("name", sorted(CALLS))
def test_pyresque_reads_what_rails_wrote_as_the_python_call(name: str) -> None:
    job_class, queue, args, kwargs = CALLS[name]
    job = read_job_data(_data(name))
    assert (job.job_class, job.queue_name, job.job_id) == (job_class, queue, CASES[name]["job_id"])
    assert job.executions == 0 and job.locale == "en"
    assert deserialize_arguments(job.raw["arguments"]) == (args, kwargs)


def test_symbols_and_global_ids_keep_their_ruby_kind_when_read() -> None:
    (urgent, hash_), _ = deserialize_arguments(_data("symbols")["arguments"])
    assert type(urgent) is Symbol and [type(k) for k in hash_] == [Symbol, str]
    (gid, _amount), _ = deserialize_arguments(_data("global_id")["arguments"])
    assert type(gid) is GlobalID


def test_other_rails_serializers_are_read() -> None:
    arguments = [
        {"_aj_serialized": "ActiveJob::Serializers::DurationSerializer", "value": 90, "parts": []},
        {"_aj_serialized": "ActiveJob::Serializers::ModuleSerializer", "value": "Billing::Plan"},
        {
            "_aj_serialized": "ActiveJob::Serializers::TimeWithZoneSerializer",
            "value": "2026-11-28T12:00:00.999999999-05:00",
        },
        {"a": 1, "_aj_hash_with_indifferent_access": True},
    ]
    args, kwargs = deserialize_arguments(arguments)
    assert args == [
        timedelta(seconds=90),
        RubyModule("Billing::Plan"),
        datetime(2026, 11, 28, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-5))),
        {"a": 1},
    ]
    assert kwargs == {}


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"_aj_serialized": "MyApp::MoneySerializer", "value": 1}, "no Python equivalent"),
        ({"_aj_serialized": "ActiveJob::Serializers::DateSerializer", "value": "x"}, "bad Date"),
        ("not a list", "must be a list"),
    ],
)
def test_arguments_pyresque_cannot_map_are_refused_by_name(argument: Any, message: str) -> None:
    with pytest.raises(ActiveJobError, match=message):
        deserialize_arguments(argument if isinstance(argument, str) else [argument])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"_aj_globalid": "x"}, "reserved key"),
        ({1: "x"}, "strings or symbols"),
        (datetime(2026, 1, 1), "naive datetime"),
        (b"bytes", "cannot carry a bytes"),
        ({1, 2}, "cannot carry a set"),
    ],
)
def test_values_activejob_would_refuse_are_refused_when_writing(value: Any, message: str) -> None:
    with pytest.raises(ActiveJobError, match=message):
        serialize_arguments([value])


def test_job_data_without_a_job_class_is_not_activejob() -> None:
    not_job_data: list[Any] = [{"arguments": []}, ["SendInvoiceJob"], None]
    for data in not_job_data:
        with pytest.raises(ActiveJobError, match="no job_class"):
            read_job_data(data)


def test_later_rails_job_data_keys_are_ignored_when_reading() -> None:
    data: Mapping[str, Any] = {
        **_data("positional"), "scheduled_at": "2026-11-28T18:00:00.000000000Z", "executions": 2,
    }  # fmt: skip
    job = read_job_data(data)
    assert job.executions == 2 and job.job_class == "SendInvoiceJob"


_names = st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("_aj_"))
_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from(
        [UTC, PLUS_2, timezone(timedelta(hours=-9, minutes=-30)),
         timezone(timedelta(hours=5, minutes=53, seconds=28))]
    ),
)  # fmt: skip
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.builds(Symbol, st.text(max_size=8))
    | st.builds(GlobalID, st.text(min_size=1, max_size=12))
    | st.builds(RubyModule, st.text(min_size=1, max_size=12))
    | _times
    | st.dates()
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_names | st.builds(Symbol, _names), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    args=st.lists(_values, max_size=4),
    kwargs=st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), _values, max_size=3
    ),
)
def test_arguments_survive_a_trip_through_activejob_serialization(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    stored = json.loads(json.dumps(serialize_arguments(args, kwargs)))
    back_args, back_kwargs = deserialize_arguments(stored)
    assert (back_args, back_kwargs) == (args, kwargs)
    assert _kinds(back_args) == _kinds(args) and _kinds(back_kwargs) == _kinds(kwargs)


def _kinds(value: Any) -> Any:
    """The Python types throughout a value (Symbol vs str, GlobalID vs str ...)."""
    if isinstance(value, list):
        return [_kinds(v) for v in value]
    if isinstance(value, dict):
        return [(type(k).__name__, _kinds(v)) for k, v in value.items()]
    return type(value).__name__
