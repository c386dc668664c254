/** The job store's Lua scripts: each keeps a record and its indexes in one atomic step. */

/**
 * Keeps only the last ARGV[2] bytes of the log after appending ARGV[1], and counts every byte ever
 * appended (KEYS[2]), so a reader's offset into the whole output stays meaningful after a cut.
 */
export const APPEND_LOG_SCRIPT = `
redis.call('INCRBY', KEYS[2], string.len(ARGV[1]))
local len = redis.call('APPEND', KEYS[1], ARGV[1])
local max = tonumber(ARGV[2])
if len > max then
  local tail = redis.call('GETRANGE', KEYS[1], len - max, -1)
  redis.call('SET', KEYS[1], tail, 'KEEPTTL')
  return max
end
return len`;

/**
 * Writes ARGV[2] only if the record still equals ARGV[1]; moves the id between status sets (all
 * jobs' and its owner's), marks it finished (ARGV[4]: the end time in ms, or '') and appends the
 * change's events (ARGV[6..]) in the same step, so a change is never recorded without its events
 * nor an event without its change, whichever line the writer dies at.
 *
 * Admission (ARGV[5], the owner's concurrency limit, or ''): a job leaving `queued` for a running
 * status is written only while its owner has fewer than the limit running (KEYS[8..], the owner's
 * running status sets) and it is among the oldest queued of its owner for the free slots. Slots are
 * the index itself, so a crash can neither lose nor double one. Blocked: {2, running, place}.
 *
 * Webhooks: each `status` or `settled` event written is also added to the webhook outbox (KEYS[8],
 * a stream capped near 100k entries) as {job, type, status, seq, at}, seq being the event's place.
 *
 * KEYS: job, status(cur), status(next), events, ownerStatus(cur), ownerStatus(next), finished, outbox, running...
 */
export const COMPARE_AND_SET_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[5] ~= '' then
  local limit = tonumber(ARGV[5])
  local running = 0
  for i = 9, #KEYS do running = running + redis.call('ZCARD', KEYS[i]) end
  local place = redis.call('ZRANK', KEYS[5], ARGV[3])
  if place == false then place = 0 end
  if running >= limit or place >= limit - running then return {2, running, place} end
end
redis.call('SET', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[3] then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], 0, ARGV[3])
  redis.call('ZREM', KEYS[5], ARGV[3])
  redis.call('ZADD', KEYS[6], 0, ARGV[3])
end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[7], ARGV[4], ARGV[3]) end
if #ARGV > 5 then
  local length = redis.call('RPUSH', KEYS[4], unpack(ARGV, 6))
  for i = 6, #ARGV do
    local ok, event = pcall(cjson.decode, ARGV[i])
    if ok and type(event) == 'table' and (event.type == 'status' or event.type == 'settled') then
      local status = ''
      if type(event.data) == 'table' and type(event.data.status) == 'string' then status = event.data.status end
      local seq = length - #ARGV + i
      redis.call('XADD', KEYS[8], 'MAXLEN', '~', '100000', '*', 'job', ARGV[3], 'type', event.type, 'status', status, 'seq', seq, 'at', tostring(event.at))
    end
  end
end
return 1`;

/**
 * Deletes a job (record, events, log, every key of its data) and its index entries, only if the
 * record still equals ARGV[1], and leaves a tombstone (KEYS[7], ARGV[3] seconds) so a retried
 * submission with the same Idempotency-Key cannot bring the id back. KEYS: job, all, status, owner,
 * ownerStatus, finished, tombstone, then the job's data keys (jobDataKeys). ARGV[2]: the id.
 */
export const REMOVE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 8, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 2, 6 do redis.call('ZREM', KEYS[i], ARGV[2]) end
redis.call('SET', KEYS[7], '1', 'EX', ARGV[3])
return 1`;

/**
 * Indexes a job made before tenants (no owner index, no retention entry), only if its record still
 * equals ARGV[1]: a record that changed meanwhile was indexed by the write that changed it.
 * KEYS: job, owner, ownerStatus, finished. ARGV: raw record, id, end time in ms or ''.
 */
export const BACKFILL_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[4], 'NX', ARGV[3], ARGV[2]) end
return 1`;

/**
 * A job's spend so far in its month's ledger (KEYS[1]): only ever raised (the cost of a job only
 * grows), the month's `total` raised by the same amount. ARGV: job id, USD, the ledger's lifetime (s). Returns the total.
 */
export const RECORD_SPEND_SCRIPT = `
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local now = tonumber(ARGV[2])
if now > before then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBYFLOAT', KEYS[1], 'total', now - before)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return redis.call('HGET', KEYS[1], 'total') or '0'`;
