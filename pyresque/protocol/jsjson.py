"""JSON exactly as JavaScript's ``JSON.stringify`` (V8, Node 20) writes it, and a strict reader.

node-resque stores every payload as ``JSON.stringify(value)``; pyresque must write the
same bytes so that both sides see identical queue entries, lock keys and failure
records. Differences from Python's :func:`json.dumps` that matter:

* numbers use ECMAScript ``Number::toString``: ``1.0`` -> ``1``, ``1e16`` ->
  ``10000000000000000``, ``1e21`` -> ``1e+21``, ``1e-7`` -> ``1e-7``, ``-0.0`` -> ``0``;
* object keys that are array indices (``"0"`` ... ``"4294967294"`` in canonical form)
  come first, in ascending numeric order, then the rest in insertion order;
* lone surrogates are written as ``\\udXXX`` escapes (well-formed ``JSON.stringify``).
  A Python string holding a high surrogate followed by a low one is, to JavaScript,
  one astral character, and is written as that character's UTF-8.

Deliberate departures from JavaScript: Python ints are written exactly, whatever their
size (JavaScript would first round them to a double), and NaN/Infinity raise
:class:`~pyresque.errors.PayloadEncodeError` unless ``non_finite="null"`` asks for
JavaScript's ``null``. Anything that is not JSON (sets, bytes, non-str keys, cycles)
raises too, where ``JSON.stringify`` would silently drop or coerce it.

Speed: a value is written by the C encoder of :mod:`json` whenever that gives the
peer's bytes, after a pass that copies only what must change (``1.0`` -> ``1``,
array-index keys first). Floats outside ``1e-4 <= |x| < 1e16``, NaN/Infinity, subclasses
of the JSON types and errors take a small pure-Python encoder instead.
:mod:`pyresque.protocol.rubyjson` reuses both with Ruby's number rules.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Callable
from typing import Literal, TypeAlias, cast

from pyresque.errors import (
    ArgumentError,
    ConfigurationError,
    PayloadDecodeError,
    PayloadEncodeError,
)

__all__ = ["JSONValue", "js_dumps", "js_dumps_each", "js_number", "loads"]

# Tuples are accepted on input and written as arrays; loads() never returns one.
JSONValue: TypeAlias = (
    None | bool | int | float | str
    | list["JSONValue"] | tuple["JSONValue", ...] | dict[str, "JSONValue"]
)  # fmt: skip

NonFinite = Literal["error", "null"]
# Formats a float as the peer does (or raises _EncodeFailure for it).
FloatStr = Callable[[float], str]
# Returns what the C encoder may write instead of a float, or raises _NeedsSlowPath.
FloatFix = Callable[[float], object]

# Deeper values skip the fast path; the slow encoder then finds cycles precisely.
_FAST_DEPTH = 300
_MAX_ARRAY_INDEX = 2**32 - 2
_SURROGATE = re.compile("[\ud800-\udfff]")

# The C versions are private names of json.encoder, None on builds without _json.
_encode_str: Callable[[str], str] = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)


def _make_fast_encoder() -> Callable[[object], str]:
    # The C encoder object without markers: callers guarantee an acyclic value.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has _json
        enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return enc.encode
    c_enc = make(None, None, _encode_str, None, ":", ",", False, False, False)

    def encode(value: object) -> str:
        return "".join(c_enc(value, 0))

    return encode


_fast_encode = _make_fast_encoder()


class _EncodeFailure(Exception):  # noqa: N818 - internal, never escapes
    """Raised inside the encoder; collects the path while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _render_path(path: list[str]) -> str:
    return "$" + "".join(reversed(path))


def _int_digits(n: int) -> str:
    """Exact decimal digits of ``n``, even past ``sys.get_int_max_str_digits()``."""
    try:
        return int.__repr__(n)
    except ValueError:
        pass
    if n < 0:
        return "-" + _int_digits(-n)
    # Below the smallest limit Python allows (640), so each piece converts.
    chunk = 10**600
    pieces: list[str] = []
    while n >= chunk:
        n, low = divmod(n, chunk)
        pieces.append(int.__repr__(low).zfill(600))
    pieces.append(int.__repr__(n))
    return "".join(reversed(pieces))


