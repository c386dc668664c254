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
