-- Take one failed entry out of the failed list and enqueue its job again, atomically.
-- KEYS[1]    list  <ns>:failed
-- KEYS[2]    set   <ns>:queues
-- KEYS[3]    list  <ns>:queue:<queue>
-- ARGV[1]    queue name
-- ARGV[2]    encoded job payload to enqueue
-- ARGV[3..]  the entry's possible stored encodings, tried in order
-- Returns    1 when found and re-enqueued, 0 when no encoding matched.
expect(KEYS[1], 'list')
expect(KEYS[2], 'set')
expect(KEYS[3], 'list')
for i = 3, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('SADD', KEYS[2], ARGV[1])
    redis.call('RPUSH', KEYS[3], ARGV[2])
    return 1
  end
end
return 0
