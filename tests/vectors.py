"""Loading the golden vectors in spec/vectors (recordings of what the real peers wrote)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyresque.errors import PayloadDecodeError

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"

Outcome = bytes | str
"""What a vector (or Redis) records: the bytes written, or the error's message."""


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document


def cases(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load(name)["cases"]
    return found


def outcome(model: Callable[..., bytes], *args: Any) -> Outcome:
    """What ``model(*args)`` returns, or the message of the PayloadDecodeError it raises."""
    try:
        return model(*args)
    except PayloadDecodeError as exc:
        return str(exc)
