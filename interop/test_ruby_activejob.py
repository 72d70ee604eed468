"""Rails ActiveJob (resque adapter) and pyresque on one Redis, both ways.

Needs RUBYLIB (interop/README.md) and activejob (Debian's ruby-activejob, 6.1); skips
with the reason otherwise. ``interop/ruby/activejob.rb`` enqueues with real
``perform_later`` calls and runs a real resque worker that performs ActiveJob jobs.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.harness import activejob_unavailable, peer_command
from pyresque import Queue, Scheduler
from pyresque.activejob import (
    ActiveJobs,
    GlobalID,
    RubyModule,
    Symbol,
    UnknownActiveJobError,
    current_active_job,
)
from pyresque.protocol.activejob import serialize_arguments
from pyresque.protocol.dialect import RUBY
from pyresque.testing import drain

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).resolve().parent / "ruby" / "activejob.rb"


@pytest.fixture(scope="module")
def rails() -> None:
    reason = activejob_unavailable()
    if reason is not None:
        pytest.skip(reason)


def _ruby(*args: str) -> str:
    argv, env = peer_command("ruby", ["ruby", str(SCRIPT), *args], {"TZ": "UTC"})
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
async def queue(redis_url: str, resque_namespace: str) -> AsyncIterator[Queue]:
    async with Queue(redis_url, namespace=resque_namespace, dialect="ruby") as q:
        yield q


def _handlers(seen: list[Any]) -> ActiveJobs:
    active = ActiveJobs()

    @active.handler("SendInvoiceJob")
    async def send_invoice(*args: Any, **kwargs: Any) -> str:
        job = current_active_job()
        assert job is not None
        seen.append((job.job_class, args, kwargs))
        return job.job_id

    @active.handler("ChargeJob")
    def charge(*args: Any, **kwargs: Any) -> None:  # a blocking handler: run in a thread
        job = current_active_job()
        assert job is not None
        seen.append((job.job_class, args, kwargs))

    return active


async def test_jobs_rails_enqueued_run_in_python_with_ruby_values_mapped(
    rails: None, queue: Queue, redis_url: str, resque_namespace: str
) -> None:
    for case in ("keywords", "symbols", "times", "global_id", "delayed"):
        assert _ruby("enqueue", redis_url, resque_namespace, case).strip() == "ok"
    seen: list[Any] = []
    drained = await drain(queue, _handlers(seen).jobs, due_by=math.inf)
    assert drained.failed == [] and drained.moved == 1  # the delayed one, moved by pyresque
    assert seen == [
        ("SendInvoiceJob", (42,), {"force": True, "note": "x"}),
        ("SendInvoiceJob", (Symbol("urgent"), {"a": 1, "b": [Symbol("sym"), 2]}), {}),
        (
            "SendInvoiceJob",
            (
                datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC),
                datetime(2026, 11, 28).date(),
                datetime.fromisoformat("2026-06-01T09:30:00+02:00"),
            ),
            {},
        ),
        ("ChargeJob", (GlobalID("gid://shop/Invoice/7"), {"amount": 12.5}), {}),
        ("ChargeJob", (2,), {"when": "later"}),
    ]


async def test_a_job_class_without_a_python_handler_fails_and_is_kept_for_retry(
    rails: None, queue: Queue, redis_url: str, resque_namespace: str
) -> None:
    _ruby("enqueue", redis_url, resque_namespace, "positional")
    drained = await drain(queue, ActiveJobs().jobs)
    (failure,) = drained.failed
    assert isinstance(failure.error, UnknownActiveJobError)
    assert "SendInvoiceJob" in str(failure.error)
    (entry,) = await queue.failed()
    assert entry["exception"] == "UnknownActiveJobError"
    assert json.loads(json.dumps(entry["payload"]))["args"][0]["job_class"] == "SendInvoiceJob"
    # Once a handler exists, retrying the entry runs it.
    assert await queue.retry_and_remove_failed(entry) is True
    seen: list[Any] = []
    assert (await drain(queue, _handlers(seen).jobs)).failed == []
    assert seen == [("SendInvoiceJob", (42, "hi", 1.5, None, True, -7), {})]


async def test_a_real_rails_worker_runs_jobs_pyresque_enqueued(
    rails: None, queue: Queue, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    active = ActiveJobs()
    first = await active.enqueue(
        queue, "SendInvoiceJob", 42, {Symbol("mode"): "fast", "note": "é"}, queue_name="python",
        force=True, at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    )  # fmt: skip
    second = await active.enqueue(
        queue, "ChargeJob", GlobalID("gid://shop/Invoice/9"), Symbol("card"), queue_name="python"
    )
    await active.enqueue_in(queue, -1000, "ChargeJob", 3, queue_name="python")  # due already
    mover = Scheduler(queue.driver, namespace=resque_namespace, dialect="ruby")
    while await mover.poll():  # pyresque's scheduler moves it to its queue
        pass
    await mover.stop()
    assert _ruby("work", redis_url, resque_namespace, "python").strip() == "done"
    ran = [json.loads(r) for r in resque_redis.lrange(f"{resque_namespace}:ran", 0, -1)]
    assert ran[:2] == [
        [
            "SendInvoiceJob",
            '[42, {:mode=>"fast", "note"=>"é"}]',
            "{:force=>true, :at=>2026-11-28 12:00:00 UTC}",
            first,
        ],
        ["ChargeJob", '["Invoice#9", :card]', "{}", second],
    ]
    assert ran[2][:3] == ["ChargeJob", "[3]", "{}"]
    assert await queue.failed_count() == 0


# -- the argument mapping, through real ActiveJob ------------------------------------------


@pytest.fixture(scope="module")
def roundtrip(rails: None) -> Iterator[Callable[[list[Any]], bytes]]:
    """Send serialized arguments through ActiveJob's deserialize + serialize in Ruby."""
    argv, env = peer_command("ruby", ["ruby", str(SCRIPT), "roundtrip", "-", "-"], {"TZ": "UTC"})
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def call(arguments: list[Any]) -> bytes:
        stdin.write(json.dumps(arguments).encode() + b"\n")
        stdin.flush()
        return stdout.readline().rstrip(b"\n")

    yield call
    stdin.close()
    proc.wait(timeout=30)
    stdout.close()


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_names = _text.filter(lambda k: k != "" and not k.startswith("_aj_"))
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
    | st.builds(Symbol, _names)
    | st.builds(lambda n: GlobalID(f"gid://shop/Invoice/{n}"), st.integers(1, 10**6))
    | st.builds(RubyModule, st.sampled_from(["Invoice", "String", "ActiveJob::Base"]))
    | st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2, minutes=30))]),
    )
    | st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_names | st.builds(Symbol, _names), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    args=st.lists(_values, max_size=3),
    kwargs=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), _values, max_size=2
    ),
)
def test_activejob_serializes_again_to_the_bytes_pyresque_wrote(
    roundtrip: Callable[[list[Any]], bytes], args: list[Any], kwargs: dict[str, Any]
) -> None:
    ours = serialize_arguments(args, kwargs)
    assert roundtrip(ours) == RUBY.dumps(ours)
