"""``pyresque web``, ``pyresque metrics`` and ``--metrics-port`` on ``worker`` and
``start``: real subprocesses, reached over HTTP, stopped by SIGTERM (exit status 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from pyresque.cli import main
from pyresque.testing import wait_until
from tests.keys import key
from tests.processes import LoggedProcess

START = 30.0  # seconds a server process may take to listen
LISTENING = re.compile(r"pyresque (?:web|metrics): listening on (http://\S+)")

JOBS_MODULE = """
def add(a, b):
    return a + b


def boom():
    raise ValueError("no")


JOBS = {"add": add, "boom": boom}
"""


@pytest.fixture
def clean_env(redis_url: str) -> dict[str, str]:
    """This environment without PYRESQUE_* settings, with REDIS_URL the test's Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYRESQUE_WEB_")}
    return {**env, "REDIS_URL": redis_url}


@pytest.fixture
def spawn(clean_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., LoggedProcess]]:
    started: list[LoggedProcess] = []
    (tmp_path / "server_jobs.py").write_text(JOBS_MODULE)

    def start(*argv: str, env: dict[str, str] | None = None) -> LoggedProcess:
        process = LoggedProcess(
            [sys.executable, "-m", "pyresque", *argv], tmp_path, env={**clean_env, **(env or {})}
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def url_of(process: LoggedProcess) -> str:
    """The URL the process says it listens on."""

    def said() -> str | None:
        for line in list(process.lines):
            if found := LISTENING.search(line):
                return found[1]
        assert process.proc.poll() is None, process.log
        return None

    found = wait_until(said, timeout=START)
    assert isinstance(found, str)
    return found


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(body: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in a text exposition, by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_web_serves_the_dashboard_until_sigterm_then_exits_0(
    spawn: Callable[..., LoggedProcess], resque_namespace: str
) -> None:
    web = spawn("web", "--port", "0", "--namespace", f"{resque_namespace}=ruby", "--read-only")
    base = url_of(web)
    status, page = wait_until(lambda: get(base), timeout=START)
    assert status == 200
    assert resque_namespace in page
    status, body = get(f"{base}api/n/{resque_namespace}/")
    assert status == 200 and isinstance(json.loads(body), dict)
    web.signal(signal.SIGTERM)
    assert web.wait() == 0, web.log
    assert "Traceback" not in web.log


def test_web_with_a_token_from_the_environment_refuses_anonymous_requests(
    spawn: Callable[..., LoggedProcess],
) -> None:
    token = "a-token-of-enough-length"
    web = spawn("web", "--port", "0", env={"PYRESQUE_WEB_TOKEN": token})
    base = url_of(web)
    assert get(f"{base}api/n/resque/", {"Accept": "application/json"})[0] == 401
    assert get(f"{base}api/n/resque/", {"Authorization": f"Bearer {token}"})[0] == 200
    web.signal(signal.SIGINT)
    assert web.wait() == 0, web.log


def test_web_refuses_a_public_host_without_authentication(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PYRESQUE_WEB_TOKEN", "PYRESQUE_WEB_USERNAME", "PYRESQUE_WEB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert main(["web", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyresque: --host 0.0.0.0 serves the dashboard beyond this machine")
    assert "PYRESQUE_WEB_TOKEN" in err and "--insecure" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["web"], "web"),
        (["metrics", "--port", "0"], "metrics"),
        (["worker", "--queues", "q", "--jobs", "x:J", "--metrics-port", "0"], "metrics"),
    ],
)
def test_a_missing_extra_exits_2_naming_the_pip_install(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    extra: str,
) -> None:
    for module in ("uvicorn", "prometheus_client"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"pip install 'pyresque[{extra}]'" in err and err.count("\n") == 1


def test_metrics_serves_the_fleet_and_healthz_until_sigterm(
    spawn: Callable[..., LoggedProcess],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    resque_redis.sadd(key(ns, "queues"), "mail")
    resque_redis.rpush(key(ns, "queue", "mail"), b'{"class":"A","queue":"mail","args":[]}')
    exporter = spawn("metrics", "--port", "0", "--redis", redis_url, "--namespace", ns)
    metrics_url = url_of(exporter)
    assert metrics_url.endswith("/metrics")
    status, body = get(metrics_url)
    assert status == 200
    assert samples(body, "resque_up") == {(): 1.0}
    assert samples(body, "resque_jobs_in_queue") == {(("queue", "mail"),): 1.0}
    assert get(metrics_url.replace("/metrics", "/healthz")) == (200, "ok\n")
    exporter.signal(signal.SIGTERM)
    assert exporter.wait() == 0, exporter.log


def test_worker_metrics_port_exposes_the_jobs_it_ran(
    spawn: Callable[..., LoggedProcess],
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
) -> None:
    ns = resque_namespace
    common = ["--redis", redis_url, "--namespace", ns, "--queues", "q", "--timeout", "100"]
    worker = spawn("worker", *common, "--jobs", "server_jobs:JOBS", "--metrics-port", "0")
    metrics_url = url_of(worker)
    for raw in (
        b'{"class":"add","queue":"q","args":[1,2]}',
        b'{"class":"boom","queue":"q","args":[]}',
    ):
        resque_redis.rpush(key(ns, "queue", "q"), raw)
    wait_until(lambda: resque_redis.llen(key(ns, "queue", "q")) == 0, timeout=START)

    def counted() -> dict[tuple[tuple[str, str], ...], float]:
        found = samples(get(metrics_url)[1], "resque_jobs_total")
        return found if sum(found.values()) == 2 else {}

    assert wait_until(counted, timeout=START) == {
        (("class", "add"), ("outcome", "success"), ("queue", "q")): 1.0,
        (("class", "boom"), ("outcome", "failure"), ("queue", "q")): 1.0,
    }
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log


def test_start_metrics_port_measures_the_apps_worker_pool(
    spawn: Callable[..., LoggedProcess],
    tmp_path: Path,
    resque_namespace: str,
    resque_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "app"
    assert main(["generate", "app", str(folder)]) == 0
    capsys.readouterr()
    node = spawn("start", "--app", str(folder), "--metrics-port", "0", "--log-format", "json",
                 env={"PYRESQUE_NAMESPACE": resque_namespace})  # fmt: skip
    metrics_url = url_of(node)
    wait_until(lambda: node.logged("running; SIGTERM or SIGINT stops it"), timeout=START)
    resque_redis.sadd(key(resque_namespace, "queues"), "default")
    payload = {"class": "hello", "queue": "default", "args": [{"name": "x"}]}
    resque_redis.rpush(key(resque_namespace, "queue", "default"), json.dumps(payload))

    def counted() -> float:
        found = samples(get(metrics_url)[1], "resque_jobs_total")
        return sum(found.values())

    assert wait_until(counted, timeout=START) == 1.0
    node.signal(signal.SIGTERM)
    assert node.wait() == 0, node.log
    logged = [json.loads(line) for line in node.lines if line.startswith("{")]
    assert any(line["message"].endswith("stopped") for line in logged)
