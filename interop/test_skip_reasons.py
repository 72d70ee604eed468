"""Skip reasons are one short line each; what the failed probe printed (Ruby's LoadError,
with its interpreter paths) is shown once, with -v."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from interop import containers, harness

pytest_plugins = ["pytester"]

LOAD_ERROR = (
    "<internal:/usr/lib/ruby/vendor_ruby/rubygems/core_ext/kernel_require.rb>:85:in "
    "`require': cannot load such file -- resque (LoadError)\n"
    "\tfrom <internal:/usr/lib/ruby/vendor_ruby/rubygems/core_ext/kernel_require.rb>:85:in "
    "`require'\n\tfrom -e:1:in `<main>'"
)
PROBES: list[Callable[[], str | None]] = [
    harness.node_unavailable,
    harness.actionhero_unavailable,
    harness.ruby_unavailable,
    harness.activejob_unavailable,
]


# The local mode's Ruby probe (RUBYLIB); PYRESQUE_PEERS=containers probes the ruby image.
local_ruby = pytest.mark.skipif(containers.enabled(), reason="PYRESQUE_PEERS=containers")


def _short(reason: str) -> bool:
    return len(reason) < 100 and "\n" not in reason and "/usr/" not in reason


@pytest.fixture
def no_resque(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A ruby on PATH that cannot load resque; the diagnostics this test collects."""
    diagnostics: dict[str, str] = {}
    monkeypatch.setattr(harness, "DIAGNOSTICS", diagnostics)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(harness, "_ruby_says", lambda code: LOAD_ERROR)
    harness.ruby_unavailable.cache_clear()
    harness.activejob_unavailable.cache_clear()
    yield diagnostics
    harness.ruby_unavailable.cache_clear()  # the next caller probes the real ruby
    harness.activejob_unavailable.cache_clear()


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.__name__)
def test_each_probe_here_gives_none_or_one_short_line(probe: Callable[[], str | None]) -> None:
    reason = probe()
    assert reason is None or _short(reason), reason


@local_ruby
@pytest.mark.parametrize(
    ("rubylib", "reason"),
    [
        (None, "Ruby resque not found: set RUBYLIB (see interop/README.md)"),
        ("/opt/peers/resque/lib", "Ruby resque does not load from RUBYLIB (see interop/README.md)"),
    ],
)
def test_a_ruby_without_resque_skips_in_one_line_and_keeps_the_load_error(
    no_resque: dict[str, str], monkeypatch: pytest.MonkeyPatch, rubylib: str | None, reason: str
) -> None:
    if rubylib is None:
        monkeypatch.delenv("RUBYLIB", raising=False)
    else:
        monkeypatch.setenv("RUBYLIB", rubylib)
    assert harness.ruby_unavailable() == reason
    assert harness.activejob_unavailable() == reason
    assert _short(reason)
    assert list(no_resque) == ["Ruby resque"]
    assert no_resque["Ruby resque"].endswith(LOAD_ERROR)
    assert f"RUBYLIB={rubylib or '(not set)'}" in no_resque["Ruby resque"]


TEST_NEEDING_RUBY = """
def test_needs_ruby(ruby):
    pass
"""


@local_ruby
def test_the_session_shows_the_load_error_once_with_v(
    no_resque: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pytester: pytest.Pytester,
    redis_url: str,
) -> None:
    monkeypatch.delenv("RUBYLIB", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(TEST_NEEDING_RUBY)
    args = ("-p", "interop.conftest", "-rs", "--pyresque-redis-url", redis_url)

    quiet = pytester.runpytest(*args)
    quiet.assert_outcomes(skipped=1)
    quiet.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *: Ruby resque not found: set RUBYLIB (see interop/README.md)",
            "interop: Ruby resque unavailable here; -v shows why",
        ]
    )
    assert "LoadError" not in quiet.stdout.str()

    harness.ruby_unavailable.cache_clear()
    no_resque.clear()
    verbose = pytester.runpytest(*args, "-v")
    verbose.assert_outcomes(skipped=1)
    verbose.stdout.fnmatch_lines(
        [
            "*= interop: why Ruby resque could not run =*",
            "Ruby resque: ruby -e 'require \"resque\"; *' failed, RUBYLIB=(not set):",
            "<internal:*cannot load such file -- resque (LoadError)",
        ]
    )
    assert verbose.stdout.str().count("LoadError") == 1
