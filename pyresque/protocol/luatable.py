"""The hash part of a Lua 5.1 table, as Redis 7.0's embedded Lua lays it out.

``pairs``/``lua_next`` walk a table's array part and then its hash part node by node,
so the order in which cjson writes an object's keys is the order of the nodes here.
Only string keys are modelled: JSON object keys are always Lua strings, and a string
never goes to the array part. (Decoded JSON arrays are written by index, 1..n, so their
layout never shows.)

What is reproduced, from ``deps/lua/src/ltable.c`` and ``lstring.c`` of Redis 7.0.15:

* the string hash: seed = length, then ``h ^= (h << 5) + (h >> 2) + byte`` over *every*
  byte from the last to the first (Redis hashes all bytes; stock Lua 5.1 skips bytes of
  strings of 32 bytes or more, ``step = (len >> 5) + 1``), in 32-bit arithmetic;
* the main position ``hash & (size - 1)`` in a node vector whose size is a power of two
  (a fresh table has none: the shared dummy node);
* collisions: a free node is found by moving ``lastfree`` down from the end; when the
  occupant of the main position is not in its own main position it is moved to the free
  node, otherwise the new key goes to the free node, chained after the main position;
* growth: when no free node is left, the table is rebuilt with room for
  ``2 ** ceil(log2(keys + 1))`` nodes and the old nodes are re-inserted from the last
  node down to the first, then the new key is inserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Generic, TypeVar

__all__ = ["LuaTable", "lua_string_hash"]

V = TypeVar("V")

_MASK = 0xFFFFFFFF
_NONE = -1


@lru_cache(maxsize=4096)
def lua_string_hash(data: bytes) -> int:
    """Redis' ``luaS_newlstr`` hash of a Lua string (unsigned 32-bit)."""
    h = len(data) & _MASK
    for byte in reversed(data):
        h = (h ^ ((h << 5) + (h >> 2) + byte)) & _MASK
    return h


class LuaTable(Generic[V]):
    """A Lua table holding only string keys; iterating gives ``lua_next`` order.

    Keys are only ever added or overwritten (never set to nil), which is all that
    ``cjson.decode`` and the worker's pop script do.
    """

    __slots__ = ("_hashes", "_index", "_keys", "_lastfree", "_next", "_values")

    def __init__(self) -> None:
        # Zero nodes stands for Lua's shared dummy node of an empty hash part.
        self._keys: list[bytes | None] = []
        self._hashes: list[int] = []
        self._values: list[V | None] = []
        self._next: list[int] = []
        self._lastfree = 0
        # key -> node; the same answer as walking the chain from the main position
        self._index: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._index)

    @property
    def node_count(self) -> int:
        """Size of the node vector (0 while the table still uses the dummy node)."""
        return len(self._keys)

    def __setitem__(self, key: bytes, value: V) -> None:
        """``lua_rawset``: overwrite in place, else add the key (``luaH_set``)."""
        node = self._index.get(key)
        if node is None:
            node = self._new_key(key, lua_string_hash(key))
        self._values[node] = value

    def __getitem__(self, key: bytes) -> V:
        value = self._values[self._index[key]]
        assert value is not None
        return value

    def items(self) -> Iterator[tuple[bytes, V]]:
        """Pairs in ``lua_next`` order: node 0 up to the last node."""
        for key, value in zip(self._keys, self._values, strict=True):
            if key is not None and value is not None:
                yield key, value

    def keys(self) -> list[bytes]:
        return [key for key, _ in self.items()]

    # -- ltable.c -----------------------------------------------------------------------

    def _new_key(self, key: bytes, h: int) -> int:
        """``newkey``: the node for a key (of hash ``h``) not yet in the table."""
        size = len(self._keys)
        if size == 0:
            self._rehash()
            return self._new_key(key, h)
        mp = h & (size - 1)
        if self._keys[mp] is not None:
            free = self._free_position()
            if free == _NONE:
                self._rehash()
                return self._new_key(key, h)
            other = self._hashes[mp] & (size - 1)
            if other != mp:
                # The occupant is a guest here: move it out and take its place.
                while self._next[other] != mp:
                    other = self._next[other]
                self._next[other] = free
                self._move(mp, free)
                self._next[mp] = _NONE
            else:
                # The occupant is at home: the new key goes to the free node.
                self._next[free] = self._next[mp]
                self._next[mp] = free
                mp = free
        self._keys[mp] = key
        self._hashes[mp] = h
        self._values[mp] = None
        self._index[key] = mp
        return mp

    def _move(self, src: int, dst: int) -> None:
        moved = self._keys[src]
        assert moved is not None
        self._keys[dst] = moved
        self._hashes[dst] = self._hashes[src]
        self._values[dst] = self._values[src]
        self._next[dst] = self._next[src]
        self._index[moved] = dst

    def _free_position(self) -> int:
        """``getfreepos``: ``lastfree`` only moves down, so freed nodes above it stay unused."""
        while self._lastfree > 0:
            self._lastfree -= 1
            if self._keys[self._lastfree] is None:
                return self._lastfree
        return _NONE

    def _rehash(self) -> None:
        """``rehash`` + ``resize`` for string keys: all keys, plus the one coming, to the hash."""
        total = len(self._index) + 1
        size = 1 << (total - 1).bit_length()  # 2 ** ceillog2(total)
        old = list(zip(self._keys, self._hashes, self._values, strict=True))
        self._keys = [None] * size
        self._hashes = [0] * size
        self._values = [None] * size
        self._next = [_NONE] * size
        self._lastfree = size
        self._index = {}
        for key, h, value in reversed(old):
            if key is not None and value is not None:
                self._values[self._new_key(key, h)] = value
