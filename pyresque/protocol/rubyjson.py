"""JSON exactly as Ruby resque writes it: ``MultiJson.dump`` with the json gem or Oj.

Ruby resque encodes every payload with ``MultiJson.dump``; which library does the work
depends on what is installed. ``adapter="json"`` is the json gem (``JSON.generate``,
what a plain ``gem install resque`` ends up with); ``adapter="oj"`` is Oj 3.x in
MultiJson's compat mode (what Debian's ruby-multi-json picks when ruby-oj is present).
Measured against json 2.6.1, Oj 3.14.2 and multi_json 1.14.1 on Ruby 3.1
(``spec/vectors/json-ruby.json``):

* keys keep insertion order (a Ruby Hash never moves integer-like keys);
* strings: both libraries escape exactly ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and the
  other C0 controls as lowercase ``\\u00XX``; DEL, U+2028/2029, ``/`` and all other
  non-ASCII text are written raw as UTF-8 - the same rules as JavaScript;
* floats, json gem: ``Float#to_s``, i.e. the shortest round-trip digits written as a
  decimal (always with a fractional part: ``2.0``) when ``1e-4 <= |x| < 1e16``, except
  that integral values from ``1e15`` up use the exponent form; otherwise
  ``d.ddde+XX`` with at least two exponent digits (``1.0e+20``, ``1.0e-05``);
  ``-0.0`` stays ``-0.0``;
* floats, Oj: ``0.0`` for both zeros; an integral float that converts to a signed
  64-bit integer is written as its exact integer digits plus ``.0``
  (``1e16`` -> ``10000000000000000.0``, ``-2.0**63`` -> ``-9223372036854775808.0``,
  but ``2.0**63`` -> ``9.223372036854776e+18``); any other float as ``Float#to_s``;
* NaN and the infinities: both libraries raise ``JSON::GeneratorError``; so does this
  module, with :class:`~pyresque.errors.PayloadEncodeError`;
* Python ints of any size are written exactly, as Ruby writes an Integer.

A valid Ruby UTF-8 string cannot hold a lone surrogate, so Ruby offers no answer for
the Python strings that do; they are written as ``\\udXXX`` escapes, as JavaScript
does, and a high surrogate followed by a low one is written as the character they
encode.
"""

from __future__ import annotations

import math
from typing import Literal

from pyresque.errors import ConfigurationError, PayloadEncodeError
from pyresque.protocol.jsjson import (
    FloatFix,
    FloatStr,
    _encode,
    _encode_each,
    _EncodeFailure,
    _NeedsSlowPath,
)

__all__ = ["RubyAdapter", "ruby_dumps", "ruby_dumps_each", "ruby_float"]

RubyAdapter = Literal["json", "oj"]

_INT64_MIN = -(2**63)
_INT64_END = 2**63


def _float_to_s(x: float) -> str:
    """Ruby's ``Float#to_s`` for a finite float."""
    r = float.__repr__(x)
    if "e" in r:  # repr switches to an exponent below 1e-4 and from 1e16, as Ruby does
        mantissa, _, exp = r.partition("e")
        return r if "." in mantissa else f"{mantissa}.0e{exp}"
    if r.endswith(".0") and abs(x) >= 1e15:
        # Ruby also uses the exponent for integral values in [1e15, 1e16).
        sign, digits = ("-", r[1:-2]) if x < 0 else ("", r[:-2])
        digits = digits.rstrip("0")
        return f"{sign}{digits[0]}.{digits[1:] or '0'}e+15"
    return r


def _oj_float(x: float) -> str:
    if x == 0.0:
        return "0.0"
    # Oj prints a float that survives a round trip through int64 as that integer.
    if x.is_integer() and _INT64_MIN <= x < _INT64_END:
        return f"{int(x)}.0"
    return _float_to_s(x)


def _json_gem_float_for_c(x: float) -> object:
    # repr(x) is already Float#to_s in this range, and for both zeros.
    if 1e-4 <= abs(x) < 1e15 or x == 0.0:
        return x
    raise _NeedsSlowPath


def _oj_float_for_c(x: float) -> object:
    # Integral floats below 1e16 are their exact digits + ".0", as in repr.
    if 1e-4 <= abs(x) < 1e16:
        return x
    if x == 0.0:
        return 0.0  # Oj drops the sign of -0.0
    raise _NeedsSlowPath


def _refusing(fmt: FloatStr) -> FloatStr:
    def checked(x: float) -> str:
        if math.isfinite(x):
            return fmt(x)
        raise _EncodeFailure(
            f"cannot encode float {x!r}: Ruby's JSON generators raise GeneratorError for it"
        )

    return checked


_FORMATS: dict[str, tuple[FloatStr, FloatFix]] = {
    "json": (_refusing(_float_to_s), _json_gem_float_for_c),
    "oj": (_refusing(_oj_float), _oj_float_for_c),
}


def _adapter_formats(adapter: str) -> tuple[FloatStr, FloatFix]:
    try:
        return _FORMATS[adapter]
    except KeyError:
        raise ConfigurationError(f"adapter must be 'json' or 'oj', not {adapter!r}") from None


def ruby_float(x: float, adapter: RubyAdapter = "json") -> str:
    """The text ``MultiJson.dump`` writes for the float ``x`` with ``adapter``.

    Raises :class:`~pyresque.errors.PayloadEncodeError` for NaN and the infinities.
    """
    float_str, _ = _adapter_formats(adapter)
    try:
        return float_str(float(x))
    except _EncodeFailure as exc:
        raise PayloadEncodeError(exc.message) from None


def ruby_dumps(value: object, *, adapter: RubyAdapter = "json") -> bytes:
    """UTF-8 bytes of ``MultiJson.dump(value)`` in Ruby resque.

    ``adapter`` is ``"json"`` (the json gem) or ``"oj"`` (Oj in compat mode). Raises
    :class:`~pyresque.errors.PayloadEncodeError` for anything that is not JSON,
    NaN and the infinities included, naming what and where (``$[2]["b"]``).
    """
    float_str, fix = _adapter_formats(adapter)
    return _encode(value, float_str, fix, False)


def ruby_dumps_each(values: list[object], *, adapter: RubyAdapter = "json") -> list[bytes]:
    """``[ruby_dumps(v, adapter=adapter) for v in values]``, faster; the first value that
    cannot be encoded raises as :func:`ruby_dumps` would."""
    float_str, fix = _adapter_formats(adapter)
    return _encode_each(values, float_str, fix, False)
