"""Key names: node-resque's key() rules, Ruby's double-prefixed master lock."""

from __future__ import annotations

import pytest

from pyresque.errors import ConfigurationError
from pyresque.protocol.keys import KeySpace, glob_escape, text, to_bytes


def test_default_namespace_prefixes_every_key() -> None:
    keys = KeySpace()
    assert keys.queue("math") == "resque:queue:math"
    assert keys.queues() == "resque:queues"
    assert keys.schedule() == "resque:delayed_queue_schedule"
    assert keys.delayed(1700000000) == "resque:delayed:1700000000"
    assert keys.timestamps(b'{"class":"a"}') == 'resque:timestamps:{"class":"a"}'
    assert keys.worker("vm:1", "a,b") == "resque:worker:vm:1:a,b"
    assert keys.worker_started("vm:1", "a,b") == "resque:worker:vm:1:a,b:started"
    assert keys.worker_ping("vm:1") == "resque:worker:ping:vm:1"
    assert keys.heartbeats() == "resque:workers:heartbeat"
    assert keys.stat("processed") == "resque:stat:processed"
    assert keys.stat("failed", "vm:1") == "resque:stat:failed:vm:1"
    assert keys.leader_lock() == "resque:resque_scheduler_leader_lock"
    assert keys.job_lock("J", "q", "[1]") == "resque:workerslock:J:q:[1]"
    assert keys.queue_lock("J", "q", "[]") == "resque:lock:J:q:[]"


def test_ruby_master_lock_is_namespaced_twice() -> None:
    assert KeySpace().master_lock() == "resque:resque:resque_scheduler_master_lock"
    assert KeySpace("app").master_lock("p") == "app:app:p:resque_scheduler_master_lock"


def test_timestamps_members_carry_no_namespace() -> None:
    assert KeySpace("x").delayed_member(5) == "delayed:5"


def test_key_drops_blank_parts_and_keeps_none_as_an_empty_segment() -> None:
    # node-resque: key("a","",null,undefined,0," ","b") -> myapp:a:::0:b
    assert KeySpace("myapp").key("a", "", None, None, 0, " ", "b") == "myapp:a:::0:b"
    assert KeySpace("myapp").key("") == "myapp"


def test_list_namespace_and_blank_namespace() -> None:
    assert KeySpace(["a", "b"]).queue("q") == "a:b:queue:q"
    assert KeySpace("").queue("q") == "queue:q"
    assert KeySpace("  ").queue("q") == "queue:q"
    assert KeySpace("a:b").queue("q") == "a:b:queue:q"


@pytest.mark.parametrize("bad", [1, None, b"x", ["a", 2], {"a": "b"}])
def test_namespace_of_another_type_is_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        KeySpace(bad)


def test_scan_patterns_escape_the_namespace_only() -> None:
    keys = KeySpace("ns[1]*")
    assert keys.pattern("stat:*") == "ns\\[1\\]\\*:stat:*"
    assert glob_escape("a?b\\") == "a\\?b\\\\"


def test_unprefixed_removes_the_namespace_prefix() -> None:
    assert KeySpace("resque").unprefixed(b"resque:stat:processed") == "stat:processed"
    assert KeySpace("resque").unprefixed("other:key") == "other:key"


def test_text_and_to_bytes_round_trip_any_bytes() -> None:
    raw = b"\xff\xfe caf\xc3\xa9"
    assert to_bytes(text(raw)) == raw
