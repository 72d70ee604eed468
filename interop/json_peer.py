"""A JSON-encoding peer process (Node's JSON.stringify, Ruby's MultiJson.dump).

``interop/node/stringify.js`` and ``interop/ruby/dump_json.rb`` read one JSON text per
line and answer with the peer's encoding of it. Used by the encoder interop tests and by
the vector recorder.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "node" / "stringify.js"
RUBY_SCRIPT = HERE / "ruby" / "dump_json.rb"

__all__ = ["NODE_SCRIPT", "RUBY_SCRIPT", "JsonPeer", "tag_non_finite", "wire"]


def tag_non_finite(value: Any) -> Any:
    """NaN and Infinity as ``{"$nonfinite": ...}``: JSON cannot carry them to the peer."""
    if isinstance(value, float) and not math.isfinite(value):
        return {
            "$nonfinite": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        }
    if isinstance(value, list):
        return [tag_non_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: tag_non_finite(item) for key, item in value.items()}
    return value


def wire(value: Any) -> str:
    """What the peers read: ASCII JSON, floats by repr (exact), non-finite numbers tagged."""
    return json.dumps(tag_non_finite(value), ensure_ascii=True, allow_nan=False)


class JsonPeer:
    """One long-lived peer; its first line reports the versions it runs."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the peer
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, **(env or {})},
        )
        self.versions: dict[str, Any] = json.loads(self._readline())

    def _readline(self) -> bytes:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            self.stderr.seek(0)
            detail = self.stderr.read().decode(errors="replace").strip()
            raise RuntimeError(f"{self.proc.args!r} exited {self.proc.returncode}: {detail}")
        return line

    def ask(self, value: Any) -> tuple[str | None, str | None]:
        """``(output, None)``, or ``(None, error)`` when the peer's encoder raised."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(wire(value).encode("ascii") + b"\n")
        self.proc.stdin.flush()
        reply = json.loads(self._readline())
        if isinstance(reply, str):
            return reply, None
        return None, str(reply["error"])

    def dump(self, value: Any) -> bytes | str:
        """The peer's bytes for ``value``, or its error message as a str."""
        output, error = self.ask(value)
        return output.encode("utf-8") if output is not None else str(error)

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.stderr.close()
