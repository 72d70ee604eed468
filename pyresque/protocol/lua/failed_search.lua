-- Read-only: which entries of one window of the failed list hold every needle (plain
-- substrings of the stored bytes), so that a search crosses the wire with candidates only
-- and Redis is busy for one window at a time.
-- KEYS[1]    list  <ns>:failed
-- ARGV[1]    first index of the window
-- ARGV[2]    last index of the window (inclusive)
-- ARGV[3]    "1": return each candidate's bytes after its index; "0": indexes only
-- ARGV[4..]  needles: an entry is a candidate when it holds all of them (none: every one)
-- Returns    {length of the list, index, [bytes,] index, [bytes,] ...}
expect(KEYS[1], 'list')
local first = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], first, tonumber(ARGV[2]))
local with_bytes = ARGV[3] == '1'
local out = {redis.call('LLEN', KEYS[1])}
for i = 1, #items do
  local item = items[i]
  local found = true
  for n = 4, #ARGV do
    if not string.find(item, ARGV[n], 1, true) then
      found = false
      break
    end
  end
  if found then
    out[#out + 1] = first + i - 1
    if with_bytes then
      out[#out + 1] = item
    end
  end
end
return out
