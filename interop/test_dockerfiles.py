"""The container mode's images, checked without a Docker engine (interop/README.md,
"Container mode").

A dry build (:mod:`interop.dockerfile`) stages each image's files exactly as its COPY
steps lay them out, runs the node images' own ``npm ci`` from the committed lockfiles
(the Ruby image's ``gem install`` stands in as RUBYLIB's resque, at the versions the
image pins), then runs the image's CMD there with the image's ENV and drives it over JSON
lines with one request that touches Redis. What only an engine checks: the base images,
``gem install`` from rubygems.org and the interop suite in containers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest
import redis

from interop import containers, dockerfile, harness
from interop.dockerfile import Image, Run, in_root
from interop.harness import Peer
from interop.json_peer import NODE_SCRIPT, RUBY_SCRIPT

pytestmark = pytest.mark.interop

HERE = containers.HERE
ROOT = HERE.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
KINDS = ("node", "actionhero", "ruby")
NODE_RESQUE = "9.7.1"
ACTIONHERO = "29.3.5"
ACTIVEJOB_SCRIPT = harness.RUBY_DIR / "activejob.rb"
# The gems the Ruby image pins besides resque, resque-scheduler and activejob.
RUBY_IMAGE_GEMS = {
    "redis": "4.8.1",
    "redis-namespace": "1.11.0",
    "multi_json": "1.15.0",
    "json": "2.7.2",
    "oj": "3.16.3",
}
VERSION_FILES = {"resque": "resque/version.rb", "resque-scheduler": "resque/scheduler/version.rb"}
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET")


def _plan(kind: str, environ: dict[str, str] | None = None) -> Image:
    """Image ``kind`` as containers.py builds it under ``environ`` (its --build-args)."""
    _, argv = containers.build_args(kind, environ or {})
    return dockerfile.plan(containers.DOCKERFILES / f"{kind}.Dockerfile", _build_args(argv))


def _build_args(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--build-arg"]
    return dict(pair.split("=", 1) for pair in pairs)


def _job(name: str) -> str:
    """The text of job ``name`` in the workflow (its lines up to the next job)."""
    text = WORKFLOW.read_text(encoding="utf-8")
    found = re.search(rf"^  {re.escape(name)}:\n(.*?)(?=^  \S|\Z)", text, re.M | re.S)
    assert found, f"{WORKFLOW}: no job {name}"
    return found.group(1)


def _gem_pins(image: Image) -> dict[str, str]:
    """name: version of every ``gem install`` in the image's RUN steps (ARGs applied)."""
    pins: dict[str, str] = {}
    for step in image.steps:
        if isinstance(step, Run) and "gem install" in step.command:
            expanded = dockerfile.substitute(step.command, step.env, "RUN")
            for token in shlex.split(expanded.replace(";", " ")):
                if m := re.fullmatch(r"([a-z][a-z0-9_-]*):(\d[0-9.]*)", token):
                    pins[m.group(1)] = m.group(2)
    return pins


def _rubylib_versions() -> dict[str, str]:
    """resque's and resque-scheduler's versions as RUBYLIB's version.rb files say."""
    found: dict[str, str] = {}
    for entry in filter(None, os.environ.get("RUBYLIB", "").split(os.pathsep)):
        for gem, file in VERSION_FILES.items():
            path = Path(entry) / file
            if gem not in found and path.exists():
                m = re.search(r"VERSION\s*=\s*['\"]([^'\"]+)['\"]", path.read_text())
                assert m, f"{path}: no VERSION"
                found[gem] = m.group(1)
    return found


# -- what containers.py builds and runs, against the Dockerfiles ---------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_image_plans_with_the_instructions_the_dry_build_reads(kind: str) -> None:
    image = _plan(kind)
    assert image.base and image.cmd and image.workdir.startswith("/interop/")
    assert image.user and not image.user.startswith("0") and image.user != "root"


