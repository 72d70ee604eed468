-- Move the first n items of one delayed second to their queues, if the list still starts
-- with exactly those items; drop the second from the schedule once its list is empty.
-- KEYS[1]             list  <ns>:delayed:<ts>
-- KEYS[2]             zset  <ns>:delayed_queue_schedule
-- KEYS[3]             set   <ns>:queues
-- KEYS[4 .. n+3]      set   <ns>:timestamps:<item>, per item (left alone when unusable)
-- KEYS[n+4 .. 2n+3]   list  where each item goes: <ns>:queue:<q>, or <ns>:failed (any key
--                           when dropped)
-- ARGV[1]             n (0 only tidies an empty second away)
-- ARGV[2]             "delayed:<ts>", the timestamps member (no namespace)
-- ARGV[3]             <ts>, the schedule member
-- ARGV[4 .. 4n+3]     per item: the item as read; "queue", "fail" or "drop"; the queue
--                     name (for "queue"); the value to push (payload or failure entry)
-- Returns             {moved, left}: moved = n, or -1 when the list no longer starts with
--                     these items (nothing done: read it again), or -2 when the key is
--                     not a list (the member leaves the schedule, the key is untouched),
--                     or -3 when item `left` is to go to a queue whose key is not a list
--                     (nothing done: send that item to failed instead); left = items
--                     still there.
-- Nothing is written unless every item can go where it is sent: an item is never dropped
-- because another one's destination is unusable.
local n = tonumber(ARGV[1])
expect(KEYS[2], 'zset')
if not usable(KEYS[1], 'list') then
  redis.call('ZREM', KEYS[2], ARGV[3])
  return {-2, 0}
end
if n > 0 then
  local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
  if #head ~= n then
    return {-1, redis.call('LLEN', KEYS[1])}
  end
  for i = 1, n do
    if head[i] ~= ARGV[4 * i] then
      return {-1, redis.call('LLEN', KEYS[1])}
    end
  end
  for i = 1, n do
    local action = ARGV[4 * i + 1]
    if action == 'queue' then
      expect(KEYS[3], 'set')
      if not usable(KEYS[n + 3 + i], 'list') then
        return {-3, i}
      end
    elseif action == 'fail' then
      expect(KEYS[n + 3 + i], 'list')
    end
  end
  redis.call('LTRIM', KEYS[1], n, -1)
  for i = 1, n do
    local base = 4 * i
    if usable(KEYS[3 + i], 'set') then
      redis.call('SREM', KEYS[3 + i], ARGV[2])
    end
    local action = ARGV[base + 1]
    if action == 'queue' then
      redis.call('SADD', KEYS[3], ARGV[base + 2])
      redis.call('RPUSH', KEYS[n + 3 + i], ARGV[base + 3])
    elseif action == 'fail' then
      redis.call('RPUSH', KEYS[n + 3 + i], ARGV[base + 3])
    end
  end
end
local left = redis.call('LLEN', KEYS[1])
if left == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return {n, left}
