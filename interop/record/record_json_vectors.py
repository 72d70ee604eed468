"""Record the golden JSON vectors from the real peers.

Writes ``spec/vectors/json-node.json`` (Node's ``JSON.stringify``) and
``spec/vectors/json-ruby.json`` (Ruby's ``MultiJson.dump`` with the json gem and with
Oj). Each case's ``input`` is the value as Python ``json.dumps`` text (``json.loads``
rebuilds it exactly, NaN and Infinity included); ``output`` is the exact text the peer
wrote, or ``error`` what it raised. Run from the repository root::

    .venv/bin/python interop/record/record_json_vectors.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from interop.json_peer import NODE_SCRIPT, RUBY_SCRIPT, JsonPeer  # noqa: E402

VECTORS = ROOT / "spec" / "vectors"
RUBY_ADAPTERS = {"json": "json_gem", "oj": "oj"}


def _number_cases() -> list[Any]:
    return [
        0, 1, -1, 7, 2**31, 2**32, 2**53 - 1, 2**53, -(2**53),
        0.0, -0.0, 1.0, -1.0, 2.0, 2.5, 100.0, 0.1, 0.5, -0.75, 0.1 + 0.2, 1 / 3, 4.35,
        123456789.123456789, 1e-4, 9.999999999999999e-05, 1e-5, 1.5e-5, 1e-6, 1.5e-6,
        9.99e-7, 1e-7, 1.5e-7, 1.2345e-7, 1e-8, 123e-20,
        1e14, 999999999999999.9, 1e15, 1000000000000000.5, 1234567890123456.8,
        1234567890123456.0, -1e15, 9007199254740992.0, 9007199254740994.0, 1e16, 1.5e16,
        12345678901234567.0, 562949953421312.75, 2.0**49 + 0.25, 2251799813685250.5,
        1e17, 2.0**60, 2.0**62, 9.2e18, 9.3e18, 2.0**63, -(2.0**63),
        2.0**64, 1e20, 123456789012345680000.0, 999999999999999900000.0, 1e21, 1.5e21, 1e22,
        1e100, -1e100, 1.5e300, 5e-324, -5e-324, 1e-323, 2.2250738585072014e-308,
        1.7976931348623157e308, -1.7976931348623157e308,
        math.nan, math.inf, -math.inf, [1.0, math.nan, 2],
    ]  # fmt: skip


def _string_cases(surrogates: bool) -> list[Any]:
    controls = "".join(chr(c) for c in range(0x20))
    cases: list[Any] = [
        "", "plain", controls, '"quoted" \\ backslash', "\x7f", "\u2028\u2029", "/", "</script>",
        "é", "\u00a0\u0085", "\ufeff", "\uffff", "\U0001f600", "mixed \U0001f600 é \n \x01",
        "\U0010ffff", "tab\tnew\nline\rret\x08bs\x0cff", "\x00", "\x1f", " ", "'single'",
        "\\u0041 is not an escape here",
    ]  # fmt: skip
    if surrogates:
        cases += ["\ud800", "\udfff", "a\udbffb", "\udc00\ud800", "x\ud83d", "\ude00y"]
    return cases


def _structure_cases(index_keys: bool) -> list[Any]:
    cases: list[Any] = [
        None, True, False, [], {}, [[]], [{}], {"": ""}, {"a": []}, [None, True, False],
        {"b": 1, "a": 2, "c": 3},
        {"class": "Job", "queue": "q", "args": [1, "two", {"three": 3.5}]},
        {"class": "Job", "args": [{"when": 1700000000.0, "ratio": 0.25}]},
        [[[[[[1]]]]]],
        {"k\n\x01\"/\u2028": ["\U0001f600"]},
        {"b": 1, "2": 2, "1": 3, "0": 4, "a": 5},
        {"10": 1, "9": 2, "01": 3, "-1": 4, "1.5": 5, "1e3": 6, " 1": 7, "+1": 8},
        {"4294967295": 1, "4294967294": 2, "4294967296": 3, "x": 4},
        [{"z": 1, "3": 2}, {"y": {"2": 1, "1": 2}}],
        {"\u0661": 1, "1": 2},
        {"99999999999": 1, "12": 2},
    ]  # fmt: skip
    if not index_keys:
        return cases
    return cases + [{"0": 0, "00": 1, "0.0": 2}]


def _ruby_only_cases() -> list[Any]:
    return [
        2**63 - 1, -(2**63), 2**64, -(2**64), 10**30, -(10**30), 3**100,
        [2**70, 1.0, "x"], {"big": 10**25, "f": 1e15},
    ]  # fmt: skip


def record_node() -> dict[str, Any]:
    peer = JsonPeer(["node", str(NODE_SCRIPT)])
    cases = []
    values = _number_cases() + _string_cases(True) + _structure_cases(True)
    for value in values:
        output, error = peer.ask(value)
        case: dict[str, Any] = {"input": json.dumps(value, ensure_ascii=True)}
        if error is None:
            case["output"] = output
        else:
            case["error"] = error
        cases.append(case)
    peer.close()
    about = (
        "JSON.stringify(value) as Node writes it. input: the value as Python json.dumps text "
        "(json.loads rebuilds it; NaN/Infinity included); output: the exact text written; "
        "error: what was thrown. Recorded by interop/record/record_json_vectors.py."
    )
    return {"about": about, "recorded_with": peer.versions, "cases": cases}


def record_ruby() -> dict[str, Any]:
    peers = {
        name: JsonPeer(["ruby", str(RUBY_SCRIPT)], {"JSON_ADAPTER": env})
        for name, env in RUBY_ADAPTERS.items()
    }
    values = _number_cases() + _ruby_only_cases() + _string_cases(False) + _structure_cases(False)
    cases = []
    for value in values:
        case: dict[str, Any] = {"input": json.dumps(value, ensure_ascii=True)}
        for name, peer in peers.items():
            output, error = peer.ask(value)
            if error is None:
                case.setdefault("output", {})[name] = output
            else:
                case.setdefault("error", {})[name] = error
        cases.append(case)
    for peer in peers.values():
        peer.close()
    recorded_with = {name: peer.versions for name, peer in peers.items()}
    about = (
        "MultiJson.dump(value) as Ruby resque writes it, per adapter (json: the json gem; "
        "oj: Oj in compat mode). input: the value as Python json.dumps text (json.loads "
        "rebuilds it; NaN/Infinity included); output/error: per adapter, the exact text "
        "written or what was raised. Recorded by interop/record/record_json_vectors.py."
    )
    return {"about": about, "recorded_with": recorded_with, "cases": cases}


def _write(path: Path, document: dict[str, Any]) -> None:
    # ASCII on disk: control characters and lone surrogates stay visible escapes.
    path.write_text(json.dumps(document, ensure_ascii=True, indent=1) + "\n", encoding="ascii")
    print(f"wrote {len(document['cases'])} cases to {path.relative_to(ROOT)}")


def main() -> int:
    VECTORS.mkdir(parents=True, exist_ok=True)
    _write(VECTORS / "json-node.json", record_node())
    _write(VECTORS / "json-ruby.json", record_ruby())
    return 0


if __name__ == "__main__":
    sys.exit(main())
