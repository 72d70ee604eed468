"""pyresque.protocol.jsjson: JavaScript's JSON.stringify, byte for byte, and a strict reader."""

from __future__ import annotations

import datetime
import enum
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.errors import PayloadDecodeError, PayloadEncodeError
from pyresque.protocol.jsjson import _SlowEncoder, _to_bytes, js_dumps, js_number, loads

VECTORS = Path(__file__).resolve().parents[3] / "spec" / "vectors" / "json-node.json"
NODE_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="ascii"))["cases"]


def _case_id(case: dict[str, Any]) -> str:
    text = str(case["input"])
    return text if len(text) <= 40 else text[:37] + "..."


# -- golden vectors recorded from Node 20 -------------------------------------------------


def test_node_vectors_cover_the_tricky_cases() -> None:
    inputs = {case["input"] for case in NODE_CASES}
    assert len(NODE_CASES) >= 60
    assert {"1e+21", "1e-07", "1e-06", "1e+16", "5e-324", "-0.0", '"\\ud800"'} <= inputs


@pytest.mark.parametrize("case", NODE_CASES, ids=_case_id)
def test_js_dumps_writes_what_node_recorded(case: dict[str, Any]) -> None:
    value = json.loads(case["input"])
    assert js_dumps(value, non_finite="null") == case["output"].encode("utf-8")


@pytest.mark.parametrize(
    "case", [c for c in NODE_CASES if c["output"] == "null" and c["input"] != "null"], ids=_case_id
)
def test_js_dumps_refuses_what_node_writes_as_null(case: dict[str, Any]) -> None:
    with pytest.raises(PayloadEncodeError, match="NaN/Infinity"):
        js_dumps(json.loads(case["input"]))


# -- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-2.0, "-2"),
        (0.5, "0.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (-1.5e-7, "-1.5e-7"),
        (1e16, "10000000000000000"),
        (2.0**60, "1152921504606847000"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123e-20, "1.23e-18"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (7, "7"),
        (-(2**64), "-18446744073709551616"),
    ],
)
def test_js_number_formats_like_javascript_string(number: float, text: str) -> None:
    assert js_number(number) == text


def test_js_number_writes_python_ints_exactly_past_the_digit_limit() -> None:
    big = 7 * 10**5000 + 3
    assert js_number(big) == "7" + "0" * 4999 + "3"
    assert js_number(-big) == "-" + js_number(big)


@pytest.mark.parametrize("bad", [True, "1", None, Decimal(1)])
def test_js_number_refuses_non_numbers(bad: Any) -> None:
    with pytest.raises(TypeError):
        js_number(bad)


def _shortest_digits(x: float) -> Decimal:
    """Shortest decimal reading back as ``x``; the closest, then the even (ECMA-262 6.1.6.1.20).

    Found by trying every precision with Decimal arithmetic, not through repr().
    """
    exact = Decimal(x)
    for precision in range(1, 18):
        rounded = Decimal(f"{x:.{precision - 1}e}")
        step = Decimal(1).scaleb(rounded.adjusted() - precision + 1)
        near = [c for c in (rounded - step, rounded, rounded + step) if c and float(c) == x]
        if near:
            best = min(near, key=lambda c: (abs(c - exact), c.scaleb(-step.adjusted()) % 2))
            return best.normalize()  # equally close candidates: the even last digit wins
    raise AssertionError(f"no 17-digit decimal reads back as {x!r}")  # pragma: no cover


def _reference_js_number(x: float) -> str:
    if x == 0:
        return "0"
    value = _shortest_digits(abs(x))
    sign = "-" if x < 0 else ""
    if Decimal("1e-6") <= value < Decimal("1e21"):  # ECMA-262: -6 < n <= 21
        return sign + format(value, "f")
    digits = "".join(map(str, value.as_tuple().digits))
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exponent = value.adjusted()
    return f"{sign}{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


boundary_floats = st.builds(
    lambda digits, exp: float(f"{digits}e{exp}"), st.integers(1, 10**17), st.integers(-30, 25)
)


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False) | boundary_floats)
def test_js_number_agrees_with_an_independent_reference(x: float) -> None:
    assert js_number(x) == _reference_js_number(x)
    assert float(js_number(x)) == x


# -- strings ------------------------------------------------------------------------------

SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


