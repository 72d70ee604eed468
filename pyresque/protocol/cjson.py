"""What Redis' Lua ``cjson.encode(cjson.decode(...))`` writes, byte for byte.

node-resque's worker pops a job with a Lua script that stores a "working on" record built
in Lua and written by lua-cjson (the copy vendored in Redis 7.0,
``deps/lua/src/lua_cjson.c``), so those bytes follow cjson and Lua rather than
JavaScript:

* object keys come out in Lua table order (:mod:`pyresque.protocol.luatable`);
* empty arrays and empty objects both decode to an empty Lua table, written ``{}``;
* numbers are doubles (``strtod``) written with ``%.14g``: ``1e15`` -> ``1e+15``,
  ``-0.0`` -> ``-0``, ``2**53`` -> ``9.007199254741e+15``; NaN and +-Infinity (which the
  decoder accepts as ``nan``, ``inf``, ``1e999`` ...) cannot be written: error;
* the decoder is lax where ``strtod`` is: ``+1``, ``01``, ``1.``, ``-.5``, ``0x10``,
  ``0x1p3`` are numbers; a NUL byte ends the text (anything after it is ignored), but a
  NUL in the first two bytes is refused as UTF-16/32;
* strings are bytes: raw control characters and invalid UTF-8 pass through; ``\\uXXXX``
  escapes become UTF-8 (a lone surrogate is an error); on output ``"``, ``\\``, ``/``,
  control characters and DEL are escaped (``\\/``, ``\\u007f``, ``\\u001f``, short forms
  for ``\\b \\f \\n \\r \\t``), everything else is written raw;
* nesting deeper than 1000 arrays/objects is an error, on decoding and on encoding.

Errors raise :class:`~pyresque.errors.PayloadDecodeError` whose message is cjson's own
(``Expected value but found T_END at character 1``), without Redis' script prefix.
"""

from __future__ import annotations

import math
import re
from typing import Final, NoReturn

from pyresque.errors import PayloadDecodeError
from pyresque.protocol.luatable import LuaTable

__all__ = ["MAX_DEPTH", "cjson_reencode", "cjson_string", "cjson_working_on"]

MAX_DEPTH: Final = 1000
"""cjson's default ``decode_max_depth`` and ``encode_max_depth``."""

# Token types; the names are the ones cjson puts in its error messages.
_OBJ_BEGIN, _OBJ_END, _ARR_BEGIN, _ARR_END, _STRING, _NUMBER = range(6)
_BOOLEAN, _NULL, _COLON, _COMMA, _END, _ERROR = range(6, 12)
_TOKEN_NAMES: Final = (
    "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER",
    "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END",
)  # fmt: skip
_PUNCTUATION: Final = {
    ord("{"): _OBJ_BEGIN,
    ord("}"): _OBJ_END,
    ord("["): _ARR_BEGIN,
    ord("]"): _ARR_END,
    ord(":"): _COLON,
    ord(","): _COMMA,
}
_WHITESPACE = re.compile(rb"[ \t\n\r]*")
# The common tokens in one match: punctuation, a string without escapes, a number in
# JSON's own syntax that strtod would not read further, a literal.
_FAST_TOKEN = re.compile(
    rb"[ \t\n\r]*(?:"
    rb"([][{}:,])"
    rb'|"([^"\\]*)"'
    rb"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![0-9A-Za-z.+-])"
    rb"|(true|false|null))"
)
_LITERALS: Final = {b"true": (_BOOLEAN, True), b"false": (_BOOLEAN, False), b"null": (_NULL, None)}
_PLAIN = re.compile(rb'[^"\\]*')
_ESCAPES: Final = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")

# The prefixes glibc strtod converts (tried in this order; "0x" alone reads as "0").
_STRTOD_HEX = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)
_STRTOD_DEC = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRTOD_INF = re.compile(rb"([+-]?)(?i:inf(?:inity)?)")
_STRTOD_NAN = re.compile(rb"[+-]?(?i:nan)(?:\([0-9A-Za-z_]*\))?")

_OUT_ESCAPES: Final = {
    **{c: b"\\u%04x" % c for c in range(0x20)},
    0x08: b"\\b",
    0x09: b"\\t",
    0x0A: b"\\n",
    0x0C: b"\\f",
    0x0D: b"\\r",
    ord('"'): b'\\"',
    ord("/"): b"\\/",
    ord("\\"): b"\\\\",
    0x7F: b"\\u007f",
}
_OUT_SPECIAL = re.compile(rb'[\x00-\x1f"/\\\x7f]')

_NAN_OR_INF = "Cannot serialise number: must not be NaN or Inf"

# An encoded value, or (as str) the error cjson.encode would raise on reaching it.
_Encoded = bytes | str


def cjson_string(data: bytes) -> bytes:
    """A Lua string as ``cjson.encode`` writes it."""
    return b'"' + _OUT_SPECIAL.sub(lambda m: _OUT_ESCAPES[m.group()[0]], data) + b'"'


def cjson_reencode(raw: bytes) -> bytes:
    """The bytes of ``cjson.encode(cjson.decode(raw))`` in Redis 7.0."""
    return _finish(_Decoder(raw).decode(encode_depth=0))


