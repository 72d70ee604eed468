"""Log lines worth reading: where an exception was raised, a JSON formatter, and the one
call that sets logging up for a process (what ``--log-level`` and ``--log-format`` do).

pyresque logs on the ``pyresque.*`` loggers. Structured lines carry their fields as
attributes of the record (``logging``'s ``extra``): a worker's per-job lines have
``queue``, ``class``, ``duration_ms``, ``outcome`` and, for a failure, ``exception`` and
``where`` (see ``spec/logs.md``). :class:`JsonFormatter` writes them out as one JSON
object per line; the text format shows them in the message.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import sysconfig
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from pyresque.errors import ConfigurationError

__all__ = [
    "LOG_FORMATS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogFormat",
    "configure_logging",
    "where_raised",
]

LogFormat = Literal["text", "json"]
"""The formats :func:`configure_logging` installs."""

LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
"""The values ``--log-format`` takes."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The text format of a line (what ``pyresque worker`` has always printed)."""

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep
_LIBRARY = tuple(
    str(Path(p).resolve()) + os.sep
    for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    if p
)


def _relative(filename: str) -> str:
    """A file name relative to the current directory when it lies under it."""
    if filename.startswith("<"):
        return filename
    try:
        shown = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if shown.startswith("..") else shown


def _is_library(filename: str) -> bool:
    """Python's own modules (``<frozen importlib...>`` too) and pyresque's."""
    if filename.startswith("<"):
        return True
    resolved = str(Path(filename).resolve())
    return resolved.startswith(_PACKAGE) or resolved.startswith(_LIBRARY)


def where_raised(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised in the caller's own code, or ``""``.

    The innermost frame of its traceback that is neither Python's standard library nor
    pyresque (so a job's line, not ``asyncio``'s or the thread pool's; a ``--jobs``
    module's line, not ``importlib``'s); the innermost frame of all when every frame is
    one of those. A :exc:`SyntaxError` names the file and line of the bad source. A file
    under the current directory is shown relative to it.
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{_relative(exc.filename)}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return ""
    own = [f for f in frames if not _is_library(f.filename)]
    frame = (own or frames)[-1]
    return f"{_relative(frame.filename)}:{frame.lineno}"


# The attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
# pyresque's own extra names, as the JSON document spells them.
_RENAMED: Mapping[str, str] = {"pyresque_event": "event", "pyresque_source": "source"}


def _plain(value: Any) -> Any:
    """A value JSON can hold as itself; anything else as its ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC, ms), ``level``, ``logger``,
    ``message``, then the record's structured fields (``event``, ``source``, ``worker``,
    ``queue``, ``class``, ``duration_ms``, ``outcome``, ``exception``, ``where``,
    ``error`` ... whatever ``extra`` gave it), and ``traceback`` when the record carries
    an exception. Non-ASCII text is written as is; a value JSON cannot hold, as its
    ``str``."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The record's message as a text line would show it (not used by :meth:`format`)."""
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                document.setdefault(_RENAMED.get(name, name), _plain(value))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            document.setdefault("exception", type(exc).__name__)
            document.setdefault("where", where_raised(exc))
            document["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["traceback"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class _Installed(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (and replaces when called again)."""


def configure_logging(
    level: int | str = "info", fmt: str = "text", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Log at ``level`` and above to ``stream`` (default: standard error) as ``fmt``:
    ``"text"`` (:data:`TEXT_FORMAT`) or ``"json"`` (:class:`JsonFormatter`).

    Sets the root logger's level and installs one handler on it, replacing the one an
    earlier call installed (handlers installed otherwise are left alone). Returns the
    handler. ConfigurationError for an unknown level or format.
    """
    if fmt not in LOG_FORMATS:
        raise ConfigurationError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    if isinstance(level, str):
        found = logging.getLevelNamesMapping().get(level.strip().upper())
        if found is None:
            raise ConfigurationError(f"unknown log level {level!r}")
        level = found
    handler = _Installed(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Installed)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
