"""Loading the golden vectors in spec/vectors (recordings of what the real peers wrote)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document


def cases(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load(name)["cases"]
    return found
