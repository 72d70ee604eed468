-- Move one delayed item to its queue now, whoever holds the scheduler lock.
-- KEYS[1]  list  <ns>:delayed:<ts>
-- KEYS[2]  zset  <ns>:delayed_queue_schedule
-- KEYS[3]  set   <ns>:queues
-- KEYS[4]  set   <ns>:timestamps:<item>
-- KEYS[5]  list  <ns>:queue:<queue>
-- ARGV[1]  the item as stored
-- ARGV[2]  "delayed:<ts>", its member of the timestamps set
-- ARGV[3]  <ts>, the schedule member
-- ARGV[4]  queue name
-- ARGV[5]  the encoded job payload to enqueue
-- Returns  1 when moved; 0 when the item is not delayed at that second (nothing written).
expect(KEYS[1], 'list')
expect(KEYS[2], 'zset')
expect(KEYS[3], 'set')
expect(KEYS[4], 'set')
expect(KEYS[5], 'list')
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
-- Ruby keeps duplicates: the second stays in the item's timestamps set while a copy is left.
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  redis.call('SREM', KEYS[4], ARGV[2])
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
end
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('RPUSH', KEYS[5], ARGV[5])
return 1