def _fix_surrogates(text: str) -> bytes:
    """UTF-8 of ``text`` with surrogate pairs joined and lone surrogates escaped."""
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", joined).encode("utf-8")


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # only surrogates can fail, and only inside strings
        return _fix_surrogates(text)


def _is_array_index(key: str) -> bool:
    if key == "0":
        return True
    return (
        "1" <= key[:1] <= "9"
        and key.isascii()
        and key.isdigit()
        and len(key) <= 10
        and int(key) <= _MAX_ARRAY_INDEX
    )


def _js_key_order(keys: list[str]) -> list[str]:
    index = sorted((k for k in keys if _is_array_index(k)), key=int)
    if not index:
        return keys
    rest = [k for k in keys if not _is_array_index(k)]
    return index + rest


class _NeedsSlowPath(Exception):  # noqa: N818 - internal control flow
    """The C encoder cannot write this value as the peer would."""


def _prepare(value: object, fix: FloatFix, js_keys: bool) -> object:
    """``value``, or a copy of it, that the C encoder writes exactly as the peer does.

    Containers are copied only where something changes: a float ``fix`` swaps for an
    equivalent (``1.0`` -> ``1`` for JavaScript), or, with ``js_keys``, a dict whose
    array-index keys JavaScript would move first. Raises :class:`_NeedsSlowPath` for
    anything else (other types, non-str keys, floats ``fix`` refuses, deep nesting).
    """
    if type(value) is dict:
        return _prepare_dict(value, fix, js_keys, 0)
    if type(value) is list or type(value) is tuple:
        return _prepare_list(value, fix, js_keys, 0)
    if type(value) is float:
        return fix(value)
    if type(value) is str or type(value) is int or type(value) is bool or value is None:
        return value
    raise _NeedsSlowPath


def _prepare_item(item: object, fix: FloatFix, js_keys: bool, depth: int) -> object:
    if type(item) is float:
        return fix(item)
    if depth >= _FAST_DEPTH:  # maybe a cycle: the slow encoder tells
        raise _NeedsSlowPath
    if type(item) is dict:
        return _prepare_dict(item, fix, js_keys, depth + 1)
    if type(item) is list or type(item) is tuple:
        return _prepare_list(item, fix, js_keys, depth + 1)
    raise _NeedsSlowPath


def _prepare_list(
    seq: list[object] | tuple[object, ...], fix: FloatFix, js_keys: bool, depth: int
) -> object:
    copy: list[object] | None = None
    for i, item in enumerate(seq):
        t = type(item)
        if t is str or t is int or t is bool or item is None:
            continue
        new = _prepare_item(item, fix, js_keys, depth)
        if new is not item:
            if copy is None:
                copy = list(seq)
            copy[i] = new
    return seq if copy is None else copy


def _prepare_dict(d: dict[object, object], fix: FloatFix, js_keys: bool, depth: int) -> object:
    copy: dict[object, object] | None = None
    reorder = False
    for key, item in d.items():
        if type(key) is not str:
            raise _NeedsSlowPath
        if js_keys and key < ":" and _is_array_index(key):  # cheap pre-test: first char <= "9"
            reorder = True
        t = type(item)
        if t is str or t is int or t is bool or item is None:
            continue
        new = _prepare_item(item, fix, js_keys, depth)
        if new is not item:
            if copy is None:
                copy = dict(d)
            copy[key] = new
    if reorder:
        source = d if copy is None else copy
        return {k: source[k] for k in _js_key_order(cast("list[str]", list(source)))}
    return d if copy is None else copy


def _encode(value: object, float_str: FloatStr, fix: FloatFix, js_keys: bool) -> bytes:
    """Shared entry point of the JavaScript and Ruby encoders."""
    try:
        return _to_bytes(_fast_encode(_prepare(value, fix, js_keys)))
    except (_NeedsSlowPath, ValueError, RecursionError):
        pass  # ValueError: an int past the str-digits limit; the slow path copes
    try:
        return _to_bytes(_SlowEncoder(float_str, js_keys).encode(value))
    except _EncodeFailure as exc:
        raise PayloadEncodeError(f"{exc.message} at {_render_path(exc.path)}") from None
    except RecursionError:
        raise PayloadEncodeError("value is nested too deeply to encode") from None


