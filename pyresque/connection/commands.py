"""The Redis commands pyresque sends, for an ACL user that may run those alone.

A Redis 6+ ACL user created with ``-@all`` plus ``+<command>`` for each of
:data:`REQUIRED_COMMANDS` can run pyresque's queues, workers, schedulers and tasks on
their own connections. The list covers what the drivers and plans send (connection setup
included) and every command the Lua scripts call: Redis checks a script's commands
against the user's rights too. ``tests/integration/test_acl.py`` derives the list from
the code and the scripts, and runs everything as such a user. See spec/connection.md.
"""

from __future__ import annotations

__all__ = ["REQUIRED_COMMANDS", "SENTINEL_COMMANDS"]

REQUIRED_COMMANDS: tuple[str, ...] = (
    # connection setup (AUTH is always allowed; ROLE only with Sentinel), ping
    "auth", "select", "role", "ping",
    # scripts (loaded once per connection, then called by SHA) and MULTI/EXEC batches
    "script|load", "evalsha", "multi", "exec",
    # an idle worker's wake-up, on its own connection
    "blmove",
    # the heartbeat's clock, and scans for workers' keys
    "time", "scan",
    # replicas' confirmation of each job written (only with wait_replicas)
    "wait",
    # the server's facts on the dashboard
    "info",
    # strings, counters, keys
    "get", "mget", "set", "setnx", "incr", "incrby", "del", "exists", "expire", "rename", "type",
    # lists
    "llen", "lrange", "lindex", "lpos", "lpush", "rpush", "lpop", "lrem", "lset", "ltrim",
    # sets
    "sadd", "srem", "smembers", "sismember",
    # sorted sets
    "zadd", "zrem", "zrange", "zrangebyscore", "zcard", "zcount",
    # hashes
    "hget", "hgetall", "hset", "hdel",
)  # fmt: skip
"""ACL names (``command`` or ``command|subcommand``) of every command pyresque's own
connections send to Redis."""

SENTINEL_COMMANDS: tuple[str, ...] = ("auth", "sentinel|get-master-addr-by-name")
"""What pyresque sends to a Sentinel (``redis+sentinel://`` URLs)."""
