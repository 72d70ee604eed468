-- node-resque Retry's afterPerform writes for a failed attempt, in one step: attemptUp
-- (SETNX -1, INCR, EXPIRE), saveLastError (SETEX), and on the last attempt cleanup (DEL).
-- node sends these as six separate commands; the values left here are the same.
-- KEYS[1]  string  <ns>:resque-retry:<class>[:<args key>]        the attempt counter
-- KEYS[2]  string  <ns>:failure-resque-retry:<class>:<args key>  the last error
-- ARGV[1]  retryLimit (attempts in all)
-- ARGV[2]  TTL of both keys, seconds
-- ARGV[3]  the last error, JSON
-- Returns  the attempt count: 0 after the first failure, 1 after the second ...
expect_counter(KEYS[1])
expect(KEYS[2], 'string')
redis.call('SETNX', KEYS[1], -1)
local count = redis.call('INCR', KEYS[1])
if tonumber(ARGV[1]) - count - 1 <= 0 then
  -- No attempt left: node writes both keys, then deletes them and fails the job.
  redis.call('DEL', KEYS[1], KEYS[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
return count
