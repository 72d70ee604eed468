"""pyresque.protocol.rubyjson: Ruby resque's MultiJson.dump bytes, json gem and Oj."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.errors import PayloadEncodeError
from pyresque.protocol.jsjson import _SlowEncoder, _to_bytes, js_dumps, loads
from pyresque.protocol.rubyjson import RubyAdapter, ruby_dumps, ruby_float

VECTORS = Path(__file__).resolve().parents[3] / "spec" / "vectors" / "json-ruby.json"
RUBY_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="ascii"))["cases"]
ADAPTERS: list[RubyAdapter] = ["json", "oj"]


def _golden(kind: str) -> list[Any]:
    return [
        pytest.param(case[kind][adapter], case["input"], adapter, id=f"{adapter}:{case['input']}")
        for case in RUBY_CASES
        for adapter in ADAPTERS
        if adapter in case.get(kind, {})
    ]


# -- golden vectors recorded from Ruby 3.1 / multi_json / json gem / Oj -------------------


def test_ruby_vectors_cover_the_tricky_cases() -> None:
    inputs = {case["input"] for case in RUBY_CASES}
    assert len(RUBY_CASES) >= 60
    assert {"1e+16", "1000000000000000.0", "-0.0", "9.3e+18", "18446744073709551616"} <= inputs


@pytest.mark.parametrize(("output", "text", "adapter"), _golden("output"))
def test_ruby_dumps_writes_what_ruby_recorded(output: str, text: str, adapter: RubyAdapter) -> None:
    assert ruby_dumps(json.loads(text), adapter=adapter) == output.encode("utf-8")


@pytest.mark.parametrize(("error", "text", "adapter"), _golden("error"))
def test_ruby_dumps_refuses_what_ruby_refused(error: str, text: str, adapter: RubyAdapter) -> None:
    assert error.startswith("JSON::GeneratorError")
    with pytest.raises(PayloadEncodeError, match="GeneratorError"):
        ruby_dumps(json.loads(text), adapter=adapter)


# -- floats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "json_gem", "oj"),
    [
        (0.0, "0.0", "0.0"),
        (-0.0, "-0.0", "0.0"),
        (2.0, "2.0", "2.0"),
        (0.0001, "0.0001", "0.0001"),
        (1e-5, "1.0e-05", "1.0e-05"),
        (999999999999999.9, "999999999999999.9", "999999999999999.9"),
        (1e15, "1.0e+15", "1000000000000000.0"),
        (1234567890123456.0, "1.234567890123456e+15", "1234567890123456.0"),
        (1234567890123456.8, "1234567890123456.8", "1234567890123456.8"),
        (1e16, "1.0e+16", "10000000000000000.0"),
        (2.0**62, "4.611686018427388e+18", "4611686018427387904.0"),
        (9.3e18, "9.3e+18", "9.3e+18"),
        (2.0**63, "9.223372036854776e+18", "9.223372036854776e+18"),
        (-(2.0**63), "-9.223372036854776e+18", "-9223372036854775808.0"),
        (1e20, "1.0e+20", "1.0e+20"),
        (1e100, "1.0e+100", "1.0e+100"),
        (5e-324, "5.0e-324", "5.0e-324"),
        (0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"),
    ],
)
def test_ruby_float_per_adapter(number: float, json_gem: str, oj: str) -> None:
    assert ruby_float(number, "json") == json_gem
    assert ruby_float(number, "oj") == oj


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_ruby_float_refuses_non_finite(number: float, adapter: RubyAdapter) -> None:
    with pytest.raises(PayloadEncodeError, match="GeneratorError"):
        ruby_float(number, adapter)


def _shortest_digits(x: float) -> Decimal:
    """Shortest decimal reading back as ``x``; the closest, then the even. Not via repr()."""
    exact = Decimal(x)
    for precision in range(1, 18):
        rounded = Decimal(f"{x:.{precision - 1}e}")
        step = Decimal(1).scaleb(rounded.adjusted() - precision + 1)
        near = [c for c in (rounded - step, rounded, rounded + step) if c and float(c) == x]
        if near:
            best = min(near, key=lambda c: (abs(c - exact), c.scaleb(-step.adjusted()) % 2))
            return best.normalize()
    raise AssertionError(f"no 17-digit decimal reads back as {x!r}")  # pragma: no cover


def _reference_float_to_s(x: float) -> str:
    """Ruby's Float#to_s as measured (spec/vectors/json-ruby.json), built from Decimal."""
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    value = _shortest_digits(abs(x))
    sign = "-" if x < 0 else ""
    digits = "".join(map(str, value.as_tuple().digits))
    point = value.adjusted() + 1  # digits before the decimal point
    if -3 <= point <= 15 or (point == 16 and len(digits) == 17):
        fixed = format(value, "f")
        return sign + (fixed if "." in fixed else fixed + ".0")
    exponent = value.adjusted()
    return (
        f"{sign}{digits[0]}.{digits[1:] or '0'}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    )


def _reference_oj(x: float) -> str:
    if x == 0:
        return "0.0"
    if x == int(x) and -(2**63) <= int(x) < 2**63:
        return f"{int(x)}.0"
    return _reference_float_to_s(x)


boundary_floats = st.builds(
    lambda sign, digits, exp: sign * float(f"{digits}e{exp}"),
    st.sampled_from([1, -1]),
    st.integers(1, 10**17),
    st.integers(-30, 25),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False) | boundary_floats


@settings(max_examples=500)
@given(finite_floats)
def test_json_gem_floats_agree_with_an_independent_reference(x: float) -> None:
    assert ruby_float(x, "json") == _reference_float_to_s(x)
    assert float(ruby_float(x, "json")) == x


@settings(max_examples=500)
@given(finite_floats | st.integers(-(2**64), 2**64).map(float))
def test_oj_floats_agree_with_an_independent_reference(x: float) -> None:
    assert ruby_float(x, "oj") == _reference_oj(x)
    assert float(ruby_float(x, "oj")) == x


# -- strings, keys, integers --------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_strings_are_escaped_exactly_as_javascript_does(adapter: RubyAdapter) -> None:
    text = "".join(map(chr, range(0x20))) + '"\\/\x7f\u2028\u2029é\U0001f600</script>'
    assert ruby_dumps(text, adapter=adapter) == js_dumps(text)
    assert ruby_dumps(text, adapter=adapter) == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        b'\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/'
        + "\x7f\u2028\u2029é\U0001f600</script>".encode()
        + b'"'
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_lone_surrogates_are_escaped_as_in_javascript(adapter: RubyAdapter) -> None:
    assert ruby_dumps(["\ud800", "\ud83d\ude00"], adapter=adapter) == (
        b'["\\ud800","' + "\U0001f600".encode() + b'"]'
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_keys_keep_insertion_order_even_when_integer_like(adapter: RubyAdapter) -> None:
    value = {"b": 1, "2": 2, "1": 3, "0": 4}
    assert ruby_dumps(value, adapter=adapter) == b'{"b":1,"2":2,"1":3,"0":4}'


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_integers_of_any_size_are_exact(adapter: RubyAdapter) -> None:
    big = 3**20000  # about 9500 digits: past Python's default str() limit
    expected = b"[" + _digits(big).encode() + b",-18446744073709551616]"
    assert ruby_dumps([big, -(2**64)], adapter=adapter) == expected


def _digits(n: int) -> str:
    pieces = []
    while n:
        n, low = divmod(n, 10**100)
        pieces.append(f"{low:0100d}")
    return "".join(reversed(pieces)).lstrip("0")


def test_the_callers_value_is_never_modified() -> None:
    value: dict[str, Any] = {"z": [-0.0, (1e15,)], "1": 2.5}
    before = repr(value)
    assert ruby_dumps(value, adapter="oj") == b'{"z":[0.0,[1000000000000000.0]],"1":2.5}'
    assert ruby_dumps(value, adapter="json") == b'{"z":[-0.0,[1.0e+15]],"1":2.5}'
    assert repr(value) == before


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_non_finite_floats_are_refused_with_their_path(adapter: RubyAdapter) -> None:
    with pytest.raises(PayloadEncodeError, match=r'GeneratorError for it at \$\["a"\]\[1\]'):
        ruby_dumps({"a": [1.0, math.nan]}, adapter=adapter)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: 2}, r"dict key 1 \(int\) is not a str at \$"),
        ([frozenset()], r"frozenset is not a JSON value at \$\[0\]"),
        ({"x": object()}, r'object is not a JSON value at \$\["x"\]'),
    ],
)
def test_values_that_are_not_json_are_refused(
    adapter: RubyAdapter, value: Any, message: str
) -> None:
    with pytest.raises(PayloadEncodeError, match=message):
        ruby_dumps(value, adapter=adapter)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_circular_structures_are_refused(adapter: RubyAdapter) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = [loop]
    with pytest.raises(PayloadEncodeError, match="circular reference"):
        ruby_dumps(loop, adapter=adapter)


