-- Read what a worker needs to tell, after a lost reply, whether its last step ran.
-- KEYS[1]  string  <ns>:worker:<member>             the working-on record
-- KEYS[2]  string  <ns>:stat:processed:<worker>
-- KEYS[3]  string  <ns>:stat:failed:<worker>
-- ARGV     (none)
-- Returns  {record or "", has record (1/0), processed, failed}: a count is -1 when its key
--          cannot be read as a number (then the record alone must tell).
local function read(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' then
    return false
  end
  return value
end
local function count(key)
  local value = read(key)
  if value == false then
    return 0
  end
  local digits = string.match(value, '^%d+$')
  if not digits or #digits > 15 then
    return -1
  end
  return tonumber(digits)
end
local record = read(KEYS[1])
if record == false then
  return {'', 0, count(KEYS[2]), count(KEYS[3])}
end
return {record, 1, count(KEYS[2]), count(KEYS[3])}
