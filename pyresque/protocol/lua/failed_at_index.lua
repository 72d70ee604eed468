-- Change the failed entry at an index if it is still the one read (resque's
-- Failure.requeue / Failure.remove, which work by index, made safe against races).
-- KEYS[1]  list  <ns>:failed
-- KEYS[2]  set   <ns>:queues                 (requeue only)
-- KEYS[3]  list  <ns>:queue:<queue>          (requeue only)
-- ARGV[1]  index
-- ARGV[2]  the entry as read
-- ARGV[3]  "remove" or "requeue"
-- ARGV[4]  requeue: the entry rewritten with retried_at; remove: a unique tombstone
-- ARGV[5]  requeue: queue name
-- ARGV[6]  requeue: encoded job payload
-- Returns  1 when done, 0 when the entry at that index changed meanwhile.
expect(KEYS[1], 'list')
if ARGV[3] ~= 'remove' then
  expect(KEYS[2], 'set')
  expect(KEYS[3], 'list')
end
local index = tonumber(ARGV[1])
if redis.call('LINDEX', KEYS[1], index) ~= ARGV[2] then
  return 0
end
redis.call('LSET', KEYS[1], index, ARGV[4])
if ARGV[3] == 'remove' then
  redis.call('LREM', KEYS[1], 1, ARGV[4])
else
  redis.call('SADD', KEYS[2], ARGV[5])
  redis.call('RPUSH', KEYS[3], ARGV[6])
end
return 1
