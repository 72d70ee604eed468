"""The suite's own checks: the classifier, the MONITOR parser, the poison recovery check, and
one run against a real Redis where the harness must catch a lost job and an unexplained
duplicate that the test plants itself."""

from __future__ import annotations

import collections
import json
import shutil

import pytest

from tests.faults.accounting import FinalState, account, monitor_args
from tests.faults.harness import wait_until
from tests.faults.poison import poison_payloads, recovered
from tests.faults.run import Run

pytestmark = pytest.mark.faults


def _final(runs: dict[str, int], failed: list[bytes], places: dict[str, list[str]]) -> FinalState:
    return FinalState(collections.Counter(runs), failed, places, 0)


def _entry(job_id: str, exception: str = "Error", error: str = "boom") -> bytes:
    payload = {"class": "work", "queue": "q", "args": [job_id, 0]}
    entry = {"payload": payload, "exception": exception, "error": error, "backtrace": []}
    return json.dumps(entry).encode()


IDS = [f"fj-t-{n:06d}" for n in range(6)]


def test_every_id_is_classified_once() -> None:
    final = _final(
        {IDS[0]: 1, IDS[1]: 2, IDS[2]: 2},
        [_entry(IDS[3], "TypeError", "bad args")],
        {IDS[4]: ["queue:q"]},
    )
    tapped = [_entry(IDS[1], "Worker Timeout (killed manually)")]
    found = account(final, IDS, tapped=tapped)
    assert found.done == IDS[:3]
    assert found.failed == {IDS[3]: "TypeError: bad args"}
    assert found.queued == {IDS[4]: ["queue:q"]}
    assert found.lost == [IDS[5]]
    assert found.duplicates == {IDS[1]: 2, IDS[2]: 2}
    assert found.unexplained == [IDS[2]]  # IDS[1]'s second run has a (retried) failure entry


def test_delayed_jobs_must_run_exactly_once_and_uncertain_enqueues_are_not_lost() -> None:
    final = _final({IDS[0]: 1, IDS[1]: 2}, [], {})
    found = account(final, IDS[:4], delayed=IDS[:3], uncertain=[IDS[3]])
    assert found.delayed_not_once == {IDS[1]: 2, IDS[2]: 0}
    assert found.lost == [IDS[2]]
    assert found.never_enqueued == [IDS[3]]
    assert found.jobs == 3


def test_monitor_lines_are_unescaped() -> None:
    # Redis' sdscatrepr quoting, as MONITOR shows a script's command (checked against 7.0)
    line = rb'1700000000.1 [0 lua] "rpush" "ns:failed" "{\"a\":\"x\\y\"}\n\xff\x00"'
    assert monitor_args(line) == [b"rpush", b"ns:failed", b'{"a":"x\\y"}\n\xff\x00']


@pytest.mark.parametrize("dialect", ["node", "ruby"])
def test_poison_recovery_check(dialect: str) -> None:
    poisons = dict(poison_payloads(dialect))
    invalid = poisons["invalid JSON"]
    as_text = json.dumps({"payload": invalid.decode(), "exception": "PayloadDecodeError"})
    assert recovered(invalid, [as_text.encode()]) == "as a string in the entry"
    utf8 = poisons["invalid UTF-8"]
    as_escaped = json.dumps({"payload": utf8.decode("utf-8", "surrogateescape")})
    assert recovered(utf8, [as_escaped.encode()]) == "as a string in the entry"
    huge = poisons["number 1e400"]
    exact = b'{"payload":' + huge + b',"exception":"TypeError"}'
    assert recovered(huge, [exact]) == "as the entry's decoded payload"
    nulled = huge.replace(b"1e400", b"null")
    assert recovered(huge, [b'{"payload":' + nulled + b"}"]) is None
    nested = poisons["array nested 2000 deep"]
    assert recovered(nested, [b'{"payload":' + nested + b"}"]) == "as the entry's decoded payload"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_the_harness_catches_a_planted_loss_and_duplicate() -> None:
    with Run("selfcheck", "pyresque") as run:
        server = run.start_redis()
        client = run.client()
        ids = run.ids(20)
        key = f"{run.namespace}:queue:q"
        for job_id in ids:
            client.rpush(key, json.dumps({"class": "work", "queue": "q", "args": [job_id, 0]}))
        client.sadd(f"{run.namespace}:queues", "q")
        client.lpop(key)  # ids[0]: gone without a trace
        client.rpush(key, json.dumps({"class": "work", "queue": "q", "args": [ids[1], 0]}))
        run.watch(["q"])
        worker = run.procs.worker(["q"], burst=True)
        assert wait_until(lambda: not worker.alive, 30)
        outcome = run.finish(ids, expect_exited=[worker])
        assert server.alive
    assert outcome.row.lost == 1 and outcome.row.unexplained == 1, outcome.report()
    assert any(ids[0] in p and "lost" in p for p in outcome.problems)
    assert any(ids[1] in p and "no failure entry" in p for p in outcome.problems)
