"""Running test code in several threads at once, or in a forked child."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable


def run_in_threads(work: Callable[[int], None], count: int = 8) -> None:
    """Call ``work(n)`` for n in range(count), each in its own thread, started together;
    the first error any of them raised is raised here."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def run_in_fork(work: Callable[[], str]) -> str:
    """Call ``work()`` in a forked child and return the text it returned; fails if the
    child raised or exited otherwise."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            os.write(write_end, work().encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"the forked child failed (status {status})"
    return text
