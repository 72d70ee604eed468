"""The peer fixtures users get (node_peer / make_node_peer, ruby_peer / make_ruby_peer):
real node-resque and Ruby resque processes from a project, on the test's Redis namespace."""

from __future__ import annotations

import os
import subprocess
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pyresque import Queue
from pyresque.errors import PeerError
from pyresque.testing import drain
from pyresque.testing.peers import node_unavailable, ruby_unavailable

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

ROOT = Path(__file__).resolve().parents[2]
NODE_PROJECT = ROOT / "interop" / "node"

JOBS_JS = """
module.exports = {
  add: { perform: async (a, b) => a + b },
  shout: { perform: async (word) => String(word).toUpperCase() + "!" },
  explode: { perform: async () => { throw new Error("kaboom"); } },
};
"""

JOBS_RB = """
class Tally
  @queue = :tally
  def self.perform(name, amount)
    Resque.redis.rpush("tally", "#{name}=#{amount * 2}")
  end
end

class Broken
  def self.perform(*) = raise(ArgumentError, "broken on purpose")
end
"""


@pytest.fixture
def jobs_js(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.js"
    path.write_text(JOBS_JS)
    return path


@pytest.fixture
def jobs_rb(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.rb"
    path.write_text(JOBS_RB)
    return path


@pytest.fixture
def node_peer_here(make_node_peer: Any, jobs_js: Path) -> Any:
    return make_node_peer(project_dir=NODE_PROJECT, jobs=jobs_js)


async def test_a_job_node_resque_enqueued_runs_in_a_python_worker(
    node_peer_here: Any, make_queue: Any
) -> None:
    node_peer_here.enqueue("math", "add", [2, 3])
    queue: Queue = make_queue()

    async def add(a: int, b: int) -> int:
        return a + b

    done = await drain(queue, {"add": add})
    assert done.results("add") == [5]


async def test_a_job_python_enqueued_runs_in_the_node_resque_worker_with_the_users_jobs(
    node_peer_here: Any, make_queue: Any
) -> None:
    queue: Queue = make_queue()
    await queue.enqueue("words", "shout", ["hey"])
    await queue.enqueue("words", "explode", [])
    outcomes = node_peer_here.work("words", count=2, timeout=10)
    assert [(o.job_class, o.ok, o.result) for o in outcomes] == [
        ("shout", True, "HEY!"),
        ("explode", False, None),
    ]
    assert outcomes[1].error == "Error: kaboom"
    assert await queue.length("words") == 0


async def test_node_peer_enqueue_at_writes_a_delayed_job_pyresque_sees(
    node_peer_here: Any, make_queue: Any
) -> None:
    node_peer_here.enqueue_at(4_102_444_800_000, "later", "add", [1, 1])
    queue: Queue = make_queue()
    assert await queue.scheduled_at("later", "add", [1, 1]) == [4_102_444_800]
    assert node_peer_here.call("length", "later") == 0


def test_node_peer_work_that_runs_too_few_jobs_raises_peer_error(node_peer_here: Any) -> None:
    with pytest.raises(PeerError, match="ran 0 of 1 jobs"):
        node_peer_here.work("empty", count=1, timeout=0.2)


def test_a_node_project_without_node_resque_is_named_with_the_option_to_set(
    tmp_path: Path,
) -> None:
    reason = node_unavailable(tmp_path)
    assert reason is not None
    assert "node-resque is not installed" in reason
    assert "--pyresque-node-project" in reason and "PYRESQUE_NODE_PROJECT" in reason
    assert "\n" not in reason


def test_node_peer_fixture_skips_in_one_line_where_the_project_has_no_node_resque(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile("def test_contract(node_peer):\n    node_peer.enqueue('q', 'x')\n")
    result = pytester.runpytest(
        "-rs", "--pyresque-redis-url", redis_url, "--pyresque-node-project", str(pytester.path)
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*node-resque is not installed in*npm install*"])


def test_node_peer_fixture_uses_the_project_the_option_names(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    if node_unavailable(NODE_PROJECT) is not None:
        pytest.skip(node_unavailable(NODE_PROJECT) or "")
    pytester.makeini(INI)
    pytester.makepyfile(
        textwrap.dedent(
            """
            def test_contract(node_peer, resque_redis, resque_namespace):
                node_peer.enqueue("q", "x", [1])
                raw = resque_redis.lrange(f"{resque_namespace}:queue:q", 0, -1)
                assert raw == [b'{"class":"x","queue":"q","args":[1]}']
            """
        )
    )
    result = pytester.runpytest(
        "--pyresque-redis-url", redis_url, "--pyresque-node-project", str(NODE_PROJECT)
    )
    result.assert_outcomes(passed=1)


# -- Ruby ----------------------------------------------------------------------------------------


def _ruby_lib() -> list[str]:
    return [p for p in os.environ.get("RUBYLIB", "").split(os.pathsep) if p]


@pytest.fixture
def ruby_peer_here(make_ruby_peer: Any, jobs_rb: Path) -> Any:
    if not os.environ.get("RUBYLIB"):
        pytest.skip("RUBYLIB is not set: Ruby resque's lib folders (see interop/README.md)")
    return make_ruby_peer(load_path=_ruby_lib(), require=[jobs_rb])


async def test_a_job_ruby_resque_enqueued_runs_in_a_python_worker(
    ruby_peer_here: Any, make_queue: Any
) -> None:
    ruby_peer_here.enqueue("billing", "Invoice::Send", [7, {"to": "ann"}])
    queue: Queue = make_queue(dialect="ruby")
    seen: list[Any] = []

    async def send(number: int, options: dict[str, str]) -> None:
        seen.append((number, options))

    await drain(queue, {"Invoice::Send": send})
    assert seen == [(7, {"to": "ann"})]


async def test_a_job_python_enqueued_runs_in_the_ruby_resque_worker_with_the_users_classes(
    ruby_peer_here: Any, make_queue: Any, resque_redis: Any, resque_namespace: str
) -> None:
    queue: Queue = make_queue(dialect="ruby")
    await queue.enqueue("tally", "Tally", ["apples", 21])
    await queue.enqueue("tally", "Broken", [])
    outcomes = ruby_peer_here.work(["tally"], count=2, timeout=10)
    assert [(o.job_class, o.ok) for o in outcomes] == [("Tally", True), ("Broken", False)]
    assert outcomes[1].error == "ArgumentError: broken on purpose"
    assert resque_redis.lrange(f"{resque_namespace}:tally", 0, -1) == [b"apples=42"]


def test_ruby_peer_enqueue_of_a_required_class_uses_its_queue_hooks(
    ruby_peer_here: Any, resque_redis: Any, resque_namespace: str
) -> None:
    ruby_peer_here.enqueue("tally", "Tally", ["pears", 1])
    assert ruby_peer_here.size("tally") == 1
    assert resque_redis.lrange(f"{resque_namespace}:queue:tally", 0, -1) == [
        b'{"class":"Tally","args":["pears",1]}'
    ]


def test_ruby_without_resque_on_the_load_path_is_named_with_the_option_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUBYLIB", str(tmp_path))
    monkeypatch.setenv("GEM_PATH", str(tmp_path))
    monkeypatch.setenv("GEM_HOME", str(tmp_path))
    reason = ruby_unavailable([str(tmp_path / "nowhere")])
    if reason is not None and "not on PATH" in reason:
        pytest.skip(reason)
    if reason is None:
        pytest.skip("resque is installed as a system gem here: nothing to report")
    assert reason.startswith("Ruby resque does not load (cannot load resque)")
    assert "/usr/" not in reason
    assert "--pyresque-ruby-lib" in reason and "PYRESQUE_RUBY_LIB" in reason
    assert "\n" not in reason


# -- the wheel -----------------------------------------------------------------------------------


def test_the_installed_wheel_ships_the_peer_drivers_and_its_node_peer_runs(
    tmp_path: Path, redis_url: str, resque_namespace: str, resque_redis: Any
) -> None:
    from tests.wheel import install_wheel

    installed = install_wheel(tmp_path)
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    assert "pyresque/conformance/peers/node_peer.js" in names  # the one node-resque driver
    assert "pyresque/conformance/peers/ruby_peer.rb" in names  # the one Ruby driver
    assert not any(
        n.startswith("pyresque/testing/peers/") and n.endswith((".js", ".rb")) for n in names
    )
    reason = node_unavailable(NODE_PROJECT)
    if reason is not None:
        pytest.skip(reason)
    script = (
        "import sys\n"
        "from pyresque.testing.peers import DRIVERS, NodePeer\n"
        "assert str(DRIVERS).startswith(sys.argv[4]), DRIVERS\n"
        "peer = NodePeer(sys.argv[1], sys.argv[2], project_dir=sys.argv[3])\n"
        "peer.enqueue('q', 'fromWheel', [1])\n"
        "peer.close()\n"
    )
    subprocess.run(
        [installed.python, "-c", script, redis_url, resque_namespace, NODE_PROJECT, installed.site],
        check=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert resque_redis.lrange(f"{resque_namespace}:queue:q", 0, -1) == [
        b'{"class":"fromWheel","queue":"q","args":[1]}'
    ]
