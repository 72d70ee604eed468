-- Remove one failed entry, matching any of its possible stored encodings.
-- KEYS[1]    list  <ns>:failed
-- ARGV[1..]  the entry's possible encodings, tried in order
-- Returns    1 when removed, 0 when none matched.
expect(KEYS[1], 'list')
for i = 1, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    return 1
  end
end
return 0