@pytest.mark.parametrize(
    "environ",
    [{}, {"PYRESQUE_NODE_VERSION": "22.11.0"}, {"PYRESQUE_RUBY_RESQUE": "3.0"}],
    ids=["defaults", "node-22", "resque-3.0"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_docker_build_names_the_dockerfile_and_only_args_it_declares(
    kind: str, environ: dict[str, str]
) -> None:
    tag, argv = containers.build_args(kind, environ)
    assert argv[:2] == ["build", "-q"]
    path = Path(argv[argv.index("-f") + 1])
    assert path == containers.DOCKERFILES / f"{kind}.Dockerfile" and path.is_file()
    assert argv[argv.index("-t") + 1] == tag and tag.startswith(f"pyresque-interop-{kind}:")
    assert argv[-1] == str(HERE) and (HERE / ".dockerignore").is_file()  # the context
    declared = dockerfile.plan(path, {}).declared_args
    # Docker ignores an undeclared --build-arg (a warning at most): it must not happen.
    assert set(_build_args(argv)) <= declared, f"{kind}: {_build_args(argv)} vs {declared}"


def test_a_node_version_given_reaches_both_node_images() -> None:
    for kind in ("node", "actionhero"):
        assert _plan(kind, {"PYRESQUE_NODE_VERSION": "22.11.0"}).base == (
            "node:22.11.0-bookworm-slim"
        )


def test_an_unpinned_resque_version_is_refused() -> None:
    with pytest.raises(RuntimeError, match="PYRESQUE_RUBY_RESQUE='2.8'"):
        containers.build_args("ruby", {"PYRESQUE_RUBY_RESQUE": "2.8"})


def test_docker_run_is_interactive_removed_with_init_on_the_network() -> None:
    host = "redis://127.0.0.1:49153/3"
    argv = containers.docker_run_argv(
        "pyresque-interop-ruby:resque-2.7",
        {"REDIS_URL": host, "TZ": "UTC"},
        name="pyresque-x",
        network="net-1",
        redis_url="redis://127.0.0.1:49153/0",
        command=list(harness.RUBY_SCHEDULER),
    )
    assert argv[:5] == ["docker", "run", "-i", "--rm", "--init"]
    assert argv[argv.index("--network") + 1] == "net-1"
    assert argv[argv.index("--name") + 1] == "pyresque-x"
    assert "-e" in argv and "REDIS_URL=redis://redis:6379/3" in argv and "TZ=UTC" in argv
    assert argv[-3:] == ["pyresque-interop-ruby:resque-2.7", "ruby", "scheduler.rb"]
    # Another Redis than the container's is passed as given.
    other = containers.docker_run_argv(
        "i", {"REDIS_URL": "redis://elsewhere:6379/0"}, name="n", network="x", redis_url=host
    )
    assert "REDIS_URL=redis://elsewhere:6379/0" in other and other[-1] == "i"


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Image, Path]]:
    """Each image's files as its COPY steps lay them out (no RUN step run)."""
    out: dict[str, tuple[Image, Path]] = {}
    for kind in KINDS:
        image, root = _plan(kind), tmp_path_factory.mktemp(f"layout-{kind}")
        dockerfile.stage(image, HERE, root, lambda step: None)
        out[kind] = image, root
    return out


@pytest.mark.parametrize(
    ("kind", "argv"),
    [
        ("node", ["node", str(NODE_SCRIPT)]),  # the JSON peer (test_json_peers.py)
        ("ruby", ["ruby", str(RUBY_SCRIPT)]),
        ("ruby", ["ruby", str(ACTIVEJOB_SCRIPT), "roundtrip", "-", "-"]),
        ("ruby", list(harness.RUBY_SCHEDULER)),  # resque-scheduler (conftest.py)
        ("node", None),  # the images' own CMD
        ("actionhero", None),
        ("ruby", None),
    ],
    ids=["stringify.js", "dump_json.rb", "activejob.rb", "scheduler.rb", "node", "ah", "ruby"],
)
def test_each_command_names_a_file_the_image_copies_into_its_workdir(
    layouts: dict[str, tuple[Image, Path]], kind: str, argv: list[str] | None
) -> None:
    image, root = layouts[kind]
    inner = containers.image_paths(argv) if argv else image.cmd
    assert inner[0] == image.cmd[0], f"{kind}: the image runs {image.cmd[0]}, not {inner[0]}"
    script = PurePosixPath(image.workdir, inner[1])  # an absolute path stays as it is
    assert script.parent == PurePosixPath(image.workdir), script
    assert in_root(root, str(script)).is_file(), f"{kind}: the image has no {script}"


def test_the_context_leaves_host_installs_out_of_the_images(
    layouts: dict[str, tuple[Image, Path]],
) -> None:
    for kind in ("node", "actionhero"):
        image, root = layouts[kind]
        workdir = in_root(root, image.workdir)
        assert (workdir / "package-lock.json").is_file()
        assert not (workdir / "node_modules").exists()  # .dockerignore: npm ci makes it
        assert (root / "interop" / "jsonlines.js").is_file()  # require("../jsonlines")
    staged = {
        p.relative_to(root).as_posix() for _, root in layouts.values() for p in root.rglob("*")
    }
    assert not [p for p in staged if p.endswith(".py") or "__pycache__" in p], staged


