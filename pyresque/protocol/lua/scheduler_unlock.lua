-- Release the scheduler lock(s) this scheduler holds (compare-and-delete).
-- KEYS[1..n]  string  the lock keys
-- ARGV[1..n]  this scheduler's value for each lock, in KEYS order
-- Returns     how many locks were released (a lock another holds is left alone).
for i = 1, #KEYS do
  expect(KEYS[i], 'string')
end
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released
