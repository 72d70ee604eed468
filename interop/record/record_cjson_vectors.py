"""Record the golden lua-cjson vectors from a real Redis.

Writes ``spec/vectors/cjson.json``: for each input, what
``cjson.encode(cjson.decode(ARGV[1]))`` returns in Redis (or cjson's error message), and
a few records written by node-resque's pop script. Uses ``$REDIS_URL`` if set, else
starts a private ``redis-server``. Run from the repository root::

    .venv/bin/python interop/record/record_cjson_vectors.py

Bytes are stored as JSON strings when they are UTF-8 (``input``, ``output``, ...), else
base64 under the same name with ``_b64`` appended.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import redis

from pyresque.server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "spec" / "vectors" / "cjson.json"
REENCODE = "return cjson.encode(cjson.decode(ARGV[1]))"
# node-resque 9.7.1's popAndStoreJob.lua, reduced to what touches the two keys.
WORKING_ON = """local payload = redis.call('lpop', KEYS[1])
if payload then
  local rec = {}
  rec['run_at'] = ARGV[1]
  rec['queue'] = ARGV[2]
  rec['payload'] = cjson.decode(payload)
  rec['worker'] = ARGV[3]
  redis.call('set', KEYS[2], cjson.encode(rec))
end
return payload"""
PREFIX = "pyresque-cjson-vectors:"
_LUA_ERROR = re.compile(r"user_script:\d+: (.*) script: [0-9a-f]+, on @user_script:\d+\.", re.S)


def cjson_error(exc: redis.ResponseError) -> str:
    """cjson's message inside Redis' script error reply."""
    match = _LUA_ERROR.fullmatch(str(exc))
    return match.group(1) if match else str(exc)


def _long_key(seed: int) -> str:
    return "".join("abcdefghijklmnop"[(seed * 7 + i * 13) % 16] for i in range(40 + seed))


def reencode_inputs() -> list[bytes]:
    """Inputs worth pinning: key order, numbers, strings, lax syntax, errors."""
    texts = [
        # key order (Lua table layout)
        '{"b":1,"a":2,"c":{"z":1,"y":[]},"d":{}}',
        '{"class":"Echo","queue":"q","args":[1,"two",{"three":3}]}',
        '{"class":"Echo","args":[],"queue":"q"}',
        '{"a":1,"b":2,"c":3,"d":4,"e":5}',
        '{"e":5,"d":4,"c":3,"b":2,"a":1}',
        "{" + ",".join(f'"k{i}":{i}' for i in range(17)) + "}",
        "{" + ",".join(f'"key_{i:02d}":{i}' for i in range(40)) + "}",
        "{" + ",".join(f'"{_long_key(i)}":{i}' for i in range(9)) + "}",
        '{"a":1,"a":2,"b":3,"a":4}',
        '{"":0,"\\u0000":1,"\\u0000\\u0000":2}',
        '{"\\u00e9t\\u00e9":1,"\\ud83d\\ude00":2,"日本":3}',
        '{"x":{"y":{"z":{"w":[{"v":null}]}}}}',
        # empty containers
        "[]",
        "{}",
        "[[],{},[[]]]",
        '{"args":[]}',
        # numbers: %.14g of a double
        "0",
        "-0",
        "-0.0",
        "1.0",
        "100",
        "0.1",
        "0.3333333333333333",
        "12345.678901234567",
        "123456789012345",
        "100000000000000",
        "1e14",
        "1e15",
        "9007199254740992",
        "123456789012345678901234567890",
        "1e-5",
        "1e-7",
        "1.5e300",
        "5e-324",
        "1e-400",
        "1e400",
        "-1e400",
        # strtod's lax forms
        "+1",
        "01",
        "1.",
        "-.5",
        "0x10",
        "-0x1.8p1",
        "0x1p3",
        "inf",
        "-Infinity",
        "nan",
        "nan(abc)",
        "1e",
        "0x",
        "-",
        "+-1",
        ".5",
        # literals
        "true",
        "false",
        "null",
        "[null,true,false]",
        "tru",
        "nul",
        "NULL",
        # strings
        '"plain"',
        '"a/b"',
        '"quote\\" backslash\\\\ slash\\/"',
        '"\\b\\f\\n\\r\\t"',
        '"\\u0001\\u001f\\u007f\\u0080"',
        '"\\u00e9"',
        '"\\ud83d\\ude00"',
        '"\\ud83d"',
        '"\\ude00"',
        '"\\ud83d\\u0041"',
        '"\\u12"',
        '"\\x"',
        '"unterminated',
        '"\\u0000"',
        # syntax
        " [1 , 2]\t\r\n",
        "[1,2,]",
        '{"a":1,}',
        "[1 2]",
        '{"a" 1}',
        "{1:2}",
        "[1]\f",
        "1 2",
        "",
        "[",
        "{",
    ]
    raw = [text.encode("utf-8") for text in texts]
    raw += [
        b'"\x01\x1f\x7f"',  # raw control characters are accepted
        b'"\xff\xfe\xc3"',  # invalid UTF-8 passes through
        b"[1]\0trailing",  # a NUL ends the text
        b'"a\0b"',
        b"1\0",  # NUL among the first two bytes: refused as UTF-16/32
        b"[" * 1000 + b"]" * 1000,
        b"[" * 1001 + b"]" * 1001,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
    ]
    return raw


def working_on_inputs() -> list[tuple[str, str, bytes, str]]:
    """(run_at, queue, payload, worker) for the pop script."""
    run_at = "Sat Jan 02 2021 03:04:05 GMT+0000 (Coordinated Universal Time)"
    worker = "host.local:4242+1:q1,q2"
    return [
        (run_at, "q1", b'{"class":"Echo","queue":"q1","args":[]}', worker),
        (run_at, "q1", b'{"class":"Add","queue":"q1","args":[1,2.5,"three/4"]}', worker),
        (run_at, "slow/q", b'{"class":"X","queue":"slow/q","args":[{"b":1,"a":2}]}', worker),
        ("2021-01-02T03:04:05.678Z", "\u00e9", b'{"args":[9007199254740993]}', "w\x7f"),
        (run_at, "q1", b"[" * 999 + b"]" * 999, worker),
        (run_at, "q1", b"[" * 1000 + b"]" * 1000, worker),
        (run_at, "q1", b'{"class":"Bad","args":[1e999]}', worker),
        (run_at, "q1", b"not json", worker),
    ]


def _bytes_field(case: dict[str, Any], name: str, value: bytes) -> None:
    try:
        case[name] = value.decode("utf-8")
    except UnicodeDecodeError:
        case[name + "_b64"] = base64.b64encode(value).decode("ascii")


def record(client: redis.Redis) -> dict[str, Any]:
    cases = []
    for raw in reencode_inputs():
        case: dict[str, Any] = {}
        _bytes_field(case, "input", raw)
        try:
            _bytes_field(case, "output", client.eval(REENCODE, 0, raw))
        except redis.ResponseError as exc:
            case["error"] = cjson_error(exc)
        cases.append(case)
    records = []
    queue_key, working_key = PREFIX + "queue", PREFIX + "working"
    for run_at, queue, payload, worker in working_on_inputs():
        client.delete(queue_key, working_key)
        client.rpush(queue_key, payload)
        case = {"run_at": run_at, "queue": queue, "worker": worker}
        _bytes_field(case, "payload", payload)
        try:
            client.eval(WORKING_ON, 2, queue_key, working_key, run_at, queue, worker)
            stored = client.get(working_key)
            assert isinstance(stored, bytes)
            _bytes_field(case, "record", stored)
        except redis.ResponseError as exc:
            case["error"] = cjson_error(exc)
        records.append(case)
    client.delete(queue_key, working_key)
    version = client.info("server")["redis_version"]
    return {
        "recorded_with": {
            "redis_version": version,
            "reencode_script": REENCODE,
            "working_on_script": WORKING_ON,
        },
        "format": (
            "bytes are JSON strings when UTF-8, else base64 under the name + '_b64'; "
            "'error' is cjson's message without Redis' 'user_script:N:' wrapping; "
            "working_on runs working_on_script with KEYS = (a list holding payload, "
            "the record key) and ARGV = (run_at, queue, worker)"
        ),
        "cases": cases,
        "working_on": records,
    }


def main() -> int:
    url = os.environ.get("REDIS_URL")
    server = None
    if not url:
        server = RedisServer()
        url = server.start()
    try:
        client = redis.Redis.from_url(url)
        document = record(client)
        client.close()
    finally:
        if server is not None:
            server.stop()
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    # ASCII on disk: control characters and non-ASCII stay visible escapes.
    VECTORS.write_text(json.dumps(document, ensure_ascii=True, indent=1) + "\n", encoding="ascii")
    print(
        f"wrote {len(document['cases'])} cases and {len(document['working_on'])} records "
        f"from Redis {document['recorded_with']['redis_version']} to {VECTORS.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
