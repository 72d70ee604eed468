"""A "dry build" of the interop peers' Dockerfiles (interop/docker/), for checking the
container mode where no Docker engine runs.

:func:`plan` reads a Dockerfile as Docker would for the few instructions these use (ARG
with defaults and ``--build-arg`` overrides, FROM, ENV, WORKDIR, COPY, RUN, USER, CMD in
exec form) and refuses any other instruction or form, so a Dockerfile that grows one
makes the dry build fail rather than silently differ. :func:`stage` lays the image's
files out under a folder exactly as its COPY steps would (the build context and its
``.dockerignore`` as Docker reads them), handing each RUN step to the caller in order.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SUPPORTED = ("ARG", "FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "CMD")

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int
    """Where it starts in the Dockerfile (1-based), for error messages."""


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    """Paths in the build context."""
    dest: str
    """Absolute in the image (a relative COPY destination is resolved against WORKDIR)."""
    into_folder: bool


@dataclass(frozen=True)
class Run:
    command: str
    """The shell form, as written (Docker does not substitute variables in it)."""
    workdir: str
    env: dict[str, str]
    """The ARG values and ENV in force: what the build's shell sees."""


@dataclass
class Image:
    """What a Dockerfile builds, step by step, under given build args."""

    path: Path
    base: str = ""
    declared_args: set[str] = field(default_factory=set)
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    cmd: list[str] = field(default_factory=list)
    steps: list[Copy | Run] = field(default_factory=list)


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # a comment inside a continued instruction is dropped too
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, value = " ".join(part for part in pending if part).partition(" ")
            found.append(Instruction(keyword.upper(), value.strip(), start))
            pending = []
    if pending:
        raise ValueError(f"the Dockerfile ends inside a continued instruction (line {start})")
    return found


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """``$NAME`` / ``${NAME}`` replaced as Docker does (unset: empty); the ``${NAME:-x}``
    forms are refused (none of the Dockerfiles uses them)."""
    if "${" in _VARIABLE.sub("", text):
        raise ValueError(f"{where}: a ${{...}} form the dry build does not read: {text!r}")
    return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def plan(path: Path, build_args: Mapping[str, str]) -> Image:
    """The image ``path`` builds with ``build_args`` (``--build-arg`` values)."""
    image = Image(path)
    global_args: dict[str, str] = {}
    for step in instructions(path.read_text(encoding="utf-8")):
        where = f"{path.name}:{step.line} {step.keyword}"
        if step.keyword not in SUPPORTED:
            raise ValueError(f"{where}: the dry build does not know this instruction")
        if step.keyword == "ARG":
            name, has_default, default = step.value.partition("=")
            image.declared_args.add(name)
            value = build_args.get(name, default if has_default else "")
            (image.args if image.base else global_args)[name] = value
        elif step.keyword == "FROM":
            if image.base:
                raise ValueError(f"{where}: one stage only")
            image.base = substitute(step.value, global_args, where)
        elif not image.base:
            raise ValueError(f"{where}: before FROM")
        else:
            _in_stage(image, step, where)
    if not image.base:
        raise ValueError(f"{path.name}: no FROM")
    return image


def _in_stage(image: Image, step: Instruction, where: str) -> None:
    """One instruction after FROM (ARG aside) applied to ``image``."""
    scope = {**image.args, **image.env}
    if step.keyword == "ENV":
        for pair in shlex.split(step.value):
            key, has_value, value = pair.partition("=")
            if not has_value:
                raise ValueError(f"{where}: only the ENV key=value form is read")
            image.env[key] = substitute(value, scope, where)
    elif step.keyword == "WORKDIR":
        image.workdir = str(PurePosixPath(image.workdir, substitute(step.value, scope, where)))
    elif step.keyword == "COPY":
        parts = shlex.split(substitute(step.value, scope, where))
        if len(parts) < 2 or any(part.startswith("--") for part in parts):
            raise ValueError(f"{where}: only COPY src... dest (no flags) is read")
        *sources, dest = parts
        folder = dest.endswith("/") or len(sources) > 1
        absolute = str(PurePosixPath(image.workdir, dest))
        image.steps.append(Copy(tuple(sources), absolute, folder))
    elif step.keyword == "RUN":
        if step.value.startswith("["):
            raise ValueError(f"{where}: only the shell form of RUN is read")
        image.steps.append(Run(step.value, image.workdir, scope))
    elif step.keyword == "USER":
        image.user = substitute(step.value, scope, where)
    else:  # CMD
        cmd = json.loads(step.value)
        if not (isinstance(cmd, list) and all(isinstance(arg, str) for arg in cmd)):
            raise ValueError(f"{where}: only the exec form of CMD is read")
        image.cmd = cmd


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over context-relative paths (``**`` any depth)."""
    out = ""
    parts = PurePosixPath(glob.strip("/")).parts
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:.*/)?"
            continue
        for char in part:
            out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        out += "" if last else "/"
    return re.compile(out)


def ignored(context: Path) -> Callable[[str], bool]:
    """Whether a context-relative path is left out by ``context/.dockerignore``: it or a
    folder above it matches a pattern (``!`` exceptions are refused: none are used)."""
    file = context / ".dockerignore"
    lines = file.read_text(encoding="utf-8").splitlines() if file.exists() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if any(pattern.startswith("!") for pattern in patterns):
        raise ValueError(f"{file}: the dry build does not read ! exceptions")
    compiled = [_pattern(pattern) for pattern in patterns]

    def check(relative: str) -> bool:
        parts = PurePosixPath(relative).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        return any(rx.fullmatch(prefix) for rx in compiled for prefix in prefixes)

    return check


def in_root(root: Path, image_path: str) -> Path:
    """Where the image's absolute ``image_path`` is under the staging folder ``root``."""
    return root / PurePosixPath(image_path).relative_to("/")


def stage(image: Image, context: Path, root: Path, run: Callable[[Run], None]) -> None:
    """Lay ``image``'s files out under ``root`` as its COPY steps would from ``context``,
    calling ``run`` for each RUN step in order (its ``workdir`` is an image path: see
    :func:`in_root`)."""
    skip = ignored(context)
    in_root(root, image.workdir).mkdir(parents=True, exist_ok=True)
    for step in image.steps:
        if isinstance(step, Run):
            in_root(root, step.workdir).mkdir(parents=True, exist_ok=True)
            run(step)
            continue
        dest = in_root(root, step.dest)
        for source in step.sources:
            relative = PurePosixPath(source).as_posix().strip("/")
            origin = context / relative
            if not origin.exists() or skip(relative):
                raise FileNotFoundError(
                    f"{image.path.name}: COPY {source}: not in the build context {context}"
                    " (or left out by its .dockerignore)"
                )
            if origin.is_dir():
                _copy_folder(origin, dest, relative, skip)
            else:
                target = dest / origin.name if step.into_folder else dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def _copy_folder(origin: Path, dest: Path, relative: str, skip: Callable[[str], bool]) -> None:
    """A COPY of a folder: its contents (not the folder itself), minus what is ignored."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(origin.iterdir()):
        inner = f"{relative}/{entry.name}"
        if skip(inner):
            continue
        if entry.is_dir() and not entry.is_symlink():
            _copy_folder(entry, dest / entry.name, inner, skip)
        else:
            shutil.copy2(entry, dest / entry.name, follow_symlinks=False)
