"""Structural rules of the code base, checked rather than hoped for."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import pyresque

PACKAGE = Path(pyresque.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))

# Fragments of key names: only pyresque/protocol may spell them. A key never has a space
# after a colon: "worker: Any" (an annotation in a generated task) is no key.
KEY_FRAGMENTS = re.compile(
    r"((queue|delayed|timestamps|worker|stat):(?!\s)|:queues|delayed_queue_schedule(?!_size)|"
    r"workers:heartbeat|:failed|resque_scheduler|workerslock|pruning_dead|connection_test_key)"
)
# A pid or this host's name, in an expression: what worker names and lock values are built of.
HOST_OR_PID = re.compile(r"\b(pid|getpid|hostname|gethostname)\b")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0] if node.level == 0 else "")
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "protocol").rglob("*.py")), ids=str)
def test_protocol_package_is_sans_io(path: Path) -> None:
    assert (
        not _imports(path) & {"redis", "asyncio", "socket", "hiredis"} or path.name == "context.py"
    )


def test_protocol_context_uses_socket_only_for_the_host_name() -> None:
    source = (PACKAGE / "protocol" / "context.py").read_text()
    assert "socket.gethostname" in source
    assert "asyncio" not in source and "redis" not in source.replace("Redis", "")


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if "protocol" not in p.parts],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_protocol_package_spells_key_names(path: Path) -> None:
    assert [text for text in _literals(path) if KEY_FRAGMENTS.search(text)] == []


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if "protocol" not in p.parts],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_protocol_package_builds_names_from_host_and_pid(path: Path) -> None:
    """Worker names (``host:pid``, ``host:pid+N``, ``host+N:pid``) and scheduler lock values
    are formats the peers parse: joining a host or pid with ``:`` or ``+`` (f-string, ``%``,
    ``format``, ``+``, ``join``) or looking the host up happens in pyresque/protocol only."""
    assert _host_pid_formats(path) == []


def _host_pid_formats(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("gethostname", "getnameinfo"):
            found.append(ast.unparse(node))
        literal, parts = _format_parts(node)
        if re.search(r"[:+]", literal) and any(HOST_OR_PID.search(ast.unparse(p)) for p in parts):
            found.append(ast.unparse(node))
    return found


def _format_parts(node: ast.AST) -> tuple[str, list[ast.expr]]:
    """The literal text of a string-building expression, and what goes into it."""
    if isinstance(node, ast.JoinedStr):
        values = node.values
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        values = [node.left, node.right]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
        and isinstance(node.func.value, ast.Constant)
    ):
        values = [node.func.value, *node.args, *(k.value for k in node.keywords)]
    else:
        return "", []
    constants = [v for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return "".join(str(c.value) for c in constants), [v for v in values if v not in constants]


def _literals(path: Path) -> list[str]:
    """The string constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_nothing_sends_watch_and_only_the_driver_sends_multi() -> None:
    """Actionhero's scheduler WATCHes on the one client its queue and workers share, where
    their MULTI/EXEC can trip it. pyresque's atomic steps are scripts, or MULTI/EXEC blocks
    the driver writes to the socket in one go (nothing can come between); none WATCHes."""
    multi = []
    for path in MODULES:
        commands = {text.strip().upper() for text in _literals(path)}
        assert not commands & {"WATCH", "UNWATCH"}, path
        if "MULTI" in commands or "EXEC" in commands:
            multi.append(path.relative_to(PACKAGE).as_posix())
    assert multi == ["connection/commands.py", "connection/drivers.py"]  # commands: the ACL list
    for script in (PACKAGE / "protocol" / "lua").glob("*.lua"):
        assert not re.search(r"['\"](UN)?WATCH['\"]", script.read_text(), re.IGNORECASE)


def test_timeouts_are_asyncio_timeout_not_wait_for() -> None:
    """Python 3.11's ``asyncio.wait_for`` loses a cancellation that comes as the awaited
    thing finishes (a Ctrl-C as a connection opens: the command then waited out its reply
    timeout and exited 1, not 130). ``asyncio.timeout`` keeps it."""
    found = [
        path.relative_to(PACKAGE).as_posix()
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "wait_for"
        and isinstance(node.value, ast.Name) and node.value.id == "asyncio"
    ]  # fmt: skip
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 650


@pytest.mark.parametrize("script", sorted((PACKAGE / "protocol" / "lua").glob("*.lua")), ids=str)
def test_lua_scripts_document_their_keys_and_args(script: Path) -> None:
    header = script.read_text().split("\n\n")[0] + script.read_text()[:2000]
    body = script.read_text()
    used_keys = set(re.findall(r"KEYS\[(\d+)\]", body))
    assert "-- KEYS[" in header or not used_keys
    assert "-- ARGV" in header
    assert "Returns" in header
    # Each KEYS line names the Redis type the key must hold (the wrong-type property test
    # reads it): list, set, zset, hash, string, or "any" for keys a script only deletes.
    for line in re.findall(r"^-- KEYS\[[^\]]+\].*$", body, re.M):
        assert re.match(KEYS_LINE, line), line


KEYS_LINE = (
    r"^-- KEYS\[[^\]]+\]\s+(list|set|zset|hash|string|any)(\|(list|set|zset|hash|string))*\s"
)