def cjson_working_on(run_at: str, queue: str, payload: bytes, worker: str) -> bytes:
    """The record node-resque's pop script stores for a job it took off ``queue``.

    The script fills ``{}`` with ``run_at``, ``queue``, ``payload`` (decoded) and
    ``worker`` in that order; the record is one table deeper than the payload.
    """
    record: LuaTable[_Encoded] = LuaTable()
    record[b"run_at"] = cjson_string(run_at.encode("utf-8"))
    record[b"queue"] = cjson_string(queue.encode("utf-8"))
    record[b"payload"] = _Decoder(payload).decode(encode_depth=1)
    record[b"worker"] = cjson_string(worker.encode("utf-8"))
    return _finish(_encode_object(record))


def _finish(encoded: _Encoded) -> bytes:
    if isinstance(encoded, str):
        raise PayloadDecodeError(encoded)
    return encoded


def _encode_number(number: float) -> _Encoded:
    if not math.isfinite(number):
        return _NAN_OR_INF
    return b"%.14g" % number


def _encode_array(items: list[_Encoded]) -> _Encoded:
    parts = []
    for item in items:
        if isinstance(item, str):
            return item
        parts.append(item)
    # A table with no keys is written as an object.
    return b"[" + b",".join(parts) + b"]" if parts else b"{}"


def _encode_object(table: LuaTable[_Encoded]) -> _Encoded:
    parts = []
    for key, value in table.items():
        if isinstance(value, str):
            return value
        parts.append(cjson_string(key) + b":" + value)
    return b"{" + b",".join(parts) + b"}"


class _Array:
    __slots__ = ("items",)
    end = _ARR_END
    name = "array"

    def __init__(self) -> None:
        self.items: list[_Encoded] = []

    def add(self, value: _Encoded) -> None:
        self.items.append(value)

    def close(self) -> _Encoded:
        return _encode_array(self.items)


class _Object:
    __slots__ = ("key", "table")
    end = _OBJ_END
    name = "object"

    def __init__(self) -> None:
        self.table: LuaTable[_Encoded] = LuaTable()
        self.key = b""

    def add(self, value: _Encoded) -> None:
        self.table[self.key] = value  # lua_rawset: a repeated key keeps its node

    def close(self) -> _Encoded:
        return _encode_object(self.table)


