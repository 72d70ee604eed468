-- Move a worker's registration to a new workers-set member (its queue list changed).
-- KEYS[1]  set     <ns>:workers
-- KEYS[2]  string  <ns>:worker:<old member>:started
-- KEYS[3]  string  <ns>:worker:<new member>:started
-- KEYS[4]  string  optional: <ns>:worker:<old member>:runtime
-- KEYS[5]  string  optional: <ns>:worker:<new member>:runtime
-- ARGV[1]  old member
-- ARGV[2]  new member
-- Returns  1
expect(KEYS[1], 'set')
expect(KEYS[2], 'string')
expect(KEYS[3], 'string')
if KEYS[5] then
  expect(KEYS[4], 'string')
  expect(KEYS[5], 'string')
end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[3] and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
end
if KEYS[5] and KEYS[4] ~= KEYS[5] and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('RENAME', KEYS[4], KEYS[5])
end
return 1
