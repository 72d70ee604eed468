-- A scheduler node's boot enqueue of a periodic task: enqueue it, and take its QueueLock as
-- the QueueLock plugin would, only when no copy of it exists on any peer. Checked and
-- written in one step, so no copy can appear between the check and the enqueue.
-- Actionhero checks only its QueueLock and DelayQueueLock, so a node booting while the task
-- runs (QueueLock gone, no delayed copy yet) starts a second chain for good.
-- A copy exists when it is
--   queued   in the task's queue, as either peer encodes it;
--   delayed  its timestamps:<item> set has members, for either encoding;
--   running  its JobLock is held (taken in the run's before_perform, released after the
--            run has re-enqueued itself);
--   locked   its QueueLock is held and not stale: a copy enqueued with it that a worker
--            has popped but not yet locked (or a lock a peer left behind, which QueueLock
--            would refuse all the same).
-- What it cannot see (a copy between two commands of a peer) is in spec/tasks.md,
-- "Residual windows".
-- A run in progress marked to stop (stop_recurrent_task) is unmarked instead: this boot
-- asks for the chain, and that run then continues it.
-- KEYS[1]    set     <ns>:queues
-- KEYS[2]    list    <ns>:queue:<queue>
-- KEYS[3]    string  <ns>:lock:<class>:<queue>:<args JSON>          QueueLock (or its `key`)
-- KEYS[4]    string  <ns>:workerslock:<class>:<queue>:<args JSON>   JobLock (or its `key`)
-- KEYS[5]    string  <ns>:periodic_stop:<class>
-- KEYS[6..]  set     <ns>:timestamps:<delayed item>, one per encoding (node, Ruby)
-- ARGV[1]    queue name
-- ARGV[2]    the payload to push (the dialect's bytes)
-- ARGV[3]    now, unix seconds (Math.round(ms / 1000))
-- ARGV[4]    the QueueLock value: now + lockTimeout + 1
-- ARGV[5]    lockTimeout, seconds: the QueueLock's TTL
-- ARGV[6..]  the queued payload as each peer encodes it
-- Returns    "enqueued", or why nothing was: "queued", "delayed", "running" or "locked".
-- Every key's type is checked first: a wrong one fails the script before any write.
for i = 1, #KEYS do
  local want = 'string'
  if i == 1 or i >= 6 then
    want = 'set'
  elseif i == 2 then
    want = 'list'
  end
  expect(KEYS[i], want)
end
for i = 6, #ARGV do
  if redis.call('LPOS', KEYS[2], ARGV[i]) then
    return 'queued'
  end
end
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 'delayed'
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('DEL', KEYS[5])
  return 'running'
end
-- parseInt(value), as QueueLock reads it: no digits (NaN) or an empty value never blocks.
local held = redis.call('GET', KEYS[3])
local digits = held and string.match(held, '^%s*([+-]?%d+)')
if digits and tonumber(ARGV[3]) <= tonumber(digits) then
  return 'locked'
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
return 'enqueued'
