"""The supervisor's pure parts: how a child's death is described, and what it refuses."""

from __future__ import annotations

import pytest

from pyresque.errors import ConfigurationError
from pyresque.worker.processes import Supervisor, exit_reason


def test_a_childs_death_is_described_in_ruby_resques_words() -> None:
    assert exit_reason(16863, -9) == (
        "Child process received unhandled signal pid 16863 SIGKILL (signal 9)"
    )
    assert (
        exit_reason(12, -11) == "Child process received unhandled signal pid 12 SIGSEGV (signal 11)"
    )
    assert exit_reason(12, 3) == "Child process exited unexpectedly pid 12 exit 3"


def test_a_supervisor_of_no_processes_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="processes: expected 1 or more"):
        Supervisor(0, lambda index: 0)
