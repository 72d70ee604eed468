-- Push a job onto a queue and register the queue name.
-- KEYS[1]  set   <ns>:queues          set of queue names
-- KEYS[2]  list  <ns>:queue:<queue>   the queue list
-- ARGV[1]  queue name
-- ARGV[2]  encoded job payload
-- Returns  the queue's new length.
expect(KEYS[1], 'set')
expect(KEYS[2], 'list')
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('RPUSH', KEYS[2], ARGV[2])
