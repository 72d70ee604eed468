-- Delete a queue and its name (node-resque's delQueue, resque's remove_queue).
-- KEYS[1]  set   <ns>:queues
-- KEYS[2]  list  <ns>:queue:<queue>
-- ARGV[1]  queue name
-- Returns  1 when the queue list existed, else 0.
expect(KEYS[1], 'set')
expect(KEYS[2], 'list')
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])
