-- One worker step: settle the job just worked (if any), then take the next one.
-- Doing both in one script makes a worker's steady state one round trip per job, and a job
-- is always either in a queue, in the worker's working-on record, or settled.
--
-- KEYS[1]    any     <ns>:worker:<name>:<queues>   the working-on record (the worker's own)
-- KEYS[2]    string  <ns>:stat:processed           (counters are skipped when unusable)
-- KEYS[3]    string  <ns>:stat:processed:<worker>
-- KEYS[4]    string  <ns>:stat:failed
-- KEYS[5]    string  <ns>:stat:failed:<worker>
-- KEYS[6]    list    <ns>:failed
-- KEYS[7]    list    <ns>:queue:<q> the settled job goes back to (requeue), else any key
-- KEYS[8]    string  <ns>:pause-all-workers (honoured when ARGV[9] is "1")
-- KEYS[9..]  list    <ns>:queue:<q> to take from, in priority order (skipped when unusable)
-- ARGV[1]    settle: "" nothing, "done" count it, "requeue" put it back at the head
-- ARGV[2]    processed increment ("0"/"1"; "t" adds 0: the counters exist, unchanged, as
--            node-resque's Retry leaves them with its DECR after a success's INCR)
-- ARGV[3]    failed increment ("0"/"1")
-- ARGV[4]    failure entry to push onto the failed list ("" for none)
-- ARGV[5]    the settled job's payload (requeue only)
-- ARGV[6]    "1" to take a job after settling, "0" to stop here
-- ARGV[7]    record style: "cjson" (node-resque's, built by Lua cjson) or "splice" (Ruby's key
--            order, the payload's bytes spliced in as they are)
-- ARGV[8]    run_at (cjson: the raw string; splice: already JSON-encoded)
-- ARGV[9]    "1" to honour pause-all-workers
-- ARGV[10]   the worker name written into a cjson record
-- ARGV[11..] queue names in the order of KEYS[9..] (splice: JSON-encoded)
-- Returns    nil when nothing was taken and there is nothing to report; else
--            {index, payload, decoded, note...}: the index of the queue the job was taken
--            from (1-based; 0 when none was), the payload ("" for none), decoded = 1 when
--            the payload is valid JSON and 0 when not (such a job is kept in the record, as
--            a string, for the worker to fail), then one note per key that was skipped
--            because it could not be used ("SKIPPED <command> <key>: <error>").
-- A failure entry or a requeue is never skipped: when its key is unusable the script
-- fails before writing anything, and the job stays in the record.
local notes = {}
local settle = ARGV[1]
if settle == 'requeue' then
  expect(KEYS[7], 'list')
elseif settle ~= '' and ARGV[4] ~= '' then
  expect(KEYS[6], 'list')
end

if settle ~= '' then
  -- The record goes first: DEL is never refused for memory, so a worker settles (and
  -- takes jobs, freeing memory) even under maxmemory; OOM only refuses a first write.
  redis.call('DEL', KEYS[1])
  if settle == 'requeue' then
    redis.call('LPUSH', KEYS[7], ARGV[5])
  else
    if ARGV[4] ~= '' then
      redis.call('RPUSH', KEYS[6], ARGV[4])
    end
    if ARGV[2] == '1' then
      optional(notes, 'INCR', KEYS[2])
      optional(notes, 'INCR', KEYS[3])
    elseif ARGV[2] == 't' then
      optional(notes, 'INCRBY', KEYS[2], 0)
      optional(notes, 'INCRBY', KEYS[3], 0)
    end
    if ARGV[3] == '1' then
      optional(notes, 'INCR', KEYS[4])
      optional(notes, 'INCR', KEYS[5])
    end
  end
end

local function finish(index, payload, decoded)
  if index == 0 and #notes == 0 then
    return nil
  end
  local out = {index, payload, decoded}
  for i = 1, #notes do
    out[3 + i] = notes[i]
  end
  return out
end

if ARGV[6] ~= '1' then
  return finish(0, '', 0)
end
if ARGV[9] == '1' then
  local paused = redis.pcall('GET', KEYS[8])
  if type(paused) == 'table' and paused['err'] then
    notes[#notes + 1] = 'SKIPPED GET ' .. KEYS[8] .. ': ' .. paused['err']
  elseif paused and string.lower((string.gsub(paused, '^%s*(.-)%s*$', '%1'))) == 'true' then
    return finish(0, '', 0)
  end
end

for i = 9, #KEYS do
  local payload = optional(notes, 'LPOP', KEYS[i])
  if payload then
    local queue = ARGV[i + 2]
    -- node-resque's own pop script decodes without pcall: an invalid payload aborts the
    -- script after the pop and the job is lost. Here it is kept, as a string, in the record.
    local ok, decoded = pcall(cjson.decode, payload)
    local record
    if ARGV[7] == 'cjson' then
      local rec = {}
      rec['run_at'] = ARGV[8]
      rec['queue'] = queue
      if ok then rec['payload'] = decoded else rec['payload'] = payload end
      rec['worker'] = ARGV[10]
      local encoded, text = pcall(cjson.encode, rec)
      if not encoded then
        -- cjson cannot write it (NaN, nesting over its limit): keep the bytes as a string
        ok = false
        rec['payload'] = payload
        text = cjson.encode(rec)
      end
      record = text
    else
      local body = payload
      if not ok then body = cjson.encode(payload) end
      record = '{"queue":' .. queue .. ',"run_at":' .. ARGV[8] .. ',"payload":' .. body .. '}'
    end
    redis.call('SET', KEYS[1], record)
    if ok then return finish(i - 8, payload, 1) end
    return finish(i - 8, payload, 0)
  end
end
return finish(0, '', 0)