def _encode_each(
    values: list[object], float_str: FloatStr, fix: FloatFix, js_keys: bool
) -> list[bytes]:
    """:func:`_encode` of each value (a bulk enqueue's args, one per job): the same
    bytes, with the per-call overhead paid once."""
    fast, prepare, to_bytes = _fast_encode, _prepare, _to_bytes
    out: list[bytes] = []
    append = out.append
    for value in values:
        try:
            append(to_bytes(fast(prepare(value, fix, js_keys))))
        except (_NeedsSlowPath, ValueError, RecursionError):
            append(_encode(value, float_str, fix, js_keys))
    return out


class _SlowEncoder:
    """Pure-Python encoder for what the C encoder would write differently."""

    def __init__(self, float_str: FloatStr, js_keys: bool) -> None:
        self.float_str = float_str
        self.js_keys = js_keys
        self.out: list[str] = []
        self.active: set[int] = set()  # containers on the current path, for cycles

    def encode(self, value: object) -> str:
        self.value(value)
        return "".join(self.out)

    def value(self, v: object) -> None:
        # Containers are dispatched here, not in scalar(): one Python frame per level.
        if isinstance(v, list | tuple):
            self.array(v)
        elif isinstance(v, dict):
            self.object(v)
        else:
            self.scalar(v)

    def scalar(self, v: object) -> None:
        if isinstance(v, str):
            self.out.append(_encode_str(v))
        elif v is None:
            self.out.append("null")
        elif isinstance(v, bool):
            self.out.append("true" if v else "false")
        elif isinstance(v, int):
            self.out.append(_int_digits(v))
        elif isinstance(v, float):
            self.out.append(self.float_str(v))
        else:
            raise _EncodeFailure(f"{type(v).__qualname__} is not a JSON value")

    def enter(self, container: object) -> None:
        if id(container) in self.active:
            raise _EncodeFailure("circular reference")
        self.active.add(id(container))

    def array(self, v: list[object] | tuple[object, ...]) -> None:
        # value()'s dispatch is repeated inline here and in object(): one frame per level
        # keeps deep documents within Python's recursion limit.
        self.enter(v)
        self.out.append("[")
        i = 0
        try:
            for i, item in enumerate(v):
                if i:
                    self.out.append(",")
                if isinstance(item, list | tuple):
                    self.array(item)
                elif isinstance(item, dict):
                    self.object(item)
                else:
                    self.scalar(item)
        except _EncodeFailure as exc:
            exc.path.append(f"[{i}]")
            raise
        self.out.append("]")
        self.active.discard(id(v))

    def object(self, v: dict[object, object]) -> None:
        self.enter(v)
        keys: list[str] = []
        for key in v:
            if not isinstance(key, str):
                raise _EncodeFailure(f"dict key {key!r} ({type(key).__qualname__}) is not a str")
            keys.append(key)
        if self.js_keys:
            keys = _js_key_order(keys)
        self.out.append("{")
        key = ""
        try:
            for n, key in enumerate(keys):
                if n:
                    self.out.append(",")
                self.out.append(_encode_str(key))
                self.out.append(":")
                item = v[key]
                if isinstance(item, list | tuple):
                    self.array(item)
                elif isinstance(item, dict):
                    self.object(item)
                else:
                    self.scalar(item)
        except _EncodeFailure as exc:
            exc.path.append(f"[{_encode_str(key)}]")
            raise
        self.out.append("}")
        self.active.discard(id(v))


# -- JavaScript numbers -----------------------------------------------------------------


