-- Leave the workers set and delete every per-worker key, as the peer does.
-- KEYS[1]   set     <ns>:workers
-- KEYS[2]   string|hash  node: <ns>:worker:ping:<name>; ruby: <ns>:workers:heartbeat
-- KEYS[3..] any     the working-on record, started time and per-worker stats, to delete
-- ARGV[1]   the workers-set member
-- ARGV[2]   "ping" or "heartbeat": which liveness mark goes
-- Returns   1
expect(KEYS[1], 'set')
if ARGV[2] == 'ping' then
  expect(KEYS[2], 'string')
else
  expect(KEYS[2], 'hash')
end
redis.call('SREM', KEYS[1], ARGV[1])
if ARGV[2] == 'ping' then
  redis.call('DEL', KEYS[2])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
for i = 3, #KEYS do
  redis.call('DEL', KEYS[i])
end
return 1
