-- Add a delayed item at one second of the resque-scheduler layout.
-- KEYS[1]  list  <ns>:delayed:<ts>            list of items due at that second
-- KEYS[2]  set   <ns>:timestamps:<item>       set of the seconds this exact item is due at
-- KEYS[3]  zset  <ns>:delayed_queue_schedule  member = score = <ts>
-- ARGV[1]  encoded delayed item
-- ARGV[2]  "delayed:<ts>" (the timestamps member carries no namespace)
-- ARGV[3]  <ts>
-- ARGV[4]  "1" to refuse an item already due at that second (node-resque), "0" to allow it
-- Returns  1 when added, 0 when refused as a duplicate.
expect(KEYS[1], 'list')
expect(KEYS[2], 'set')
expect(KEYS[3], 'zset')
if ARGV[4] == '1' and redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
return 1
