-- Give back a QueueLock whose job no longer waits in its queue (deleted, not performed).
-- Checked and deleted in one step: a copy enqueued meanwhile keeps its lock.
-- KEYS[1]    list    <ns>:queue:<queue>
-- KEYS[2]    string  <ns>:lock:<class>:<queue>:<args JSON>
-- ARGV[1..]  the job's encodings (node and Ruby bytes differ)
-- Returns    1 when the lock was deleted, 0 when a copy still waits or there was no lock.
expect(KEYS[1], 'list')
expect(KEYS[2], 'string')
for i = 1, #ARGV do
  if redis.call('LPOS', KEYS[1], ARGV[i]) then
    return 0
  end
end
return redis.call('DEL', KEYS[2])
