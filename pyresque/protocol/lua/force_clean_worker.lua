-- Unregister a worker and fail the job it held, if its record is still the one read.
-- KEYS[1]   <ns>:workers
-- KEYS[2]   <ns>:worker:<member>             working-on record
-- KEYS[3]   <ns>:worker:<member>:started
-- KEYS[4]   <ns>:worker:ping:<name>          node-resque liveness
-- KEYS[5]   <ns>:workers:heartbeat           Ruby liveness (hash)
-- KEYS[6]   <ns>:failed
-- KEYS[7]   <ns>:stat:failed
-- KEYS[8..] per-worker stat keys to delete
-- ARGV[1]   the workers-set member
-- ARGV[2]   the working-on record as read ("" for none)
-- ARGV[3]   the failure entry to push ("" for none)
-- ARGV[4]   "1" to count the failure in stat:failed
-- Returns   1 when cleaned, 0 when the record changed meanwhile (read it again).
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[2] then
  return 0
end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HDEL', KEYS[5], ARGV[1])
for i = 8, #KEYS do
  redis.call('DEL', KEYS[i])
end
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[6], ARGV[3])
end
if ARGV[4] == '1' then
  redis.call('INCR', KEYS[7])
end
return 1
