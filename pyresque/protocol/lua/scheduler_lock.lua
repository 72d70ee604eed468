-- Take or keep the scheduler lock(s): all of them, or none.
-- KEYS[1..n]    string  the lock keys (node-resque's leader lock, resque-scheduler's master lock)
-- ARGV[1]       the locks' time to live, in seconds
-- ARGV[2..n+1]  this scheduler's value for each lock, in KEYS order
-- Returns       1 when this scheduler now holds every lock (each taken if free, refreshed
--               if it held it); 0 when another holds one, and then any lock this
--               scheduler held is released: it never keeps one while not leading.
for i = 1, #KEYS do
  expect(KEYS[i], 'string')
end
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[i + 1] then
    for j = 1, #KEYS do
      if redis.call('GET', KEYS[j]) == ARGV[j + 1] then
        redis.call('DEL', KEYS[j])
      end
    end
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
end
return 1
