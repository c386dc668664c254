/**
 * Reads the stored log from a byte offset of everything the job printed, in Redis: only the bytes
 * asked for cross the network (a live stream asks every few seconds for the few new ones), and the
 * size, the stored part and the read agree because they are taken in one step.
 * KEYS: log, log-size counter. ARGV: offset, max bytes (0: to the end).
 * Returns {text, start, size, truncated (1 when the stored tail lost the beginning)}: `start` is where the text begins (later than the offset when the
 * stored tail no longer holds those bytes), `size` every byte printed.
 */
export const LOG_FROM_SCRIPT = `
local kept = redis.call('STRLEN', KEYS[1])
local counted = tonumber(redis.call('GET', KEYS[2]) or '-1')
local size = kept
if counted > kept then size = counted end
local cut = size - kept
local start = math.min(math.max(tonumber(ARGV[1]), cut), size)
local max = tonumber(ARGV[2])
local text = ''
if start < size then
  local last = -1
  if max > 0 then last = start - cut + max - 1 end
  text = redis.call('GETRANGE', KEYS[1], start - cut, last)
end
local truncated = 0
if cut > 0 then truncated = 1 end
return {text, start, size, truncated}`;

/**
 * Appends ARGV[3] to the log (kept and counted exactly as APPEND_LOG_SCRIPT does) only when the
 * host log's stored offset (KEYS[3], field ARGV[1]: the instance) equals ARGV[4], then stores
 * ARGV[4] + ARGV[5] (the host bytes the text stands for). A missing field counts as 0. The poll
 * step and a live tail may read the same bytes of one host at once; whoever appends first wins and
 * the other is refused, so no byte is stored twice or skipped.
 * KEYS: log, log-size counter, offsets hash. ARGV: instance id, text, max bytes kept, from, consumed.
 * Returns {1 appended | 0 refused, the stored offset after the call}.
 */
export const APPEND_LOG_AT_SCRIPT = `
local stored = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local from = tonumber(ARGV[4])
if stored ~= from then return {0, stored} end
local next = from + tonumber(ARGV[5])
redis.call('HSET', KEYS[3], ARGV[1], string.format('%d', next))
if string.len(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[2], string.len(ARGV[2]))
  local len = redis.call('APPEND', KEYS[1], ARGV[2])
  local max = tonumber(ARGV[3])
  if len > max then
    local tail = redis.call('GETRANGE', KEYS[1], len - max, -1)
    redis.call('SET', KEYS[1], tail, 'KEEPTTL')
  end
end
return {1, next}`;

/**
 * Sets the instance's host log offset (KEYS[1], field ARGV[1]) to ARGV[2] unless it is set, and
 * returns the stored one: a job that was in training before offsets lived here carries its offset
 * in its step state, and this hands it over once.
 */
export const SEED_LOG_OFFSET_SCRIPT = `
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]))`;
