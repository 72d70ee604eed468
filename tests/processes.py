"""CLI subprocesses whose stderr the tests read line by line, and a Redis that never answers."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path


class LoggedProcess:
    """``argv`` in a subprocess (stdout discarded); its stderr collected line by line.
    ``session``: in a session (and process group) of its own, as a terminal's job."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        session: bool = False,
    ) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=None if env is None else dict(env),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=session,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def logged(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:  # a failed test's leftover: ours, by its pid
            self.proc.kill()
        self.wait()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