def _module_imports(path: Path) -> set[str]:
    """The pyresque modules ``path`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checking = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pyresque"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # submodules
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pyresque"))
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_itself_back_through_others() -> None:
    """No import circles between modules (a package importing its own submodules in its
    __init__ is not a circle)."""
    graph = {_module_name(p): _module_imports(p) for p in MODULES}
    for name in graph:
        graph[name] = {
            target
            for target in graph[name]
            if target in graph
            and not name.startswith(target + ".")
            and not (target.startswith(name + ".") and name == target.rsplit(".", 1)[0])
        }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in graph[node]:
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    cycles = [c for c in (cycle_from(n) for n in sorted(graph)) if c]
    assert cycles == []


def test_layers_only_point_down() -> None:
    order = [
        "protocol", "connection", "definitions", "plugins", "bulk", "queue", "sync", "fleet",
        "signals", "worker", "scheduler", "activejob", "metrics", "tracing", "tasks", "web",
        "conformance", "cli", "demo", "testing",
    ]  # fmt: skip
    rank = {name: i for i, name in enumerate(order)}
    for path in MODULES:
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        layer = parts[0] if parts[0] in rank else None
        if layer is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("pyresque.")
            ):
                target = node.module.split(".")[1]
                if target in rank:
                    assert rank[target] <= rank[layer] or (layer, target) == ("cli", "demo"), (
                        f"{path.relative_to(PACKAGE)} imports pyresque.{target}"
                    )


@pytest.mark.parametrize(
    "module",
    [
        "pyresque",
        "pyresque.sync",
        "pyresque.fleet",
        "pyresque.errors",
        "pyresque.connection",
        "pyresque.testing",
        "pyresque.activejob",
        "pyresque.tasks.sync",
        "pyresque.metrics",
        "pyresque.logs",
        "pyresque.tracing",
        "pyresque.testing.peers",
        "pyresque.testing.strategies",
    ],
)
def test_public_modules_export_exactly_what_they_define(module: str) -> None:
    mod = importlib.import_module(module)
    exported = mod.__all__
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(mod, name), name
        assert not name.startswith("_") or name == "__version__"


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_every_error_derives_from_the_root() -> None:
    from pyresque import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.PyresqueError)


def _raised_names(path: Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``raise Name(...)`` / ``raise Name`` / ``raise a.Name(...)``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(target, ast.Name):
            found.append((node.lineno, target.id))
        elif isinstance(target, ast.Attribute):
            found.append((node.lineno, ast.unparse(target)))
    return found


# Raised on purpose and never meant to reach a user as an error: abstract methods, and
# argparse's own signal from a type converter (argparse turns it into a usage line), and a
# module __getattr__'s "no such name" (what getattr and hasattr expect).
# Private exceptions (a leading underscore) are raised and caught by their own module.
NOT_ERRORS = {
    "NotImplementedError",
    "StopIteration",
    "argparse.ArgumentTypeError",
    "AttributeError",
}
IMPORTABLE = [p for p in MODULES if p.name != "__main__.py"]  # that one runs the CLI


@pytest.mark.parametrize("path", IMPORTABLE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_exception_pyresque_raises_derives_from_the_root(path: Path) -> None:
    from pyresque.errors import PyresqueError

    module = importlib.import_module(_module_name(path))
    for line, name in _raised_names(path):
        if name in NOT_ERRORS or name.split(".")[-1].startswith("_"):
            continue
        found: object = module
        for part in name.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, type):
            continue  # re-raising a caught exception (a variable)
        assert issubclass(found, PyresqueError), f"{path.name}:{line} raises {name}"


def test_every_exception_class_is_defined_in_the_errors_module() -> None:
    from pyresque import errors

    for path in IMPORTABLE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                module = importlib.import_module(_module_name(path))
                cls = getattr(module, node.name, None)
                if isinstance(cls, type) and issubclass(cls, BaseException):
                    assert cls.__module__ == "pyresque.errors", f"{path.name}: {node.name}"
                    assert node.name in errors.__all__


PUBLIC_MODULES = [
    "pyresque", "pyresque.sync", "pyresque.errors", "pyresque.connection", "pyresque.testing",
    "pyresque.activejob", "pyresque.tasks", "pyresque.tasks.sync", "pyresque.worker",
    "pyresque.scheduler", "pyresque.plugins", "pyresque.metrics", "pyresque.logs",
    "pyresque.tracing", "pyresque.testing.peers", "pyresque.testing.strategies",
]  # fmt: skip


def _undocumented(module: str) -> list[str]:
    """Exported classes and functions, and their public methods and properties, with no
    docstring (an override inherits its base's)."""
    missing = []
    mod = importlib.import_module(module)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr in dir(obj):
            raw = inspect.getattr_static(obj, attr)
            public = not attr.startswith("_")
            routine = inspect.isfunction(raw) or isinstance(raw, property | classmethod)
            documented = inspect.getdoc(getattr(obj, attr)) or (
                isinstance(raw, property) and raw.__doc__
            )
            if public and routine and not documented:
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring(module: str) -> None:
    assert _undocumented(module) == []
