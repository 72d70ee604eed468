-- Write a chunk of jobs at once: what enqueue.lua and enqueue_at.lua write for each, in
-- input order (bulk enqueue; spec/keys.md "Bulk enqueue").
-- KEYS[1]          set   <ns>:queues                  (checked when a job goes to a queue)
-- KEYS[2]          zset  <ns>:delayed_queue_schedule  (checked when a job is delayed)
-- KEYS[3 .. l+2]   list  <ns>:queue:<queue> and <ns>:delayed:<ts>, each named once
-- KEYS[l+3 ..]     set   <ns>:timestamps:<item>, each named once
-- ARGV[1]          "1" to refuse a delayed item already due at that second (node-resque),
--                  "0" to allow it (resque-scheduler)
-- ARGV[2]          l, the number of list keys
-- ARGV[3]          q, the number of queue names; ARGV[4 .. q+3] the names (SADD to KEYS[1])
-- ARGV[q+4]        d, the number of delayed records that follow
-- ARGV[q+5 ..]     records, in order:
--                    "q", i, n, payload x n      RPUSH the n payloads onto KEYS[i]
--                    "d", i, j, ts, member, item the enqueue_at writes: RPUSH KEYS[i] item,
--                                                SADD KEYS[j] member, ZADD KEYS[2] ts ts
-- Returns          the ordinals (1-based, among the "d" records) of the delayed items
--                  refused as duplicates.
local lists = tonumber(ARGV[2])
local names = tonumber(ARGV[3])
local delayed = tonumber(ARGV[names + 4])
if names > 0 then
  expect(KEYS[1], 'set')
end
if delayed > 0 then
  expect(KEYS[2], 'zset')
end
for k = 3, lists + 2 do
  expect(KEYS[k], 'list')
end
for k = lists + 3, #KEYS do
  expect(KEYS[k], 'set')
end

if names > 0 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 4, names + 3))
end
local refuse = ARGV[1] == '1'
local refused = {}
local ordinal = 0
local p = names + 5
while p <= #ARGV do
  if ARGV[p] == 'q' then
    local n = tonumber(ARGV[p + 2])
    redis.call('RPUSH', KEYS[tonumber(ARGV[p + 1])], unpack(ARGV, p + 3, p + n + 2))
    p = p + n + 3
  else
    ordinal = ordinal + 1
    local set = KEYS[tonumber(ARGV[p + 2])]
    if refuse and redis.call('SISMEMBER', set, ARGV[p + 4]) == 1 then
      refused[#refused + 1] = ordinal
    else
      redis.call('RPUSH', KEYS[tonumber(ARGV[p + 1])], ARGV[p + 5])
      redis.call('SADD', set, ARGV[p + 4])
      redis.call('ZADD', KEYS[2], ARGV[p + 3], ARGV[p + 3])
    end
    p = p + 6
  end
end
return refused
