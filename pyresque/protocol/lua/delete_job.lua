-- Remove a job from a queue, matching any of its encodings (node and Ruby bytes differ).
-- KEYS[1]     list  <ns>:queue:<queue>
-- ARGV[1]     count as LREM takes it: 0 = all, n > 0 = first n, n < 0 = last n
-- ARGV[2]     a tombstone value that cannot be a job (used to cut out chosen items)
-- ARGV[3..]   the job's encodings
-- Returns     how many were removed.
expect(KEYS[1], 'list')
local count = tonumber(ARGV[1])
if count == 0 or #ARGV == 3 then
  local removed = 0
  for i = 3, #ARGV do
    removed = removed + redis.call('LREM', KEYS[1], count, ARGV[i])
  end
  return removed
end
-- Several encodings and a limit: take the first |count| matches in list order, as one
-- LREM would if there were a single encoding.
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local first, last, step = 1, #items, 1
if count < 0 then first, last, step = #items, 1, -1 end
local left = math.abs(count)
local cut = 0
for i = first, last, step do
  if left == 0 then break end
  if wanted[items[i]] then
    redis.call('LSET', KEYS[1], i - 1, ARGV[2])
    left = left - 1
    cut = cut + 1
  end
end
if cut > 0 then redis.call('LREM', KEYS[1], 0, ARGV[2]) end
return cut