# -- the pins agree everywhere --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["node", "actionhero"])
def test_node_images_install_node_resque_from_the_committed_lockfile(kind: str) -> None:
    image = _plan(kind)
    install = next(i for i, s in enumerate(image.steps) if isinstance(s, Run))
    before = image.steps[install - 1]
    assert isinstance(before, dockerfile.Copy) and before.dest.rstrip("/") == image.workdir
    assert set(before.sources) == {f"{kind}/package.json", f"{kind}/package-lock.json"}
    run = image.steps[install]
    assert isinstance(run, Run) and run.command.startswith("npm ci ")  # the lockfile, exactly
    lock = json.loads((HERE / kind / "package-lock.json").read_text())
    package = json.loads((HERE / kind / "package.json").read_text())
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"]["node_modules/node-resque"]["version"] == NODE_RESQUE
    if kind == "actionhero":
        assert lock["packages"]["node_modules/actionhero"]["version"] == ACTIONHERO
    header = image.path.read_text().splitlines()[0]
    assert (ACTIONHERO if kind == "actionhero" else NODE_RESQUE) in header


def test_node_version_defaults_agree_with_containers_and_the_workflow() -> None:
    defaults = {kind: _plan(kind).base for kind in ("node", "actionhero")}
    assert len(set(defaults.values())) == 1, defaults
    (base,) = set(defaults.values())
    version = re.fullmatch(r"node:(\d+)\.\d+\.\d+-bookworm-slim", base)
    assert version, base
    major = version.group(1)
    # containers' default is the Dockerfiles' own: it passes no NODE_VERSION unless asked.
    assert "NODE_VERSION" not in _build_args(containers.build_args("node", {})[1])
    assert "PYRESQUE_NODE_VERSION" not in _job("interop-containers")
    for job in ("ci-run", "interop-ruby"):  # the peers' Node outside containers
        assert f'node-version: "{major}"' in _job(job), job
    assert re.search(rf'^\s+node: "{major}"$', _job("matrix"), re.M)
    readme = (HERE / "README.md").read_text()
    assert f"`NODE_VERSION={base.split(':')[1].split('-')[0]}`" in readme


def test_ruby_image_pins_are_ruby_pins_and_what_the_workflow_passes() -> None:
    plain = dockerfile.plan(containers.DOCKERFILES / "ruby.Dockerfile", {})
    assert {k: plain.args[k] for k in containers.RUBY_PINS["2.7"]} == containers.RUBY_PINS["2.7"]
    for version, pins in containers.RUBY_PINS.items():
        gems = _gem_pins(_plan("ruby", {"PYRESQUE_RUBY_RESQUE": version}))
        expected = {"resque": pins["RESQUE_VERSION"], "resque-scheduler": pins["SCHEDULER_VERSION"]}
        if pins["ACTIVEJOB_VERSION"]:
            expected["activejob"] = pins["ACTIVEJOB_VERSION"]
        assert gems == {**expected, **RUBY_IMAGE_GEMS}, version
    containers_job = _job("interop-containers")
    assert f"ruby_resque: {json.dumps(list(containers.RUBY_PINS))}" in containers_job
    assert "PYRESQUE_RUBY_RESQUE: ${{ matrix.ruby_resque }}" in containers_job
    entries = re.findall(
        r'- resque: "([^"]*)"\s+scheduler: "([^"]*)"\s+activejob: "([^"]*)"', _job("interop-ruby")
    )
    assert entries == [
        (p["RESQUE_VERSION"], p["SCHEDULER_VERSION"], p["ACTIVEJOB_VERSION"])
        for p in containers.RUBY_PINS.values()
    ]
    ruby = re.fullmatch(r"ruby:(\d+\.\d+)\.\d+-bookworm", plain.base)
    assert ruby and f'ruby-version: "{ruby.group(1)}"' in _job("interop-ruby")


# -- dry builds: the image's files, install and CMD, answering over Redis ----------------------