@pytest.mark.parametrize("code", range(0x20))
def test_c0_controls_use_short_escapes_or_lowercase_u00xx(code: int) -> None:
    char = chr(code)
    expected = SHORT_ESCAPES.get(char, f"\\u{code:04x}")
    assert js_dumps(char) == f'"{expected}"'.encode()


@pytest.mark.parametrize("char", ["\x7f", "\u2028", "\u2029", "/", "é", "\U0001f600", "\ufeff"])
def test_del_separators_slash_and_non_ascii_are_written_raw(char: str) -> None:
    assert js_dumps(char) == f'"{char}"'.encode()


def test_quote_and_backslash_are_escaped() -> None:
    assert js_dumps('a"b\\c') == b'"a\\"b\\\\c"'


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("\ud800", b'"\\ud800"'),
        ("x\udfffy", b'"x\\udfffy"'),
        ("\udc00\ud800", b'"\\udc00\\ud800"'),
        ("\ud83d\ude00", '"\U0001f600"'.encode()),  # a pair, to JavaScript one character
    ],
)
def test_lone_surrogates_are_escaped_and_pairs_joined(text: str, written: bytes) -> None:
    assert js_dumps(text) == written
    assert js_dumps({text: [text]}) == b"{" + written + b":[" + written + b"]}"


# -- structure ----------------------------------------------------------------------------


def test_output_is_compact() -> None:
    assert js_dumps({"a": [1, {"b": None}], "c": True}) == b'{"a":[1,{"b":null}],"c":true}'


def test_array_index_keys_come_first_in_numeric_order() -> None:
    value = {"b": 1, "10": 2, "2": 3, "a": 4, "0": 5, "01": 6, "-1": 7, "4294967294": 8}
    value |= {"4294967295": 9, "1.5": 10}
    assert js_dumps(value) == (
        b'{"0":5,"2":3,"10":2,"4294967294":8,"b":1,"a":4,"01":6,"-1":7,"4294967295":9,"1.5":10}'
    )


def test_non_ascii_digit_keys_are_not_array_indices() -> None:
    assert js_dumps({"\u0661": 1, "1": 2}) == '{"1":2,"\u0661":1}'.encode()


def test_tuples_are_arrays_and_empty_containers_stay_empty() -> None:
    assert js_dumps((1, (), {}, [])) == b"[1,[],{},[]]"


def test_the_same_list_twice_is_not_a_cycle() -> None:
    shared = [1]
    assert js_dumps([shared, {"x": shared}]) == b'[[1],{"x":[1]}]'


class Colour(enum.IntEnum):
    RED = 1


class Tagged(str):
    pass


def test_subclasses_of_json_types_are_written_as_their_base_values() -> None:
    assert js_dumps([Colour.RED, Tagged("t"), True]) == b'[1,"t",true]'


def test_the_callers_value_is_never_modified() -> None:
    value: dict[str, Any] = {"b": [1.0, -0.0, (2.0,)], "1": {"x": 3.0}, "0": "z"}
    before = repr(value)
    assert js_dumps(value) == b'{"0":"z","1":{"x":3},"b":[1,0,[2]]}'
    assert repr(value) == before


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (math.nan, r"at \$$"),
        ([1, {"x": [math.inf]}], r'at \$\[1\]\["x"\]\[0\]'),
        ({"k": -math.inf}, r'at \$\["k"\]'),
    ],
)
def test_non_finite_floats_are_refused_with_their_path(value: Any, where: str) -> None:
    with pytest.raises(PayloadEncodeError, match=where):
        js_dumps(value)


def test_non_finite_null_writes_null_as_javascript_does() -> None:
    assert js_dumps([math.nan, math.inf, -math.inf], non_finite="null") == b"[null,null,null]"


def test_an_unknown_non_finite_policy_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="non_finite"):
        js_dumps(1, non_finite="zero")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "a"}, r"dict key 1 \(int\) is not a str at \$"),
        ([{"a": {None: 1}}], r"dict key None \(NoneType\) is not a str at \$\[0\]\[\"a\"\]"),
        ([1, {2, 3}], r"set is not a JSON value at \$\[1\]"),
        ({"b": b"x"}, r'bytes is not a JSON value at \$\["b"\]'),
        ([datetime.date(2024, 1, 1)], r"date is not a JSON value at \$\[0\]"),
        (object(), r"object is not a JSON value at \$"),
    ],
)
def test_values_that_are_not_json_are_refused_naming_type_and_path(
    value: Any, message: str
) -> None:
    with pytest.raises(PayloadEncodeError, match=message):
        js_dumps(value)


