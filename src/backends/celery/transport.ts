// kombu's Redis transport semantics on ioredis, with the list → `unacked` move made atomic (one Lua script pops
// and holds) instead of kombu's BRPOP-then-pipeline. Held messages are also recorded per child
// (`tbw.held.<host>.<slot>.<pid>`, indexed in `tbw.holders.<host>`) so a dead child's messages go back at once.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PRIORITY_SEP, queueKey } from './protocol.js';
import { redisTarget } from './redis-url.js';

export const UNACKED = 'unacked';
export const UNACKED_INDEX = 'unacked_index';
export const UNACKED_MUTEX = 'unacked_mutex';
export const REVOKED_KEY = 'tbw.revoked';
const BINDING_PREFIX = '_kombu.binding.';

/** A Redis client that reconnects forever with capped backoff and logs one line per connection state change. */
export function connectRedis(url: string, logger: Logger, role: string): Redis {
  const target = redisTarget(url);
  const redis = new Redis(target.url, {
    ...(target.tls ? { tls: target.tls } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 5000) + Math.floor(Math.random() * 100),
  });
  let state: 'connecting' | 'up' | 'down' = 'connecting';
  redis.on('ready', () => {
    if (state === 'down') logger.info({ role }, 'redis connection restored');
    state = 'up';
  });
  redis.on('error', (err: Error) => {
    if (state !== 'down') logger.warn({ role, err: err.message }, 'redis connection lost, reconnecting with backoff');
    state = 'down';
  });
  redis.on('close', () => {
    if (state === 'up') logger.warn({ role }, 'redis connection lost, reconnecting with backoff');
    if (state === 'up') state = 'down';
  });
  return redis;
}

