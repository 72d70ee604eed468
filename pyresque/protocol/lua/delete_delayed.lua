-- Remove a delayed item from the seconds it is due at.
-- KEYS[1 .. n]     set   <ns>:timestamps:<item-encoding> for each (encoding, second) pair
-- KEYS[n+1 .. 2n]  list  <ns>:delayed:<ts> for each pair, in the same order
-- ARGV[1]          n, the number of pairs
-- ARGV[2 .. n+1]   the item encoding of each pair
-- ARGV[n+2 .. ]    "delayed:<ts>" of each pair
-- Returns          {removed per pair...}
-- An emptied second stays in delayed_queue_schedule, as with both peers: the scheduler
-- drops it when it gets there, and readers skip seconds whose list is gone.
local n = tonumber(ARGV[1])
for i = 1, n do
  expect(KEYS[i], 'set')
  expect(KEYS[n + i], 'list')
end
local out = {}
for i = 1, n do
  out[i] = redis.call('LREM', KEYS[n + i], 0, ARGV[1 + i])
  redis.call('SREM', KEYS[i], ARGV[n + 1 + i])
end
return out
