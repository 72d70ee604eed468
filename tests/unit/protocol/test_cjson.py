"""pyresque.protocol.cjson: Redis' Lua cjson round trip and node-resque's working-on record,
against the golden vectors in ``spec/vectors/cjson.json`` (recorded from Redis 7.0.15).
The same model against the session's real Redis, on generated documents, is in
``tests/integration/test_cjson_oracle.py``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pyresque.errors import PayloadDecodeError
from pyresque.protocol.cjson import MAX_DEPTH, cjson_reencode, cjson_string, cjson_working_on
from pyresque.protocol.luatable import LuaTable, lua_string_hash
from tests.vectors import load, outcome

VECTORS = load("cjson.json")


def _field(case: dict[str, Any], name: str) -> bytes:
    if name in case:
        return str(case[name]).encode("utf-8")
    return base64.b64decode(case[name + "_b64"])


def _case_id(case: dict[str, Any]) -> str:
    shown = repr(_field(case, "input"))
    return shown if len(shown) <= 40 else shown[:37] + "..."


# -- golden vectors -----------------------------------------------------------------------


def test_vectors_were_recorded_from_redis_7_0() -> None:
    assert VECTORS["recorded_with"]["redis_version"].startswith("7.0.")
    inputs = {_field(case, "input") for case in VECTORS["cases"]}
    assert len(VECTORS["cases"]) >= 80
    assert {b"0.3333333333333333", b"1e-7", b"1e15", b"9007199254740992", b"[]"} <= inputs


@pytest.mark.parametrize("case", VECTORS["cases"], ids=_case_id)
def test_reencode_writes_what_redis_recorded(case: dict[str, Any]) -> None:
    expected = case["error"] if "error" in case else _field(case, "output")
    assert outcome(cjson_reencode, _field(case, "input")) == expected


@pytest.mark.parametrize("case", VECTORS["working_on"], ids=lambda case: case["queue"])
def test_working_on_writes_what_redis_recorded(case: dict[str, Any]) -> None:
    got = outcome(
        cjson_working_on, case["run_at"], case["queue"], _field(case, "payload"), case["worker"]
    )
    assert got == (case["error"] if "error" in case else _field(case, "record"))


def test_the_measured_key_orders() -> None:
    assert (
        cjson_reencode(b'{"b":1,"a":2,"c":{"z":1,"y":[]},"d":{}}')
        == b'{"a":2,"d":{},"c":{"y":{},"z":1},"b":1}'
    )
    assert (
        cjson_reencode(b'{"class":"C","queue":"q","args":[]}')
        == b'{"class":"C","args":{},"queue":"q"}'
    )
    assert cjson_working_on("t", "q", b"null", "w") == (
        b'{"run_at":"t","worker":"w","payload":null,"queue":"q"}'
    )


# -- the Lua table model ------------------------------------------------------------------


def test_string_hash_uses_every_byte() -> None:
    # Stock Lua 5.1 hashes every 2nd byte of a 32..63-byte string; Redis hashes all.
    a, b = b"x" * 40, b"x" * 39 + b"y"
    assert lua_string_hash(b"") == 0
    assert lua_string_hash(a) != lua_string_hash(b)
    assert lua_string_hash(b"a") == (1 ^ ((1 << 5) + (1 >> 2) + ord("a")))


def test_node_vector_doubles_only_when_full() -> None:
    table: LuaTable[int] = LuaTable()
    sizes = []
    for i in range(9):
        table[b"k%d" % i] = i
        sizes.append(table.node_count)
    assert sizes == [1, 2, 4, 4, 8, 8, 8, 8, 16]
    table[b"k0"] = 100  # overwriting keeps the node
    assert table[b"k0"] == 100 and len(table) == 9 and table.node_count == 16


def test_string_escapes() -> None:
    assert cjson_string(bytes(range(0x20))).startswith(b'"\\u0000\\u0001')
    assert cjson_string(b'\x08\t\n\x0c\r"/\\\x7f\x80\xff') == (
        b'"\\b\\t\\n\\f\\r\\"\\/\\\\\\u007f\x80\xff"'
    )


def test_depth_limits() -> None:
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert cjson_reencode(deepest) == b"[" * (MAX_DEPTH - 1) + b"{}" + b"]" * (MAX_DEPTH - 1)
    with pytest.raises(PayloadDecodeError, match=r"too many nested data structures \(1001\)"):
        cjson_reencode(b"[" + deepest + b"]")
    # The record is one table deeper than its payload.
    with pytest.raises(PayloadDecodeError, match=r"excessive nesting \(1001\)"):
        cjson_working_on("t", "q", deepest, "w")
