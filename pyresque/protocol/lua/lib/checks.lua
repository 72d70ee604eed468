-- Put in front of every pyresque script when it is loaded (see plan.load_script).
-- Redis never rolls back a script's earlier writes, so a script that can fail must fail
-- before its first write: each script checks the type of every key it writes (and of the
-- keys it reads with type-bound commands) with these first. A failure names the key.

-- Fail, nothing written, unless `key` is missing or holds a `want`; returns its type.
local function expect(key, want)
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= want then
    error({err = 'WRONGTYPE ' .. key .. ' holds a ' .. found .. ', not a ' .. want})
  end
  return found
end

-- True when `key` is missing or holds a `want`: for keys a script may skip.
local function usable(key, want)
  local found = redis.call('TYPE', key)['ok']
  return found == 'none' or found == want
end

-- A write a script may do without (a counter, an index): the reply, or nil with a note of
-- why it was skipped. OOM is raised: Redis refuses only a script's first write with it,
-- so nothing has been written and the whole script can be sent again later. So are a
-- former master's READONLY, NOREPLICAS and MASTERDOWN (the client must find the master).
local function optional(notes, command, key, ...)
  local reply = redis.pcall(command, key, ...)
  if type(reply) == 'table' and reply['err'] then
    local code = string.match(reply['err'], '^%u+')
    if code == 'OOM' or code == 'READONLY' or code == 'NOREPLICAS' or code == 'MASTERDOWN' then
      error(reply)
    end
    notes[#notes + 1] = 'SKIPPED ' .. command .. ' ' .. key .. ': ' .. reply['err']
    return nil
  end
  return reply
end

-- Fail, nothing written, unless `key` is missing or a string INCR can count on.
local function expect_counter(key)
  if expect(key, 'string') == 'string' then
    local value = redis.call('GET', key)
    -- 18 digits at most: INCR then can neither overflow nor meet a non-canonical number.
    local digits = string.match(value, '^%-?([1-9]%d*)$')
    if value ~= '0' and not (digits and #digits <= 18) then
      error({err = 'WRONGTYPE ' .. key .. ' holds a string, not a counter'})
    end
  end
end
