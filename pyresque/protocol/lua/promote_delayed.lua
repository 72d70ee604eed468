-- Move the first n items of one delayed second to their queues, if the list still starts
-- with exactly those items; drop the second from the schedule once its list is empty.
-- KEYS[1]             <ns>:delayed:<ts>
-- KEYS[2]             <ns>:delayed_queue_schedule
-- KEYS[3]             <ns>:queues
-- KEYS[4 .. n+3]      <ns>:timestamps:<item>, per item
-- KEYS[n+4 .. 2n+3]   where each item goes: <ns>:queue:<q>, or <ns>:failed (any key when dropped)
-- ARGV[1]             n (0 only tidies an empty second away)
-- ARGV[2]             "delayed:<ts>", the timestamps member (no namespace)
-- ARGV[3]             <ts>, the schedule member
-- ARGV[4 .. 4n+3]     per item: the item as read; "queue", "fail" or "drop"; the queue
--                     name (for "queue"); the value to push (payload or failure entry)
-- Returns             {moved, left}: moved = n, or -1 when the list no longer starts with
--                     these items (nothing done: read it again), or -2 when the key is
--                     not a list (the member leaves the schedule, the key is untouched);
--                     left = items still there.
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'list' and kind ~= 'none' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  return {-2, 0}
end
local n = tonumber(ARGV[1])
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
  redis.call('LTRIM', KEYS[1], n, -1)
  for i = 1, n do
    local base = 4 * i
    redis.call('SREM', KEYS[3 + i], ARGV[2])
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
