"""Job threads of the CLI's processes, and exiting past the ones a stop cut off."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

__all__ = ["JOB_THREAD", "exit_past_cut_off_jobs"]

JOB_THREAD = "pyresque-job"
"""Name prefix of the threads blocking jobs run in."""


def exit_past_cut_off_jobs(code: int) -> int:
    """A blocking job cut off by the stop still runs in its thread (a thread cannot be
    stopped from outside) though it is settled already, as failed or requeued: exit
    without waiting for it, as Ruby resque kills its child."""
    deadline = time.monotonic() + 0.5
    threads = [t for t in threading.enumerate() if t.name.startswith(JOB_THREAD)]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))  # idle ones exit at once
    busy = [t for t in threads if t.is_alive()]
    if not busy:
        return code
    logging.getLogger("pyresque.worker").warning(
        "%d job thread(s) still running cut-off jobs; exiting without waiting for them",
        len(busy),
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
