-- Stop a periodic task whose run is in progress from re-enqueueing itself: mark it, but
-- only while its JobLock is held, so no mark outlives the run it was meant for.
-- KEYS[1]    any     <ns>:workerslock:<class>:<queue>:[{}]   (the running copy's JobLock)
-- KEYS[2]    string  <ns>:periodic_stop:<class>
-- ARGV[1]    TTL of the mark, seconds (the JobLock's TTL: no run outlasts it)
-- Returns    1 when marked, 0 when no run holds the lock.
expect(KEYS[2], 'string')
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[1]))
return 1
