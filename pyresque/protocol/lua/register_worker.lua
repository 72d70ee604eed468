-- Join the workers set with a started time and a first liveness mark.
-- KEYS[1]  set     <ns>:workers
-- KEYS[2]  string  <ns>:worker:<member>:started
-- KEYS[3]  string|hash  node: <ns>:worker:ping:<name>; ruby: <ns>:workers:heartbeat
-- KEYS[4]  string  optional: <ns>:worker:<member>:runtime (pyresque's own mark)
-- ARGV[1]  the workers-set member
-- ARGV[2]  the started value
-- ARGV[3]  "ping" or "heartbeat": which liveness mark
-- ARGV[4]  the ping value, or the heartbeat stamp
-- ARGV[5]  with KEYS[4]: the runtime value ("pyresque/<version>")
-- ARGV[6]  with KEYS[4]: its time to live, seconds
-- Returns  1
expect(KEYS[1], 'set')
expect(KEYS[2], 'string')
if ARGV[3] == 'ping' then
  expect(KEYS[3], 'string')
else
  expect(KEYS[3], 'hash')
end
if KEYS[4] then
  expect(KEYS[4], 'string')
end
-- The started time is replaced: deleting it first also lets a worker register under
-- maxmemory (OOM refuses only a script's first write, DEL never): workers are what
-- bring memory back, by draining their queues.
redis.call('DEL', KEYS[2])
-- Liveness first: a worker is never registered without it (Ruby prunes such workers as
-- another library's).
if ARGV[3] == 'ping' then
  redis.call('SET', KEYS[3], ARGV[4])
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[5], 'EX', tonumber(ARGV[6]))
end
return 1
