-- Unregister a worker and fail the job it held, if its working-on record is still the one
-- read and (when the scheduler found it dead by its liveness value, node ping or Ruby
-- heartbeat) that value is still the one read too.
-- KEYS[1]   set     <ns>:workers
-- KEYS[2]   string  <ns>:worker:<member>             working-on record
-- KEYS[3]   any     <ns>:worker:<member>:started
-- KEYS[4]   string  <ns>:worker:ping:<name>          node-resque liveness
-- KEYS[5]   hash    <ns>:workers:heartbeat           Ruby liveness
-- KEYS[6]   list    <ns>:failed
-- KEYS[7]   string  <ns>:stat:failed                 (not counted when unusable)
-- KEYS[8..] any     per-worker stat keys, the job's stale JobLock key and pyresque's runtime
--                   mark, to delete
-- ARGV[1]   the workers-set member ("" when the worker is not registered)
-- ARGV[2]   the working-on record as read ("" for none)
-- ARGV[3]   the failure entry to push ("" for none)
-- ARGV[4]   "1" to count the failure in stat:failed
-- ARGV[5]   optional: "ping" or "heartbeat", which liveness value was found stale
-- ARGV[6]   optional: that value as read ("" for none)
-- Returns   1 when cleaned; 0 when the record changed meanwhile (read it again); -1 when
--           the liveness value changed (the worker is alive): nothing is done.
expect(KEYS[1], 'set')
expect(KEYS[2], 'string')
expect(KEYS[4], 'string')
expect(KEYS[5], 'hash')
expect(KEYS[6], 'list')
if ARGV[5] then
  local alive
  if ARGV[5] == 'ping' then
    alive = redis.call('GET', KEYS[4])
  else
    alive = redis.call('HGET', KEYS[5], ARGV[1])
  end
  if (alive or '') ~= ARGV[6] then
    return -1
  end
end
if ARGV[1] ~= '' then
  local current = redis.call('GET', KEYS[2]) or ''
  if current ~= ARGV[2] then
    return 0
  end
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HDEL', KEYS[5], ARGV[1])
end
redis.call('DEL', KEYS[4])
for i = 8, #KEYS do
  redis.call('DEL', KEYS[i])
end
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[6], ARGV[3])
end
if ARGV[4] == '1' then
  optional({}, 'INCR', KEYS[7])
end
return 1
