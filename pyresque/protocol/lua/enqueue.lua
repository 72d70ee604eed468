-- Push a job onto a queue and register the queue name.
-- KEYS[1]  <ns>:queues          set of queue names
-- KEYS[2]  <ns>:queue:<queue>   the queue list
-- ARGV[1]  queue name
-- ARGV[2]  encoded job payload
-- Returns  the queue's new length.
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('RPUSH', KEYS[2], ARGV[2])
