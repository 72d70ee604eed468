-- Remove, retry or requeue failed entries, each only while it still holds the bytes read.
-- KEYS[1]    list  <ns>:failed
-- KEYS[2]    set   <ns>:queues                  (retry and requeue only)
-- KEYS[3..]  list  <ns>:queue:<queue> per entry (retry and requeue only)
-- ARGV[1]    "remove"; "retry" (remove the entry, enqueue its job); "requeue" (replace
--            the entry in place, with retried_at, and enqueue its job: resque's requeue)
-- ARGV[2]    "index": every entry must still be at its index, else nothing is written;
--            "value": an entry no longer at its index is removed by value (the first equal
--            entry; retry/remove only) or skipped when it is gone
-- ARGV[3]    a unique tombstone (what removed entries are set to before one LREM)
-- ARGV[4]    n, the number of entries
-- ARGV[5..]  per entry, 4 values: index; the entry as read; the queue name; the encoded
--            job payload (retry/requeue) ...
-- ARGV[4n+5..]  requeue only: the replacement entry of each, in the same order
-- Returns    {done, -1}: how many were acted on (and, in order, 1 or 0 for each entry);
--            {-1, i} in "index" mode when entry i (1-based) is no longer at its index:
--            nothing was written.
local action = ARGV[1]
local n = tonumber(ARGV[4])
expect(KEYS[1], 'list')
if action ~= 'remove' then
  expect(KEYS[2], 'set')
  for i = 1, n do
    expect(KEYS[2 + i], 'list')
  end
end
local here = {}
for i = 1, n do
  local base = 4 * i + 1
  here[i] = redis.call('LINDEX', KEYS[1], tonumber(ARGV[base])) == ARGV[base + 1]
  if not here[i] and ARGV[2] == 'index' then
    return {-1, i}
  end
end
-- Positions first (LSET), value removals next: removing by value before every tombstone
-- is set would shift the indexes still to be set.
local acted = {}
local length = redis.call('LLEN', KEYS[1])
local tombs, lowest, highest = 0, length, -1
for i = 1, n do
  local base = 4 * i + 1
  if here[i] then
    local index = tonumber(ARGV[base])
    if action == 'requeue' then
      redis.call('LSET', KEYS[1], index, ARGV[4 * n + 4 + i])
    else
      redis.call('LSET', KEYS[1], index, ARGV[3])
      if index < 0 then
        index = length + index
      end
      tombs = tombs + 1
      lowest = math.min(lowest, index)
      highest = math.max(highest, index)
    end
    acted[i] = 1
  elseif action ~= 'requeue' then
    acted[i] = redis.call('LREM', KEYS[1], 1, ARGV[base + 1])
  else
    acted[i] = 0
  end
end
-- One LREM for the tombstones, from the nearer end: it stops at the last one (a chunk near
-- either end of a long list is not a walk over all of it).
if tombs > 0 then
  if highest < length - lowest then
    redis.call('LREM', KEYS[1], tombs, ARGV[3])
  else
    redis.call('LREM', KEYS[1], -tombs, ARGV[3])
  end
end
local done = 0
for i = 1, n do
  if acted[i] == 1 then
    done = done + 1
    if action ~= 'remove' then
      local base = 4 * i + 1
      redis.call('SADD', KEYS[2], ARGV[base + 2])
      redis.call('RPUSH', KEYS[2 + i], ARGV[base + 3])
    end
  end
end
local out = {done, -1}
for i = 1, n do
  out[#out + 1] = acted[i]
end
return out