def _npm_ci(step: Run, root: Path) -> None:
    """The RUN step's ``npm ci`` in the staged WORKDIR (its ``npm cache clean`` only
    shrinks the image: not run, it would empty this machine's npm cache)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH: no dry build of the node images")
    first, *rest = [part.strip() for part in step.command.split("&&")]
    assert first.startswith("npm ci ") and rest == ["npm cache clean --force"], step.command
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **step.env}
    done = subprocess.run(
        shlex.split(first), cwd=in_root(root, step.workdir), env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        said = done.stdout + done.stderr
        if any(code in said for code in NETWORK_ERRORS):
            pytest.skip(f"npm cannot reach its registry for the dry build: {said[-300:]}")
        pytest.fail(f"{step.command} failed in the staged image:\n{said[-4000:]}")


@contextmanager
def _dry_peer(
    kind: str, run_step: Callable[[Run, Path], None], folder: Path, redis_url: str, **env: str
) -> Iterator[Peer]:
    """Image ``kind`` staged under ``folder`` (each RUN step handed to ``run_step``), its
    CMD started in its WORKDIR with its ENV, REDIS_URL and ``env``; closed afterwards."""
    image, root = _plan(kind), folder / "root"
    if shutil.which(image.cmd[0]) is None:
        pytest.skip(f"{image.cmd[0]} is not on PATH: no dry build of the {kind} image")
    dockerfile.stage(image, HERE, root, lambda step: run_step(step, root))
    (folder / "home").mkdir()
    full = {"PATH": os.environ["PATH"], "HOME": str(folder / "home"), **image.env, **env}
    full["REDIS_URL"] = redis_url
    peer = Peer(image.cmd, env=full, cwd=in_root(root, image.workdir), label=f"dry {kind}")
    try:
        yield peer
    finally:
        peer.close()


def test_node_image_dry_build_answers_over_redis(
    tmp_path: Path, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    with _dry_peer("node", _npm_ci, tmp_path, redis_url) as peer:
        ns = resque_namespace
        enqueued = peer.call("queue", namespace=ns, method="enqueue", args=["q", "add", [1, 2]])
        assert enqueued is True
        assert resque_redis.lrange(f"{ns}:queue:q", 0, -1) == [
            b'{"class":"add","queue":"q","args":[1,2]}'
        ]
        assert peer.call("queue", namespace=ns, method="length", args=["q"]) == 1


def test_actionhero_image_dry_build_boots_and_enqueues(
    tmp_path: Path, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    with _dry_peer("actionhero", _npm_ci, tmp_path, redis_url) as peer:
        options = {"scheduler": False, "minTaskProcessors": 0, "maxTaskProcessors": 0}
        info = peer.call("start", namespace=resque_namespace, **options)
        assert info["running"] and info["actionheroVersion"] == ACTIONHERO
        assert peer.call("task", method="enqueue", args=["jsRecord", {"id": 1}]) is True
        assert resque_redis.lrange(f"{resque_namespace}:queue:default", 0, -1) == [
            b'{"class":"jsRecord","queue":"default","args":[{"id":1,"note":"from-default"}]}'
        ]
        assert peer.call("stop") is True


def _gem_install_stand_in(step: Run, root: Path) -> None:
    """The Ruby image's RUN steps: its ``gem install`` is RUBYLIB's resque (whose versions
    the test has matched to the pins); its user creation needs root and is not run."""
    if "gem install" in step.command or step.command.startswith("groupadd "):
        return
    pytest.fail(f"a RUN step the dry build does not know: {step.command}")


def test_ruby_image_dry_build_answers_over_redis(
    tmp_path: Path, redis_url: str, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    versions = _rubylib_versions()
    if set(versions) != {"resque", "resque-scheduler"}:
        pytest.skip("RUBYLIB has no resque + resque-scheduler (interop/README.md): no stand-in")
    chosen = [
        key
        for key, pins in containers.RUBY_PINS.items()
        if (pins["RESQUE_VERSION"], pins["SCHEDULER_VERSION"])
        == (versions["resque"], versions["resque-scheduler"])
    ]
    assert chosen, f"RUBYLIB's {versions} is none of RUBY_PINS {containers.RUBY_PINS}"
    gems = _gem_pins(_plan("ruby", {"PYRESQUE_RUBY_RESQUE": chosen[0]}))
    assert {gem: gems[gem] for gem in versions} == versions
    rubylib = os.environ["RUBYLIB"]
    with _dry_peer("ruby", _gem_install_stand_in, tmp_path, redis_url, RUBYLIB=rubylib) as peer:
        said = peer.call("version")
        assert said == {"resque": versions["resque"], "scheduler": versions["resque-scheduler"]}
        job = {"class": "Py::Job", "args": [1]}
        assert peer.call("enqueue", namespace=resque_namespace, queue="q", **job)
        assert resque_redis.lrange(f"{resque_namespace}:queue:q", 0, -1) == [
            b'{"class":"Py::Job","args":[1]}'
        ]
        assert peer.call("size", namespace=resque_namespace, queue="q") == 1