def test_an_unknown_adapter_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="adapter"):
        ruby_dumps(1, adapter="yajl")


# -- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | finite_floats
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.text() | st.integers(0, 99).map(str), kids, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=200)
@given(value=json_values)
def test_fast_path_and_pure_python_encoder_agree(adapter: RubyAdapter, value: Any) -> None:
    slow = _SlowEncoder(lambda x: ruby_float(x, adapter), js_keys=False).encode(value)
    assert ruby_dumps(value, adapter=adapter) == _to_bytes(slow)


def _same(read: Any, written: Any, adapter: RubyAdapter) -> bool:
    """Equal with the same types and key order; Oj alone loses the sign of -0.0."""
    if isinstance(written, float):
        signs_match = math.copysign(1, read) == math.copysign(1, written) or adapter == "oj"
        return type(read) is float and read == written and signs_match
    if isinstance(written, list):
        return (
            isinstance(read, list)
            and len(read) == len(written)
            and all(_same(r, w, adapter) for r, w in zip(read, written, strict=True))
        )
    if isinstance(written, dict):
        return (
            isinstance(read, dict)
            and list(read) == list(written)
            and all(_same(read[k], v, adapter) for k, v in written.items())
        )
    return type(read) is type(written) and read == written


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=200)
@given(value=json_values)
def test_output_reads_back_as_the_same_value(adapter: RubyAdapter, value: Any) -> None:
    assert _same(loads(ruby_dumps(value, adapter=adapter)), value, adapter)
