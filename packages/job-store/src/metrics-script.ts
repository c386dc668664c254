/**
 * The metric series' one write, as a Lua script: merging a point, deciding what to keep and
 * thinning happen in one atomic step, so a monitor that dies mid-chunk and reads the chunk again
 * finds the series exactly as the first read left it (see metrics.ts for the rules).
 *
 * KEYS: points (sorted set, score = step, member = the point's JSON), state (hash), events (list).
 * ARGV: maxPoints, maxBytes, maxValues, the event time (ISO 8601), then (step, point JSON) pairs.
 * Returns {added, merged, skipped, stride, thinned}.
 *
 * Numbers are never re-encoded by cjson on the common path (a new step's JSON is stored as sent):
 * Redis's cjson writes numbers with 14 significant digits, which would change a loss of
 * 0.12345678901234568. A merge writes its values with %.17g, which reads back as the same double.
 * For the same reason the highest step is stored as the caller's text, not as a Lua number.
 */
export const APPEND_METRICS_SCRIPT = `
local maxPoints, maxBytes, maxValues = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[2], 'stride', 'offered', 'top', 'bytes')
local stride = tonumber(state[1]) or 1
local offered = tonumber(state[2]) or 0
local topText = state[3]
local top = tonumber(topText)
local bytes = tonumber(state[4]) or 0
local added, merged, skipped, thinned = 0, 0, 0, 0

local function encodeValues(values)
  local parts = {}
  for name, value in pairs(values) do parts[#parts + 1] = cjson.encode(name) .. ':' .. string.format('%.17g', value) end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- A later record of a stored step: its values win, the first read time stays, no name past maxValues.
local function merge(old, new, stepText)
  local a, b = cjson.decode(old), cjson.decode(new)
  local count, changed = 0, false
  for _ in pairs(a.values) do count = count + 1 end
  for name, value in pairs(b.values) do
    if a.values[name] ~= nil then
      if a.values[name] ~= value then a.values[name] = value; changed = true end
    elseif count < maxValues then
      a.values[name] = value; count = count + 1; changed = true
    end
  end
  if not changed then return old end
  return '{"step":' .. stepText .. ',"at":' .. cjson.encode(a.at) .. ',"values":' .. encodeValues(a.values) .. '}'
end

-- Removes every second point (ranks 1, 3, 5, ...: the first point stays), doubles the stride and
-- tells the job's events (one event per halving).
local function thin()
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  local doomed = {}
  for i = 2, #members, 2 do
    doomed[#doomed + 1] = members[i]
    bytes = bytes - string.len(members[i])
    if #doomed == 1000 then redis.call('ZREM', KEYS[1], unpack(doomed)); doomed = {} end
  end
  if #doomed > 0 then redis.call('ZREM', KEYS[1], unpack(doomed)) end
  stride = stride * 2
  thinned = thinned + 1
  local points = redis.call('ZCARD', KEYS[1])
  local message = 'The metric series outgrew ' .. ARGV[1] .. ' points or ' .. ARGV[2] .. ' bytes and was thinned: ' ..
    'it now keeps one metrics record in ' .. stride .. ' (' .. points .. ' points)'
  redis.call('RPUSH', KEYS[3], cjson.encode({ at = ARGV[4], type = 'training', stage = 'training', message = message,
    data = { stride = stride, points = points } }))
end

for i = 5, #ARGV, 2 do
  local stepText, point = ARGV[i], ARGV[i + 1]
  local step = tonumber(stepText)
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], stepText, stepText, 'LIMIT', 0, 1)[1]
  if old then
    local new = merge(old, point, stepText)
    if new ~= old then
      redis.call('ZREM', KEYS[1], old)
      redis.call('ZADD', KEYS[1], stepText, new)
      bytes = bytes + string.len(new) - string.len(old)
    end
    merged = merged + 1
  else
    local keep
    if top == nil or step > top then
      -- A step past every one seen: the offered-th new step, kept if on the stride.
      keep = offered % stride == 0
      offered = offered + 1
      top, topText = step, stepText
    else
      -- At or below the highest step and not stored: an out-of-order record, kept while nothing was
      -- thinned; after a thinning it may be a step thinned away (a chunk read again), so it stays out.
      keep = stride == 1
    end
    if keep then
      redis.call('ZADD', KEYS[1], stepText, point)
      bytes = bytes + string.len(point)
      added = added + 1
    else
      skipped = skipped + 1
    end
  end
  while true do
    local points = redis.call('ZCARD', KEYS[1])
    if points <= 1 or (points <= maxPoints and bytes <= maxBytes) then break end
    thin()
  end
end

if topText then redis.call('HSET', KEYS[2], 'stride', stride, 'offered', offered, 'top', topText, 'bytes', bytes) end
return { added, merged, skipped, stride, thinned }`;