/** Connect now or fail (the child reports a retryable boot failure); reconnects are automatic afterwards. */
export async function openRedis(redis: Redis, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis not reachable within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([redis.connect(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Pop up to n messages in priority order and hold each (unacked hash + index + this child's held set) in
// the same atomic step. Entries that are not a kombu envelope cannot be held (no delivery tag, and a Python
// worker restoring them would choke): they go straight to the dead-letter list.
//
// Reading the envelope without decoding it (decoding was most of this script's cost per message): kombu's
// body is base64, so a key like "delivery_tag" can only appear unescaped as a key of the envelope itself. Plain
// substring search finds each field (Python writes `": "`, JSON.stringify `":"`); a field seen twice, holding an
// escape or not a string falls back to cjson.decode, which stays the reference.
const FETCH_LUA = `
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
  local m = redis.call('RPOP', KEYS[i])
  if not m then i = i + 1 else
    got = got + 1
    local tag, ex, rk, id = envelope(m, anyRevoked)
    if type(tag) ~= 'string' or tag == '' then
      redis.call('LPUSH', KEYS[4], cjson.encode({reason = 'not a kombu envelope with a delivery_tag', queue = KEYS[i], message = m, worker = ARGV[3], at = ARGV[2]}))
      out[#out + 1] = KEYS[i]; out[#out + 1] = m; out[#out + 1] = ''; out[#out + 1] = 'dead'
    else
      if rk == nil then rk = string.gsub(KEYS[i], '${PRIORITY_SEP}%d$', '') end
      redis.call('HSET', KEYS[1], tag, '[' .. m .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
      redis.call('ZADD', KEYS[2], ARGV[2], tag)
      redis.call('SADD', KEYS[3], tag)
      local rev = '0'
      if id and anyRevoked and redis.call('SISMEMBER', KEYS[5], id) == 1 then rev = 'revoked' end
      out[#out + 1] = KEYS[i]; out[#out + 1] = m; out[#out + 1] = tag; out[#out + 1] = rev
    end
  end
end
return out`;

const ACK_LUA = `
for i = 1, #ARGV do
  if redis.call('SREM', KEYS[3], ARGV[i]) == 1 then
    redis.call('HDEL', KEYS[1], ARGV[i]) redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return #ARGV`;

// Push a message (dead-letter entry, retry, requeue) and ack the held one in one step: never both, never neither.
const PUSH_ACK_LUA = `
if ARGV[3] == 'L' then redis.call('LPUSH', KEYS[4], ARGV[2]) else redis.call('RPUSH', KEYS[4], ARGV[2]) end
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1`;

// kombu's restore_by_tag as compare-and-swap: only if the hash still holds what we read (nobody acked or
// restored it meanwhile) remove the hold and push the message back (RPUSH = next to be consumed).
const RESTORE_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if cur ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1])
for i = 4, #KEYS do
  if ARGV[4] == 'L' then redis.call('LPUSH', KEYS[i], ARGV[3]) else redis.call('RPUSH', KEYS[i], ARGV[3]) end
end
return 1`;

const UNLOCK_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface Fetched {
  /** The list it came from. */
  key: string;
  raw: string;
  /** Delivery tag; '' when the entry was dead-lettered by the fetch itself. */
  tag: string;
  flag: '' | 'revoked' | 'dead' | '0';
}

type Cmd = (...args: (string | number)[]) => Promise<unknown>;

export class Broker {
  readonly heldKey: string;
  readonly holdersKey: string;
  readonly holderField: string;
  readonly #cmd: Record<'fetch' | 'ack' | 'pushAck' | 'restore' | 'unlock', Cmd>;

  constructor(
    readonly redis: Redis,
    readonly opts: { hostname: string; index: number; pid: number; deadLetterKey: string; visibilityTimeoutS: number },
  ) {
    this.heldKey = `tbw.held.${opts.hostname}.${opts.index}.${opts.pid}`;
    this.holdersKey = `tbw.holders.${opts.hostname}`;
    this.holderField = `${opts.index}.${opts.pid}`;
    // keys undefined: the first argument is the key count (scripts over a variable set of lists).
    const def = (name: string, keys: number | undefined, lua: string): Cmd => {
      redis.defineCommand(name, keys === undefined ? { lua } : { numberOfKeys: keys, lua });
      const fn = (redis as unknown as Record<string, Cmd>)[name]!;
      return (...a) => fn.apply(redis, a);
    };
    this.#cmd = {
      fetch: def('tbwFetch', undefined, FETCH_LUA),
      ack: def('tbwAck', 3, ACK_LUA),
      pushAck: def('tbwPushAck', 4, PUSH_ACK_LUA),
      restore: def('tbwRestore', undefined, RESTORE_LUA),
      unlock: def('tbwUnlock', 1, UNLOCK_LUA),
    };
  }

  /** Pop and hold up to n messages from `keys` (already in priority order). Never blocks. */
  async fetch(keys: readonly string[], n: number, nowMs: number): Promise<Fetched[]> {
    const base = [UNACKED, UNACKED_INDEX, this.heldKey, this.opts.deadLetterKey, REVOKED_KEY];
    const flat = (await this.#cmd.fetch(
      base.length + keys.length,
      ...base,
      ...keys,
      n,
      nowMs / 1000,
      `celery@${this.opts.hostname}`,
    )) as string[];
    const out: Fetched[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push({ key: flat[i]!, raw: flat[i + 1]!, tag: flat[i + 2]!, flag: flat[i + 3] as Fetched['flag'] });
    }
    return out;
  }

  async ack(tags: string[]): Promise<void> {
    if (tags.length > 0) await this.#cmd.ack(UNACKED, UNACKED_INDEX, this.heldKey, ...tags);
  }

  /** Push `raw` to `list` (L = tail/last consumed, R = head/next consumed) and ack `tag`, atomically. */
  async pushAndAck(tag: string, list: string, raw: string, side: 'L' | 'R'): Promise<void> {
    await this.#cmd.pushAck(UNACKED, UNACKED_INDEX, this.heldKey, list, tag, raw, side);
  }

  /** Queues a held message goes back to: anonymous exchange → routing key; else kombu's binding table. */
  async #targets(exchange: string, routingKey: string, priority: number): Promise<string[]> {
    let queues = [routingKey];
    if (exchange !== '') {
      const members = await this.redis.smembers(BINDING_PREFIX + exchange);
      const bound = members
        .map((m) => m.split(PRIORITY_SEP))
        .filter(([rk]) => rk === routingKey)
        .map(([, , q]) => q ?? '')
        .filter((q) => q !== '');
      // kombu drops a message whose binding vanished; we fall back to the routing key rather than lose it.
      if (bound.length > 0) queues = [...new Set(bound)];
    }
    return queues.map((q) => queueKey(q, priority));
  }

  /** Give a held message back to its queue (kombu restore_by_tag); false if it was no longer held. */
  async restore(tag: string, leftmost = false, heldKey = this.heldKey): Promise<boolean> {
    const cur = await this.redis.hget(UNACKED, tag);
    if (cur === null) {
      await this.redis.srem(heldKey, tag);
      return false;
    }
    let targets: string[];
    let payload: string;
    try {
      const [m, ex, rk] = JSON.parse(cur) as [Record<string, Record<string, unknown>>, string, string];
      if (m.headers) m.headers.redelivered = true;
      const di = m.properties?.delivery_info as Record<string, unknown> | undefined;
      if (di) di.redelivered = true;
      const pri = typeof m.properties?.priority === 'number' ? m.properties.priority : 0;
      targets = await this.#targets(ex ?? '', rk ?? 'celery', pri);
      payload = JSON.stringify(m);
    } catch {
      // An entry we cannot read is kept for humans in the dead-letter list rather than restored forever.
      targets = [this.opts.deadLetterKey];
      payload = JSON.stringify({ reason: 'unreadable unacked entry', message: cur, at: Date.now() / 1000 });
    }
    const n = (await this.#cmd.restore(
      3 + targets.length,
      UNACKED,
      UNACKED_INDEX,
      heldKey,
      ...targets,
      tag,
      cur,
      payload,
      leftmost ? 'L' : 'R',
    )) as number;
    return n === 1;
  }

  /** Announce this child as a holder (so others can restore its messages when it dies). */
  async register(nowMs: number): Promise<void> {
    await this.redis.hset(
      this.holdersKey,
      this.holderField,
      JSON.stringify({ pid: this.opts.pid, index: this.opts.index, since: nowMs }),
    );
  }

  async unregister(): Promise<void> {
    const left = await this.redis.scard(this.heldKey);
    if (left === 0) await this.redis.hdel(this.holdersKey, this.holderField);
  }

  /** Restore every message held by a dead child of this node; returns how many went back. */
  async restoreDeadHolders(isAlive: (pid: number) => boolean): Promise<number> {
    const holders = await this.redis.hgetall(this.holdersKey);
    let restored = 0;
    for (const field of Object.keys(holders)) {
      const pid = Number(field.split('.')[1]);
      if (field === this.holderField || !Number.isInteger(pid) || isAlive(pid)) continue;
      const key = `tbw.held.${this.opts.hostname}.${field}`;
      for (const tag of await this.redis.smembers(key)) if (await this.restore(tag, false, key)) restored++;
      await this.redis.del(key);
      await this.redis.hdel(this.holdersKey, field);
    }
    return restored;
  }

  /** kombu's restore_visible: under `unacked_mutex`, restore what has been held longer than the visibility timeout. */
  async restoreVisible(nowMs: number, limit = 100): Promise<number> {
    const token = randomUUID();
    const got = await this.redis.set(UNACKED_MUTEX, token, 'EX', 300, 'NX');
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = nowMs / 1000 - this.opts.visibilityTimeoutS;
      const tags = await this.redis.zrevrangebyscore(UNACKED_INDEX, ceil, 0, 'LIMIT', 0, limit);
      for (const tag of tags) if (await this.restore(tag)) restored++;
    } finally {
      await this.#cmd.unlock(UNACKED_MUTEX, token);
    }
    return restored;
  }

  /** Keep our own holds fresh so a live worker's long task or ETA wait is not restored by visibility timeout. */
  async refresh(tags: string[], nowMs: number): Promise<void> {
    if (tags.length === 0) return;
    const args: (string | number)[] = [];
    for (const t of tags) args.push(nowMs / 1000, t);
    await this.redis.zadd(UNACKED_INDEX, 'XX', ...args);
  }
}