def _decimal_parts(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``|x|`` (finite, non-zero) and where the point goes.

    ``|x| == 0.DIGITS * 10**point``. Python's repr picks the same shortest, closest
    digits as V8 and Ruby; only the layout differs.
    """
    mantissa, _, exp = float.__repr__(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    return significant.rstrip("0"), point


def _js_float(x: float) -> str:
    if x == 0.0:
        return "0"
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    r = float.__repr__(x)
    if "e" not in r:  # repr's decimal range (1e-4 <= |x| < 1e16) is inside JS's
        return r[:-2] if r.endswith(".0") else r
    digits, n = _decimal_parts(x)
    sign = "-" if x < 0 else ""
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def js_number(x: int | float) -> str:
    """``String(x)`` in JavaScript: ``1.0`` -> ``"1"``, ``1e21`` -> ``"1e+21"``.

    Python ints give their exact digits (JavaScript would round past 2**53).
    NaN and the infinities give ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    """
    if isinstance(x, bool):
        raise ArgumentError("js_number() takes an int or a float, not a bool")
    if isinstance(x, int):
        return _int_digits(x)
    if isinstance(x, float):
        return _js_float(x)
    raise ArgumentError(f"js_number() takes an int or a float, not {type(x).__qualname__}")


def _js_float_for_c(x: float) -> object:
    if 1e-4 <= abs(x) < 1e16:  # repr's decimal range, where it is JS's text but for ".0"
        # An integral double below 1e16 is written by JS as its exact integer.
        return int(x) if x.is_integer() else x
    if x == 0.0:
        return 0
    raise _NeedsSlowPath


def _js_float_or_fail(x: float) -> str:
    if math.isfinite(x):
        return _js_float(x)
    raise _EncodeFailure(
        f"cannot encode float {x!r}: JSON has no NaN/Infinity "
        "(JavaScript would write null; pass non_finite='null' to accept that)"
    )


def _js_float_or_null(x: float) -> str:
    return _js_float(x) if math.isfinite(x) else "null"


def js_dumps(value: object, *, non_finite: NonFinite = "error") -> bytes:
    """UTF-8 bytes of ``JSON.stringify(value)`` as Node 20 writes them.

    ``non_finite="error"`` refuses NaN and the infinities; ``"null"`` writes ``null``
    for them as JavaScript does. Raises :class:`PayloadEncodeError` for anything
    that is not JSON, naming what and where (``$[2]["b"]``).
    """
    if non_finite == "error":
        float_str = _js_float_or_fail
    elif non_finite == "null":
        float_str = _js_float_or_null
    else:
        raise ConfigurationError(f"non_finite must be 'error' or 'null', not {non_finite!r}")
    return _encode(value, float_str, _js_float_for_c, True)


def js_dumps_each(values: list[object], *, non_finite: NonFinite = "error") -> list[bytes]:
    """``[js_dumps(v, non_finite=non_finite) for v in values]``, faster; the first value
    that cannot be encoded raises as :func:`js_dumps` would."""
    if non_finite == "error":
        float_str = _js_float_or_fail
    elif non_finite == "null":
        float_str = _js_float_or_null
    else:
        raise ConfigurationError(f"non_finite must be 'error' or 'null', not {non_finite!r}")
    return _encode_each(values, float_str, _js_float_for_c, True)


# -- reading ------------------------------------------------------------------------------


class _RejectedTokenError(Exception):
    """A NaN/Infinity token; not a ValueError, so it passes json.loads untouched."""


def _reject_constant(token: str) -> object:
    raise _RejectedTokenError(f"not valid JSON: {token} is not a JSON number")


def _big_int(digits: str) -> int:
    """``int(digits)`` past ``sys.get_int_max_str_digits()``."""
    negative = digits.startswith("-")
    digits = digits.lstrip("-")
    n = 0
    for start in range(0, len(digits), 600):
        piece = digits[start : start + 600]
        n = n * 10 ** len(piece) + int(piece)
    return -n if negative else n


# One decoder for every parse: json.loads(..., parse_constant=...) builds a new one per call,
# which costs more than decoding a typical job.
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
_decode_big = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_big_int).decode


def _parse(text: str) -> JSONValue:
    try:
        result: JSONValue = _decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer literal past the str-digits limit
        result = _decode_big(text)
    return result


def loads(raw: bytes | str) -> JSONValue:
    """Parse JSON strictly: UTF-8 only, no NaN/Infinity tokens, ints kept exact.

    Otherwise :func:`json.loads` semantics (a number literal too large for a double
    becomes ``inf``, as in JavaScript). Raises :class:`PayloadDecodeError` with
    ``raw`` set.
    """
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadDecodeError(f"not valid UTF-8: {exc.reason}", raw=raw) from None
    try:
        return _parse(text)
    except _RejectedTokenError as exc:
        message = str(exc)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc}"
    except RecursionError:
        message = "not decodable: JSON nested too deeply"
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    raise PayloadDecodeError(message, raw=data)
