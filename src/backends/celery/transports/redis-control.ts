// Remote control (kombu's pidbox) and Celery events over Redis, as kombu 5.5 does them: fanout exchanges are
// PUB/SUB channels `/{db}.<exchange>[/<routing key>]` (fanout_prefix and fanout_patterns on, Celery's defaults),
// replies are LPUSHed to the queues `_kombu.binding.reply.celery.pidbox` routes the caller's key to.
import type { Redis } from 'ioredis';
import { type ControlRequest, parseControl } from '../control/wire.js';
import type { ControlChannel, EventChannel, InboundMessage, OutboundMessage } from '../transport.js';
import { BINDING_PREFIX, REVOKED_KEY } from './redis-broker.js';
import { closeRedis } from './redis-connection.js';
import { decodeEnvelope, encodeEnvelope, PRIORITY_SEP } from './redis-envelope.js';

/** kombu's separator inside `_kombu.binding.<exchange>` members: `<routing_key>SEP<pattern>SEP<queue>`. */
export const BINDING_SEP = PRIORITY_SEP;
export const PIDBOX_EXCHANGE = 'celery.pidbox';
/** Celery's event exchange: a topic exchange, turned into a fanout one on Redis (celery.events.event.get_exchange). */
export const EVENT_EXCHANGE = 'celeryev';

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
): OutboundMessage {
  return {
    body: Buffer.from(JSON.stringify(body), 'utf8'),
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

  async revoke(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.sadd(REVOKED_KEY, ...ids);
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
    const raw = encodeEnvelope(jsonMessage(body, EVENT_EXCHANGE, routingKey, headers));
    await this.redis.publish(fanoutChannel(this.db, EVENT_EXCHANGE, routingKey), raw);
  }
}
