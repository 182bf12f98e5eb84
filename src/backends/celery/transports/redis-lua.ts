// kombu's Redis structures changed atomically: the Lua scripts of the Redis transport (redis-broker.ts runs them).
// KEYS/ARGV layouts are documented where each is called.
import { LOST_HEADER, PRIORITY_SEP } from './redis-envelope.js';

// Pop up to n messages in priority order and hold each (unacked hash + index + this child's held set) in
// the same atomic step. Entries that are not a kombu envelope cannot be held (no delivery tag, and a Python
// worker restoring them would choke): they go straight to the dead-letter list.
//
// Reading the envelope without decoding it (decoding was most of this script's cost per message): kombu's
// body is base64, so a key like "delivery_tag" can only appear unescaped as a key of the envelope itself. Plain
// substring search finds each field (Python writes `": "`, JSON.stringify `":"`); a field seen twice, holding an
// escape or not a string falls back to cjson.decode, which stays the reference.
export const FETCH_LUA = `
local function field(m, name)
  local s, e = string.find(m, '"' .. name .. '": "', 1, true)
  if not s then s, e = string.find(m, '"' .. name .. '":"', 1, true) end
  if not s then
    if string.find(m, '"' .. name .. '":', 1, true) then return nil, false end
    return nil, true
  end
  local q = string.find(m, '"', e + 1, true)
  if not q then return nil, false end
  local v = string.sub(m, e + 1, q - 1)
  if string.find(v, '\\\\', 1, true) or string.find(m, '"' .. name .. '":', q, true) then return nil, false end
  return v, true
end
local function decoded(m)
  local ok, env = pcall(cjson.decode, m)
  local tag, ex, rk, id = nil, '', nil, nil
  if ok and type(env) == 'table' then
    local p = env['properties']
    if type(p) == 'table' then
      tag = p['delivery_tag']
      local di = p['delivery_info']
      if type(di) == 'table' then
        if type(di['exchange']) == 'string' then ex = di['exchange'] end
        if type(di['routing_key']) == 'string' then rk = di['routing_key'] end
      end
    end
    local h = env['headers']
    if type(h) == 'table' and type(h['id']) == 'string' then id = h['id'] end
  end
  return tag, ex, rk, id
end
local function envelope(m, wantId)
  local tag, ok1 = field(m, 'delivery_tag')
  if not (tag and ok1) then return decoded(m) end
  local ex, ok2 = field(m, 'exchange')
  local rk, ok3 = field(m, 'routing_key')
  local id, ok4 = nil, true
  if wantId then id, ok4 = field(m, 'id') end
  if ok2 and ok3 and ok4 then return tag, ex or '', rk, id end
  return decoded(m)
end
local n = tonumber(ARGV[1])
local anyRevoked = redis.call('SCARD', KEYS[5]) > 0
local out = {}
local got = 0
local i = 6
while got < n and i <= #KEYS do
  -- Read first, write the hold, pop last: at maxmemory Redis refuses the first write and the script stops with
  -- nothing popped (RPOP is allowed at maxmemory; a pop before a refused HSET would lose the message).
  local m = redis.call('LINDEX', KEYS[i], -1)
  if not m then i = i + 1 else
    got = got + 1
    local tag, ex, rk, id = envelope(m, anyRevoked)
    if type(tag) ~= 'string' or tag == '' then
      local kept = m
      if #m > tonumber(ARGV[5]) then
        kept = string.sub(m, 1, tonumber(ARGV[5]))
        while #kept > 0 and string.byte(kept, #kept) >= 128 do kept = string.sub(kept, 1, #kept - 1) end
      end
      redis.call('LPUSH', KEYS[4], cjson.encode({reason = 'not a kombu envelope with a delivery_tag', queue = KEYS[i], message = kept, message_bytes = #m, worker = ARGV[3], at = ARGV[2]}))
      if tonumber(ARGV[4]) > 0 then redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1) end
      redis.call('RPOP', KEYS[i])
      out[#out + 1] = KEYS[i]; out[#out + 1] = kept; out[#out + 1] = ''; out[#out + 1] = 'dead'
    else
      if rk == nil then rk = string.gsub(KEYS[i], '${PRIORITY_SEP}%d$', '') end
      redis.call('HSET', KEYS[1], tag, '[' .. m .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
      redis.call('ZADD', KEYS[2], ARGV[2], tag)
      redis.call('SADD', KEYS[3], tag)
      redis.call('RPOP', KEYS[i])
      local rev = '0'
      if id and anyRevoked and redis.call('SISMEMBER', KEYS[5], id) == 1 then rev = 'revoked' end
      out[#out + 1] = KEYS[i]; out[#out + 1] = m; out[#out + 1] = tag; out[#out + 1] = rev
      -- A rerun after a lost worker ends the batch: nothing fetched after it may be charged for its death.
      if string.find(m, '"${LOST_HEADER}"', 1, true) then got = n end
    end
  end
end
return out`;

// Ack: remove each tag from the unacked hash, its index and this child's held (and parked) set.
export const ACK_LUA = `
for i = 1, #ARGV do
  if redis.call('SREM', KEYS[3], ARGV[i]) == 1 then
    redis.call('HDEL', KEYS[1], ARGV[i]) redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('SREM', KEYS[4], ARGV[i])
  end
end
return #ARGV`;

// Push a message (dead-letter entry, retry, requeue) and ack the held one in one step: never both, never neither.
// ARGV[4] > 0 caps the target list to that many entries (the dead-letter list keeps the newest).
export const PUSH_ACK_LUA = `
if ARGV[3] == 'L' then redis.call('LPUSH', KEYS[4], ARGV[2]) else redis.call('RPUSH', KEYS[4], ARGV[2]) end
if tonumber(ARGV[4]) > 0 then redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1) end
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[1])
end
return 1`;

// kombu's restore_by_tag as compare-and-swap: only if the hash still holds what we read (nobody acked or
// restored it meanwhile) push the message back (RPUSH = next to be consumed), then remove the hold — in that
// order, so a push refused at maxmemory leaves the hold as it was.
// KEYS: unacked, unacked_index, held set, parked set, then the target lists.
export const RESTORE_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur ~= ARGV[2] then
  redis.call('SREM', KEYS[3], ARGV[1]) redis.call('SREM', KEYS[4], ARGV[1])
  return 0
end
for i = 5, #KEYS do
  if ARGV[4] == 'L' then redis.call('LPUSH', KEYS[i], ARGV[3]) else redis.call('RPUSH', KEYS[i], ARGV[3]) end
end
redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1]) redis.call('SREM', KEYS[4], ARGV[1])
return 1`;

// Release unacked_mutex only if we still own it.
export const UNLOCK_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
