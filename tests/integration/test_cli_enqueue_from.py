"""``pyresque enqueue --from``: JSON lines enqueued in bulk, a bad line refused first."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import redis

from pyresque.cli import main
from tests.keys import key


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def common(redis_url: str, resque_namespace: str) -> list[str]:
    return ["--redis", redis_url, "--namespace", resque_namespace]


def test_object_lines_enqueue_now_and_later_with_the_peers_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str],
    resque_redis: redis.Redis, resque_namespace: str,
) -> None:  # fmt: skip
    source = tmp_path / "jobs.jsonl"
    source.write_text(
        '{"queue": "math", "class": "add", "args": [1, 2.0]}\n'
        "\n"
        '{"queue": "mail", "class": "send"}\n'
        '{"queue": "math", "class": "add", "args": [3], "at": 1900000000000}\n'
        '{"queue": "math", "class": "add", "args": [4], "at": "2030-03-17T17:46:40Z"}\n'
        '{"queue": "math", "class": "add", "args": [5], "in": 60000}\n'
    )
    code, out, err = run(capsys, "enqueue", "--from", str(source), *common)
    assert (code, out, err) == (0, "enqueued 5 jobs (3 delayed, 0 vetoed)\n", "")
    assert resque_redis.lrange(key(resque_namespace, "queue", "math"), 0, -1) == [
        b'{"class":"add","queue":"math","args":[1,2]}'
    ]
    assert resque_redis.lrange(key(resque_namespace, "queue", "mail"), 0, -1) == [
        b'{"class":"send","queue":"mail","args":[]}'
    ]
    assert resque_redis.lrange(key(resque_namespace, "delayed", "1900000000"), 0, -1) == [
        b'{"class":"add","queue":"math","args":[3]}',
        b'{"class":"add","queue":"math","args":[4]}',
    ]
    assert resque_redis.zcard(key(resque_namespace, "delayed_queue_schedule")) == 2


def test_lines_of_args_from_stdin_go_to_the_queue_and_class_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, common: list[str],
    resque_redis: redis.Redis, resque_namespace: str,
) -> None:  # fmt: skip
    lines = "".join(f'[{i}, {{"n": "x"}}]\n' for i in range(2500))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    code, out, _ = run(
        capsys, "enqueue", "bench", "Add", "--from", "-", "--dialect", "ruby", *common
    )
    assert (code, out) == (0, "enqueued 2500 jobs (0 delayed, 0 vetoed)\n")
    queued = resque_redis.lrange(key(resque_namespace, "queue", "bench"), 0, -1)
    assert len(queued) == 2500
    assert queued[7] == b'{"class":"Add","args":[7,{"n":"x"}]}'


def test_node_duplicates_of_a_delayed_line_are_noted_with_their_line_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str]
) -> None:
    source = tmp_path / "jobs.jsonl"
    source.write_text("[1]\n[1]\n[2]\n")
    code, out, err = run(
        capsys, "enqueue", "q", "J", "--from", str(source), "--at", "1900000000000", *common
    )
    assert (code, out) == (0, "enqueued 2 jobs (2 delayed, 0 vetoed)\n")
    assert "1 delayed jobs were already due at their second" in err and "(lines 2)" in err


@pytest.mark.parametrize(
    ("lines", "positional", "problem"),
    [
        ('{"queue": "q", "class": "J"}\n[1, 2\n', [], "line 2: not valid JSON"),
        ('{"queue": "q", "class": "J"}\n\n[1]\n', [], "line 3: expected an object"),
        ('{"queue": "q", "class": "J", "arg": [1]}\n', [], "line 1: unknown field 'arg'"),
        ('{"queue": "", "class": "J"}\n', [], 'line 1: "queue" must be a non-empty string'),
        ('{"queue": "q", "class": "J", "args": {"a": 1}}\n', [], '"args" must be a JSON array'),
        ('{"queue": "q", "class": "J", "at": 1765000000}\n', [], "did you mean seconds?"),
        ('{"queue": "q", "class": "J", "at": 1, "in": 1}\n', [], '"at" and "in" exclude'),
        ('{"queue": "q", "class": "J", "in": -5}\n', [], '"in": -5 is negative'),
        ("[1]\n[2]\n{}\n", ["q", "J"], "line 3: expected a JSON array"),
        ("[1]\n[NaN]\n", ["q", "J"], "line 2: not valid JSON"),
    ],
)
def test_a_bad_line_is_refused_with_its_number_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str],
    resque_redis: redis.Redis, resque_namespace: str,
    lines: str, positional: list[str], problem: str,
) -> None:  # fmt: skip
    source = tmp_path / "jobs.jsonl"
    source.write_text(lines)
    code, out, err = run(capsys, "enqueue", *positional, "--from", str(source), *common)
    assert (code, out) == (2, "")
    assert err.startswith("pyresque: --from: ") and problem in err, err
    assert err.rstrip().endswith("nothing was enqueued")
    assert list(resque_redis.scan_iter(match=f"{resque_namespace}:*")) == []


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["q", "J", "[1]"], "ARGS_JSON cannot be given with --from"),
        (["q"], "give both QUEUE and CLASS"),
    ],
)
def test_from_refuses_arguments_it_cannot_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str],
    argv: list[str], problem: str,
) -> None:  # fmt: skip
    source = tmp_path / "jobs.jsonl"
    source.write_text("[1]\n")
    code, _, err = run(capsys, "enqueue", *argv, "--from", str(source), *common)
    assert code == 2 and problem in err


def test_an_unreadable_file_and_a_missing_class_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, common: list[str]
) -> None:
    code, _, err = run(capsys, "enqueue", "--from", str(tmp_path / "nope"), *common)
    assert code == 2 and "cannot read" in err and "No such file" in err
    code, _, err = run(capsys, "enqueue", "q", *common)
    assert code == 2 and "give QUEUE and CLASS (or --from FILE)" in err