def test_circular_structures_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(PayloadEncodeError, match=r'circular reference at \$\[1\]\["again"\]'):
        js_dumps(loop)


def test_absurdly_deep_nesting_is_refused_not_crashed() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(PayloadEncodeError, match="nested too deeply"):
        js_dumps(deep)


def test_moderately_deep_nesting_is_written() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = {"d": [deep]}
    assert js_dumps(deep) == b'{"d":[' * 300 + b"1" + b"]}" * 300


# -- properties ---------------------------------------------------------------------------


def _js_string(s: str) -> str:
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


texts = st.text(st.characters(exclude_categories=["Cs"]) | st.characters(categories=["Cs"]))
keys = texts | st.integers(0, 2**32 + 1).map(str) | st.sampled_from(["01", "-1", "0"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | boundary_floats
    | texts
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.tuples(kids, kids) | st.dictionaries(keys, kids, max_size=4)
    ),
    max_leaves=12,
)


def _as_javascript_sees_it(value: Any) -> Any:
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, list | tuple):
        return [_as_javascript_sees_it(item) for item in value]
    if isinstance(value, dict):
        return {_js_string(k): _as_javascript_sees_it(v) for k, v in value.items()}
    return value


def _same(read: Any, written: Any) -> bool:
    """Equal, except that a float may come back as the int JavaScript wrote for it."""
    if isinstance(written, float):
        return isinstance(read, int | float) and float(read) == written
    if isinstance(written, list):
        return (
            isinstance(read, list) and len(read) == len(written) and all(map(_same, read, written))
        )
    if isinstance(written, dict):
        return (
            isinstance(read, dict)
            and read.keys() == written.keys()
            and all(_same(read[k], v) for k, v in written.items())
        )
    return type(read) is type(written) and read == written


@settings(max_examples=300)
@given(json_values)
def test_loads_reads_back_what_js_dumps_wrote(value: Any) -> None:
    assert _same(loads(js_dumps(value)), _as_javascript_sees_it(value))


@settings(max_examples=300)
@given(json_values)
def test_fast_path_and_pure_python_encoder_agree(value: Any) -> None:
    assert js_dumps(value) == _to_bytes(_SlowEncoder(js_number, js_keys=True).encode(value))


@settings(max_examples=300)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(st.text().filter(lambda k: not k[:1].isdigit()), kids, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_without_floats_or_index_keys_the_output_is_pythons_compact_json(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert js_dumps(value) == expected.encode("utf-8")


# -- loads --------------------------------------------------------------------------------


def test_loads_accepts_bytes_and_str_and_keeps_big_ints_exact() -> None:
    assert loads(b'{"a":[1,2.5,"\xc3\xa9"],"n":123456789012345678901234567890}') == {
        "a": [1, 2.5, "é"],
        "n": 123456789012345678901234567890,
    }
    assert loads("[true,null]") == [True, None]


def test_loads_reads_integer_literals_past_the_digit_limit() -> None:
    assert loads("[-" + "9" * 5000 + "]") == [-(10**5000 - 1)]


def test_loads_keeps_escaped_lone_surrogates() -> None:
    assert loads(b'"\\ud800"') == "\ud800"


@pytest.mark.parametrize("token", [b"NaN", b"[Infinity]", b'{"x":-Infinity}'])
def test_loads_rejects_non_finite_tokens(token: bytes) -> None:
    with pytest.raises(PayloadDecodeError, match="not a JSON number") as caught:
        loads(token)
    assert caught.value.raw == token


@pytest.mark.parametrize("raw", [b'"\xff"', b'"\xed\xa0\x80"', b"\xc3"])
def test_loads_rejects_invalid_utf8(raw: bytes) -> None:
    with pytest.raises(PayloadDecodeError, match="UTF-8") as caught:
        loads(raw)
    assert caught.value.raw == raw


@pytest.mark.parametrize("raw", [b"", b"[1,", b"{'a':1}", b"[1] x", "\ufeff[]", '"\x01"'])
def test_loads_rejects_malformed_json(raw: bytes | str) -> None:
    with pytest.raises(PayloadDecodeError, match="not valid JSON"):
        loads(raw)


def test_loads_refuses_absurd_nesting_with_a_decode_error() -> None:
    with pytest.raises(PayloadDecodeError, match="nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)
