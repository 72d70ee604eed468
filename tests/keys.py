"""Key names as the tests spell them: joined here by hand rather than by pyresque's
``KeySpace``, so a test that reads a key by name also checks the name."""

from __future__ import annotations


def key(namespace: str, *parts: str) -> str:
    """``namespace:part:...``, the way every peer joins a key name."""
    return ":".join([namespace, *parts])
