// Remote control (kombu's pidbox) and Celery events over Redis, as kombu 5.5 does them: fanout exchanges are
// PUB/SUB channels `/{db}.<exchange>[/<routing key>]` (fanout_prefix and fanout_patterns on, Celery's defaults),
// replies are LPUSHed to the queues `_kombu.binding.reply.celery.pidbox` routes the caller's key to.
import type { Redis } from 'ioredis';
import { type ControlRequest, parseControl } from '../control/wire.js';
import { eventJson } from '../events.js';
import type { ControlChannel, EventChannel, InboundMessage, OutboundMessage } from '../transport.js';
import { BINDING_PREFIX, REVOKED_KEY } from './redis-broker.js';
import { closeRedis } from './redis-connection.js';
import { decodeEnvelope, encodeEnvelope, PRIORITY_SEP } from './redis-envelope.js';

/** kombu's separator inside `_kombu.binding.<exchange>` members: `<routing_key>SEP<pattern>SEP<queue>`. */
export const BINDING_SEP = PRIORITY_SEP;
export const PIDBOX_EXCHANGE = 'celery.pidbox';
/** Celery's event exchange: a topic exchange, turned into a fanout one on Redis (celery.events.event.get_exchange). */
export const EVENT_EXCHANGE = 'celeryev';

/** When each revoked id was added, to forget it as Celery's LimitedSet does (the set the fetch checks is REVOKED_KEY). */
export const REVOKED_UNTIL_KEY = 'tbw.revoked.until';
/** Celery's worker_state.revoked: 50 000 ids, each for 3 hours. */
export const REVOKES_MAX = 50_000;
export const REVOKE_TTL_MS = 3 * 3600_000;

// Add ids to the revoked set with their expiry; drop the expired ones, then the oldest beyond the cap (both keys).
// KEYS: set, expiry zset. ARGV: now ms, ttl ms, max, ids...
const REVOKE_LUA = `
local now = tonumber(ARGV[1])
for i = 4, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i])
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
local over = redis.call('ZCARD', KEYS[2]) - #gone - tonumber(ARGV[3])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], #gone, #gone + over - 1)) do gone[#gone + 1] = id end
end
for _, id in ipairs(gone) do
  redis.call('SREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #gone`;

/** Redis db number of a redis:// URL (`/3` → 3), kombu's `{db}` in the fanout prefix. */
export function dbOf(url: string): number {
  try {
    const n = Number.parseInt(new URL(url).pathname.replace(/^\//, '') || '0', 10);
    return Number.isFinite(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

export function fanoutChannel(db: number, exchange: string, routingKey = ''): string {
  return routingKey ? `/${db}.${exchange}/${routingKey}` : `/${db}.${exchange}`;
}

/** Queues a direct exchange routes `routingKey` to, from the members of `_kombu.binding.<exchange>`. */
export function routeDirect(members: string[], routingKey: string): string[] {
  const out = new Set<string>();
  for (const m of members) {
    const [rk, , queue] = m.split(BINDING_SEP);
    if (rk === routingKey && queue) out.add(queue);
  }
  return [...out];
}

/** A JSON message for a Redis fanout or reply (delivery_mode 1, as kombu sends pidbox replies and events). */
function jsonMessage(
  body: unknown,
  exchange: string,
  routingKey: string,
  headers: Record<string, unknown>,
  text = JSON.stringify(body),
): OutboundMessage {
  return {
    body: Buffer.from(text, 'utf8'),
    contentEncoding: 'utf-8',
    contentType: 'application/json',
    headers,
    properties: { delivery_mode: 1 },
    exchange,
    routingKey,
    priority: 0,
  };
}

/** A raw pidbox message as a control request (tests; the node goes through the channel). */
export function parseRedisControl(raw: string): ControlRequest | Error {
  const d = decodeEnvelope(raw);
  if (!d.ok) return new Error(`undecodable control message: ${d.reason}`);
  return parseControl(d.message);
}

export class RedisControlChannel implements ControlChannel {
  #sub: Redis | null = null;
  readonly #binding: string;

  constructor(
    private readonly redis: Redis,
    private readonly db: number,
    nodename: string,
    private readonly subscriber: () => Redis,
    /** Celery's LimitedSet bounds for revoked ids (tests shrink them). */
    private readonly revokes = { max: REVOKES_MAX, ttlMs: REVOKE_TTL_MS, now: Date.now },
  ) {
    this.#binding = `${BINDING_SEP}${BINDING_SEP}${nodename}.celery.pidbox`;
  }

  async listen(onMessage: (msg: InboundMessage | Error) => void): Promise<void> {
    const channel = fanoutChannel(this.db, PIDBOX_EXCHANGE);
    const sub = (this.#sub = this.subscriber());
    sub.on('message', (ch: string, raw: string) => {
      if (ch !== channel) return;
      const d = decodeEnvelope(raw);
      onMessage(d.ok ? d.message : new Error(`undecodable control message: ${d.reason}`));
    });
    await sub.subscribe(channel);
    // Declare our pidbox queue's binding as kombu's queue_bind does, so the broker shows the node like Celery's.
    await this.redis.sadd(`${BINDING_PREFIX}${PIDBOX_EXCHANGE}`, this.#binding).catch(() => undefined);
  }

  async reply(to: { exchange: string; routingKey: string }, body: unknown, headers: Record<string, unknown>) {
    // reply.celery.pidbox is a direct exchange: route through kombu's binding set to the caller's reply queue.
    const queues = routeDirect(await this.redis.smembers(`${BINDING_PREFIX}${to.exchange}`), to.routingKey);
    const raw = encodeEnvelope(jsonMessage(body, to.exchange, to.routingKey, headers));
    for (const q of queues) await this.redis.lpush(q, raw);
  }

  /** Revoked ids for every fetch on this broker, forgotten after 3 h and beyond 50 000 (oldest first). */
  async revoke(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { max, ttlMs, now } = this.revokes;
    const args = [now(), ttlMs, max, ...ids];
    await this.redis.eval(REVOKE_LUA, 2, REVOKED_KEY, REVOKED_UNTIL_KEY, ...args);
  }

  async close(): Promise<void> {
    const sub = this.#sub;
    if (sub) await closeRedis(sub);
    if (this.redis.status === 'ready') {
      await this.redis.srem(`${BINDING_PREFIX}${PIDBOX_EXCHANGE}`, this.#binding).catch(() => undefined);
    }
  }
}

export class RedisEventChannel implements EventChannel {
  constructor(
    private readonly redis: Redis,
    private readonly db: number,
  ) {}

  async publish(routingKey: string, body: Record<string, unknown>, headers: Record<string, unknown>): Promise<void> {
    const raw = encodeEnvelope(jsonMessage(body, EVENT_EXCHANGE, routingKey, headers, eventJson(body)));
    await this.redis.publish(fanoutChannel(this.db, EVENT_EXCHANGE, routingKey), raw);
  }
}
