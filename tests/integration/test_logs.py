"""Log lines worth reading, from real workers: one line per job with its queue, class,
duration and outcome (a failure naming its exception and the job's line that raised it),
the JSON formatter's documents, the burst summary, and where an import failed."""

from __future__ import annotations

import importlib
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyresque import Queue, Worker
from pyresque.errors import ConfigurationError
from pyresque.logs import JsonFormatter, configure_logging, where_raised

HERE = Path(__file__).relative_to(Path.cwd()).as_posix()


def fail() -> None:
    raise ValueError("nope")


FAIL_LINE = fail.__code__.co_firstlineno + 1


def parse_int(text: str) -> int:
    return json.loads(text)  # type: ignore[no-any-return]  # raises inside the json module


PARSE_LINE = parse_int.__code__.co_firstlineno + 1


async def run_jobs(
    redis_url: str, namespace: str, make_worker: Callable[..., Worker], *jobs: str
) -> Worker:
    async with Queue(redis_url, namespace=namespace) as queue:
        for job in jobs:
            await queue.enqueue("q", job, ["x"] if job == "parse" else [])
    worker = make_worker(["q"], {"ok": lambda: None, "fail": fail, "parse": parse_int})
    await worker.run(burst=True)
    return worker


def fields(record: logging.LogRecord) -> dict[str, Any]:
    names = ("queue", "class", "outcome", "exception", "where", "worker")
    return {name: getattr(record, name) for name in names if hasattr(record, name)}


async def test_each_job_logs_one_line_with_queue_class_duration_and_outcome(
    redis_url: str,
    resque_namespace: str,
    make_worker: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pyresque.worker")
    worker = await run_jobs(redis_url, resque_namespace, make_worker, "ok", "fail", "parse")
    lines = [
        r for r in caplog.records if getattr(r, "pyresque_event", None) in ("success", "failure")
    ]
    assert [(r.levelname, fields(r)) for r in lines] == [
        ("INFO", {"queue": "q", "class": "ok", "outcome": "success", "worker": worker.name}),
        (
            "ERROR",
            {
                "queue": "q", "class": "fail", "outcome": "failure", "worker": worker.name,
                "exception": "ValueError", "where": f"{HERE}:{FAIL_LINE}",
            },
        ),
        (
            "ERROR",
            {
                "queue": "q", "class": "parse", "outcome": "failure", "worker": worker.name,
                "exception": "JSONDecodeError", "where": f"{HERE}:{PARSE_LINE}",
            },
        ),
    ]  # fmt: skip
    for record in lines:
        assert isinstance(record.duration_ms, float) and record.duration_ms >= 0  # type: ignore[attr-defined]
    failure = lines[1].getMessage()
    assert failure.startswith(f"worker {worker.name} failure queue='q' class='fail' duration_ms=")
    assert f"exception='ValueError' where='{HERE}:{FAIL_LINE}' error='nope'" in failure


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("info", "json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_json_lines_carry_the_structured_fields_of_each_event(
    redis_url: str,
    resque_namespace: str,
    make_worker: Callable[..., Worker],
    json_log: io.StringIO,
) -> None:
    worker = await run_jobs(redis_url, resque_namespace, make_worker, "ok", "fail")
    documents = [json.loads(line) for line in json_log.getvalue().splitlines()]
    by_event = {d.get("event"): d for d in documents if d["logger"] == "pyresque.worker"}
    success, failure, summary = by_event["success"], by_event["failure"], by_event["summary"]
    assert {k: success[k] for k in ("level", "logger", "worker", "queue", "class", "outcome")} == {
        "level": "INFO", "logger": "pyresque.worker", "worker": worker.name, "queue": "q",
        "class": "ok", "outcome": "success",
    }  # fmt: skip
    assert success["time"].endswith("+00:00") and "T" in success["time"]
    assert success["message"].startswith(f"worker {worker.name} success")
    assert success["source"] == f"worker {worker.name}"
    assert isinstance(success["duration_ms"], float)
    assert (failure["level"], failure["exception"], failure["where"], failure["error"]) == (
        "ERROR", "ValueError", f"{HERE}:{FAIL_LINE}", "nope",
    )  # fmt: skip
    assert (summary["jobs"], summary["succeeded"], summary["failed"]) == (2, 1, 1)


def test_a_logged_exception_becomes_its_type_place_and_traceback() -> None:
    try:
        fail()
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "it broke", None, None)
        record.exc_info = sys.exc_info()
    document = json.loads(JsonFormatter().format(record))
    assert (document["message"], document["exception"], document["where"]) == (
        "it broke", "ValueError", f"{HERE}:{FAIL_LINE}",
    )  # fmt: skip
    assert "Traceback" in document["traceback"] and "nope" in document["traceback"]


def test_configure_logging_refuses_unknown_formats_and_levels() -> None:
    with pytest.raises(ConfigurationError, match="log format"):
        configure_logging("info", "xml")
    with pytest.raises(ConfigurationError, match="log level"):
        configure_logging("loud", "text")


async def test_a_burst_run_ends_with_one_summary_line_and_its_counts(
    redis_url: str,
    resque_namespace: str,
    make_worker: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pyresque.worker")
    worker = await run_jobs(redis_url, resque_namespace, make_worker, "ok", "ok", "fail")
    summary = worker.summary()
    assert (summary.jobs, summary.succeeded, summary.failed) == (3, 2, 1)
    assert 0 < summary.elapsed < 30
    lines = [r for r in caplog.records if "burst over" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"  # a job failed
    assert (
        lines[0]
        .getMessage()
        .endswith(f"burst over: 3 jobs done (2 succeeded, 1 failed) in {summary.elapsed:.2f} s")
    )
    assert worker.summary() == summary  # stopped: the figures stay put


def test_where_raised_names_the_line_of_a_module_that_failed_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "badjobs.py").write_text("import os\n\nraise RuntimeError('no config')\n")
    (tmp_path / "typojobs.py").write_text("JOBS = {\n  'a': lambda: 1,\n  'b' lambda: 2,\n}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError) as raised:
        importlib.import_module("badjobs")
    assert where_raised(raised.value) == "badjobs.py:3"
    with pytest.raises(SyntaxError) as bad:
        importlib.import_module("typojobs")
    assert where_raised(bad.value) == "typojobs.py:3"
    assert where_raised(ValueError("never raised")) == ""
