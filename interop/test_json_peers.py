"""Differential tests: pyresque's JSON encoders against the live peers.

One long-lived peer per module: ``interop/node/stringify.js`` (Node's
``JSON.stringify``) and ``interop/ruby/dump_json.rb`` (Ruby's ``MultiJson.dump``, once
per adapter). Hypothesis generates values; each one must come out byte-identical.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop import containers, harness
from interop.json_peer import NODE_SCRIPT, RUBY_SCRIPT, JsonPeer
from pyresque.errors import PayloadEncodeError
from pyresque.protocol.jsjson import js_dumps
from pyresque.protocol.rubyjson import RubyAdapter, ruby_dumps

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _start(tool: str, argv: list[str], env: dict[str, str] | None = None) -> JsonPeer:
    if containers.enabled():
        reason = harness._containers_unavailable()
        if reason is not None:
            pytest.skip(reason)
        argv, env = harness.peer_command(tool, argv, env)  # its image's interpreter
    elif shutil.which(tool) is None:
        pytest.skip(f"{tool} is not on PATH; the {tool} JSON peer cannot run")
    try:
        return JsonPeer(argv, env)
    except RuntimeError as exc:
        adapter = "".join(f" ({value})" for value in (env or {}).values())
        harness.DIAGNOSTICS[f"the {tool} JSON peer{adapter}"] = str(exc)
        pytest.skip(f"the {tool} JSON peer did not start (-v shows why)")


@pytest.fixture(scope="module")
def node() -> Iterator[JsonPeer]:
    peer = _start("node", ["node", str(NODE_SCRIPT)])
    yield peer
    peer.close()


@pytest.fixture(scope="module", params=["json", "oj"])
def ruby(request: pytest.FixtureRequest) -> Iterator[tuple[RubyAdapter, JsonPeer]]:
    adapter: RubyAdapter = request.param
    env = {"JSON_ADAPTER": "json_gem" if adapter == "json" else "oj"}
    peer = _start("ruby", ["ruby", str(RUBY_SCRIPT)], env)
    yield adapter, peer
    peer.close()


# -- strategies ---------------------------------------------------------------------------

EDGE_FLOATS = [
    0.0, -0.0, 1e21, 999999999999999900000.0, 1e-7, 9.99e-7, 1e-6, 1e-4, 1e-5, 1e15,
    999999999999999.9, 1000000000000000.5, 1e16, 2.0**53, 2.0**63, -(2.0**63), 9.3e18,
    5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1 + 0.2,
    562949953421312.75, 2.0**49 + 0.25,  # shortest-digit ties: the even digit wins
]  # fmt: skip

finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(EDGE_FLOATS),
    # Few significant digits at every decimal exponent: the layout boundaries.
    st.builds(
        lambda sign, digits, exp: sign * float(f"{digits}e{exp}"),
        st.sampled_from([1, -1]),
        st.integers(1, 10**17),
        st.integers(-40, 25),
    ),
    st.integers(-(2**64), 2**64).map(float),
)


def _text(surrogates: bool) -> st.SearchStrategy[str]:
    chars = [
        st.characters(exclude_categories=["Cs"]),
        st.characters(max_codepoint=0x7F),
        st.sampled_from(["\x7f", "\u2028", "\u2029", "/", '"', "\\", "\U0001f600", "\ufeff"]),
    ]
    if surrogates:
        chars.append(st.characters(categories=["Cs"]))
    return st.text(st.one_of(*chars), max_size=12)


def _js_string(s: str) -> str:
    # What the string is to JavaScript: adjacent surrogate halves form one character.
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _keys(surrogates: bool) -> st.SearchStrategy[str]:
    return st.one_of(
        _text(surrogates).map(_js_string),
        st.integers(0, 2**32 + 2).map(str),
        st.sampled_from(["0", "01", "-1", "1.5", "4294967294", "4294967295", "1e3", "\u0661"]),
    )


def _values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=16,
    )


node_values = _values(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | finite_floats
    | _text(surrogates=True),
    _keys(surrogates=True),
)
ruby_values = _values(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**200), 2**200)
    | finite_floats
    | _text(surrogates=False),
    _keys(surrogates=False),
)


def _tag(number: float) -> str:
    # The peers read {"$nonfinite": ...} as the number JSON cannot carry.
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


# -- node ---------------------------------------------------------------------------------


@EXAMPLES
@given(value=node_values)
def test_js_dumps_is_byte_identical_to_node_json_stringify(node: JsonPeer, value: Any) -> None:
    assert js_dumps(value) == node.dump(value)


@EXAMPLES
@given(numbers=st.lists(finite_floats, min_size=1, max_size=40))
def test_js_dumps_writes_every_float_as_node_does(node: JsonPeer, numbers: list[float]) -> None:
    assert js_dumps(numbers) == node.dump(numbers)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_js_dumps_non_finite_null_matches_node(node: JsonPeer, number: float) -> None:
    tagged = {"$nonfinite": _tag(number)}
    assert js_dumps([1, number], non_finite="null") == node.dump([1, tagged])


# -- ruby ---------------------------------------------------------------------------------


@EXAMPLES
@given(value=ruby_values)
def test_ruby_dumps_is_byte_identical_to_multijson_dump(
    ruby: tuple[RubyAdapter, JsonPeer], value: Any
) -> None:
    adapter, peer = ruby
    assert ruby_dumps(value, adapter=adapter) == peer.dump(value)


@EXAMPLES
@given(numbers=st.lists(finite_floats, min_size=1, max_size=40))
def test_ruby_dumps_writes_every_float_as_ruby_does(
    ruby: tuple[RubyAdapter, JsonPeer], numbers: list[float]
) -> None:
    adapter, peer = ruby
    assert ruby_dumps(numbers, adapter=adapter) == peer.dump(numbers)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_ruby_dumps_refuses_non_finite_like_ruby(
    ruby: tuple[RubyAdapter, JsonPeer], number: float
) -> None:
    adapter, peer = ruby
    answer = peer.dump({"x": [{"$nonfinite": _tag(number)}]})
    assert isinstance(answer, str)
    assert answer.startswith("JSON::GeneratorError")
    with pytest.raises(PayloadEncodeError, match=r'at \$\["x"\]\[0\]'):
        ruby_dumps({"x": [number]}, adapter=adapter)
