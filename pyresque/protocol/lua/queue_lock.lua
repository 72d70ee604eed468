-- node-resque's QueueLock.beforeEnqueue in one step: take the lock, or take over a stale one.
-- node sends SETNX, EXPIRE, then GET, SET, EXPIRE as separate commands (a crash between
-- SETNX and EXPIRE leaves a lock with no TTL); the value and TTL left here are the same.
-- KEYS[1]  string  <ns>:lock:<class>:<queue>:<args JSON> (or the plugin's own key)
-- ARGV[1]  now, unix seconds (Math.round(ms / 1000))
-- ARGV[2]  the lock value: now + lockTimeout + 1
-- ARGV[3]  lockTimeout, seconds: the TTL
-- Returns  1 when the lock was taken (the enqueue goes on), 0 when it is held (veto).
expect(KEYS[1], 'string')
if redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX') then
  return 1
end
-- parseInt(value): its leading integer. No digits (NaN) or an empty value never blocks.
local held = redis.call('GET', KEYS[1])
local digits = held and string.match(held, '^%s*([+-]?%d+)')
if digits and tonumber(ARGV[1]) <= tonumber(digits) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
