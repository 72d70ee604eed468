"""The ``pyresque`` command: enqueue jobs, show queue status, run workers and schedulers, run
app nodes, generate app files, run the demo.

The parser (:mod:`pyresque.cli.parser`) is built without importing the machinery; the
command that runs is looked up in its one table, ``COMMANDS``, and imported then.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from pyresque.cli.options import one_line, usage_error
from pyresque.cli.parser import build_parser, command_of

__all__ = ["guarded", "main"]


def _interrupted() -> int:
    print("pyresque: interrupted", file=sys.stderr)
    return 130


def _failed(message: str) -> int:
    print(f"pyresque: {one_line(message)}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status. Whatever goes wrong ends in one line on
    stderr: 2 for options that cannot work, 1 for a refusal or a Redis error of any kind,
    130 for Ctrl-C."""
    for stream in (sys.stdout, sys.stderr):  # names and values that are no UTF-8, escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        options = build_parser().parse_args(argv)
        # Imported once the command line is understood: --help and refusals need none of it.
        import redis.exceptions  # noqa: F401
    except KeyboardInterrupt:
        return _interrupted()
    return guarded(lambda: command_of(options.command)(options))


def guarded(run: Callable[[], int]) -> int:
    """``run()``'s exit status, or, when it raises, the one line on stderr and the exit
    status :func:`main` gives for that error (also each worker process's own exit)."""
    import redis.exceptions

    from pyresque.errors import PyresqueError, UsageError

    try:
        return int(run())
    except KeyboardInterrupt:
        return _interrupted()
    except UsageError as exc:
        return usage_error(str(exc))
    except PyresqueError as exc:  # RedisReplyError and ConnectionFailedError among them
        return _failed(str(exc))
    except redis.exceptions.RedisError as exc:  # from a client of the app's own
        return _failed(f"Redis error ({type(exc).__name__}): {exc}")