class _Decoder:
    """``json_decode`` over a Lua string, producing encoded values as it goes.

    Objects are written once their last key is in, when the table order is known; the
    flow of tokens (and so which error a bad text gets) follows cjson's recursive parser,
    kept on an explicit stack because the nesting may be 1000 deep.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        # The C parser reads a NUL-terminated buffer: a NUL byte is the end of the text.
        self.text = raw.split(b"\0", 1)[0]
        self.pos = 0
        self.encode_depth = 0

    def decode(self, *, encode_depth: int) -> _Encoded:
        """Decode everything; ``encode_depth`` tables will enclose the value on output."""
        if len(self.raw) >= 2 and (self.raw[0] == 0 or self.raw[1] == 0):
            raise PayloadDecodeError("JSON parser does not support UTF-16 or UTF-32")
        self.encode_depth = encode_depth
        value = self._value()
        kind, found, index = self._token()
        if kind != _END:
            self._expected("the end", kind, found, index)
        return value

    def _value(self) -> _Encoded:
        stack: list[_Array | _Object] = []
        kind, found, index = self._token()
        while True:
            value: _Encoded
            if kind in (_OBJ_BEGIN, _ARR_BEGIN):
                self._descend(len(stack) + 1)
                frame = _Object() if kind == _OBJ_BEGIN else _Array()
                kind, found, index = self._token()
                if kind != frame.end:
                    if isinstance(frame, _Object):
                        kind, found, index = self._key(frame, kind, found, index)
                    stack.append(frame)
                    continue
                value = self._nested(len(stack) + 1, b"{}")
            else:
                value = self._scalar(kind, found, index)
            # A value is complete: store it, and close every container it completes.
            while stack:
                frame = stack[-1]
                frame.add(value)
                kind, found, index = self._token()
                if kind == frame.end:
                    stack.pop()
                    value = self._nested(len(stack) + 1, frame.close())
                    continue
                if kind != _COMMA:
                    self._expected(f"comma or {frame.name} end", kind, found, index)
                kind, found, index = self._token()
                if isinstance(frame, _Object):
                    kind, found, index = self._key(frame, kind, found, index)
                break
            else:
                return value

    def _scalar(self, kind: int, found: object, index: int) -> _Encoded:
        if kind == _STRING:
            assert isinstance(found, bytes)
            return cjson_string(found)
        if kind == _NUMBER:
            assert isinstance(found, float)
            return _encode_number(found)
        if kind == _BOOLEAN:
            return b"true" if found else b"false"
        if kind == _NULL:
            return b"null"
        self._expected("value", kind, found, index)

    def _nested(self, depth: int, encoded: _Encoded) -> _Encoded:
        # cjson.encode checks a table's depth before writing any of its contents.
        if depth + self.encode_depth > MAX_DEPTH:
            return f"Cannot serialise, excessive nesting ({MAX_DEPTH + 1})"
        return encoded

    def _key(self, frame: _Object, kind: int, found: object, index: int) -> tuple[int, object, int]:
        """Read ``"key":`` into ``frame``; return the token that starts the value."""
        if kind != _STRING:
            self._expected("object key string", kind, found, index)
        assert isinstance(found, bytes)
        frame.key = found
        kind, found, index = self._token()
        if kind != _COLON:
            self._expected("colon", kind, found, index)
        return self._token()

    def _descend(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise PayloadDecodeError(
                f"Found too many nested data structures ({depth}) at character {self.pos}"
            )

    def _expected(self, what: str, kind: int, found: object, index: int) -> NoReturn:
        name = str(found) if kind == _ERROR else _TOKEN_NAMES[kind]
        raise PayloadDecodeError(f"Expected {what} but found {name} at character {index + 1}")

    # -- tokens: (type, value, index); an error's value is its message -------------------

    def _token(self) -> tuple[int, object, int]:
        text = self.text
        fast = _FAST_TOKEN.match(text, self.pos)
        if fast is not None:
            self.pos = fast.end()
            group = fast.lastindex
            if group == 1:
                start = fast.start(1)
                return _PUNCTUATION[text[start]], None, start
            if group == 2:
                return _STRING, fast.group(2), fast.start(2) - 1
            if group == 3:
                return _NUMBER, float(fast.group(3)), fast.start(3)
            kind, value = _LITERALS[fast.group(4)]
            return kind, value, fast.start(4)
        pos = _WHITESPACE.match(text, self.pos).end()  # type: ignore[union-attr]
        self.pos = pos
        if pos >= len(text):
            return _END, None, pos
        ch = text[pos]
        punctuation = _PUNCTUATION.get(ch)
        if punctuation is not None:
            self.pos = pos + 1
            return punctuation, None, pos
        if ch == 0x22:  # "
            return self._string(pos)
        if ch == 0x2D or 0x30 <= ch <= 0x39:  # - or digit
            return self._number(pos)
        for word, kind, value in ((b"true", _BOOLEAN, True), (b"false", _BOOLEAN, False)):
            if text.startswith(word, pos):
                self.pos = pos + len(word)
                return kind, value, pos
        if text.startswith(b"null", pos):
            self.pos = pos + 4
            return _NULL, None, pos
        # With decode_invalid_numbers on (the default), "+...", "inf..." and "nan..."
        # go to strtod too.
        if ch == 0x2B or text[pos : pos + 3].lower() in (b"inf", b"nan"):
            return self._number(pos)
        return _ERROR, "invalid token", pos

    def _number(self, pos: int) -> tuple[int, object, int]:
        text = self.text
        match = _STRTOD_HEX.match(text, pos) or _STRTOD_DEC.match(text, pos)
        if match is not None:
            literal = match.group()
            if b"x" in literal or b"X" in literal:
                try:
                    number = float.fromhex(literal.decode("ascii"))
                except OverflowError:
                    number = -math.inf if literal.startswith(b"-") else math.inf
            else:
                number = float(literal)
        elif match := _STRTOD_INF.match(text, pos):
            number = -math.inf if match.group(1) == b"-" else math.inf
        elif match := _STRTOD_NAN.match(text, pos):
            number = math.nan
        else:
            return _ERROR, "invalid number", pos
        self.pos = match.end()
        return _NUMBER, number, pos

    def _string(self, pos: int) -> tuple[int, object, int]:
        text = self.text
        out = bytearray()
        i = pos + 1
        while True:
            plain = _PLAIN.match(text, i)
            assert plain is not None
            out += plain.group()
            i = plain.end()
            if i >= len(text):
                return _ERROR, "unexpected end of string", i
            if text[i] == 0x22:
                self.pos = i + 1
                return _STRING, bytes(out), pos
            escape = text[i + 1 : i + 2]
            if escape == b"u":
                decoded = _unicode_escape(text, i)
                if decoded is None:
                    return _ERROR, "invalid unicode escape code", i
                char, i = decoded
                out += char
                continue
            simple = _ESCAPES.get(escape[0]) if escape else None
            if simple is None:
                return _ERROR, "invalid escape code", i
            out += simple
            i += 2


def _unicode_escape(text: bytes, i: int) -> tuple[bytes, int] | None:
    """The UTF-8 of the ``\\uXXXX`` (or surrogate pair) at ``i``, and where it ends."""
    if not _HEX4.match(text, i + 2):
        return None
    code = int(text[i + 2 : i + 6], 16)
    end = i + 6
    if code & 0xF800 == 0xD800:
        # Only a high surrogate followed by an escaped low one makes a character.
        if code & 0x400 or text[end : end + 2] != b"\\u" or not _HEX4.match(text, end + 2):
            return None
        low = int(text[end + 2 : end + 6], 16)
        if low & 0xFC00 != 0xDC00:
            return None
        code = 0x10000 + ((code & 0x3FF) << 10 | (low & 0x3FF))
        end += 6
    return chr(code).encode("utf-8"), end
