// kombu's pidbox and event wire format on the Redis transport, as pure functions (no IO): how a control message
// arrives, whether it is for this node, and the envelopes of replies and events. Verified against kombu 5.5
// (kombu/pidbox.py, kombu/transport/redis.py) and celery 5.5 (celery/events/event.py).
import { randomUUID } from 'node:crypto';
import { isObj } from '../../../util/json.js';

/** kombu's separator inside `_kombu.binding.<exchange>` members: `<routing_key>SEP<pattern>SEP<queue>`. */
export const BINDING_SEP = '\x06\x16';
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

/**
 * kombu's fanout over Redis is PUB/SUB: Celery leaves fanout_prefix and fanout_patterns on (kombu's defaults), so
 * the channel is `/{db}.<exchange>` and, when the message has a routing key, `/{db}.<exchange>/<routing_key>`.
 */
export function fanoutChannel(db: number, exchange: string, routingKey = ''): string {
  return routingKey ? `/${db}.${exchange}/${routingKey}` : `/${db}.${exchange}`;
}

export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern: string | null;
  matcher: string | null;
  replyTo: { exchange: string; routingKey: string } | null;
  ticket: string | null;
  /** Epoch seconds after which the sender no longer listens (message header `expires`). */
  expires: number | null;
}

function decodeBody(env: Record<string, unknown>): unknown {
  const props = isObj(env.properties) ? env.properties : {};
  if (env['content-type'] !== undefined && env['content-type'] !== 'application/json') {
    throw new Error(`unsupported content type ${String(env['content-type'])}`);
  }
  const body = env.body;
  if (typeof body !== 'string') return body;
  const text = props.body_encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
  return JSON.parse(text) as unknown;
}

/** A control message as published on the pidbox channel; an Error says why it cannot be used. */
export function parseControl(raw: string): ControlRequest | Error {
  let env: unknown;
  let body: unknown;
  try {
    env = JSON.parse(raw);
    if (!isObj(env)) return new Error('envelope is not an object');
    body = decodeBody(env);
  } catch (e) {
    return new Error(`undecodable control message: ${(e as Error).message}`);
  }
  if (!isObj(body) || typeof body.method !== 'string' || body.method === '')
    return new Error('control message has no method');
  const args = body.arguments ?? {};
  if (!isObj(args)) return new Error('control arguments are not an object');
  const dest = body.destination;
  if (dest !== undefined && dest !== null && !(Array.isArray(dest) && dest.every((d) => typeof d === 'string'))) {
    return new Error('control destination is not a list of names');
  }
  const rt = body.reply_to;
  const replyTo =
    isObj(rt) && typeof rt.exchange === 'string' && typeof rt.routing_key === 'string'
      ? { exchange: rt.exchange, routingKey: rt.routing_key }
      : null;
  const headers = isObj((env as Record<string, unknown>).headers)
    ? ((env as Record<string, unknown>).headers as Record<string, unknown>)
    : {};
  return {
    method: body.method,
    arguments: args,
    destination: Array.isArray(dest) && dest.length > 0 ? (dest as string[]) : null,
    pattern: typeof body.pattern === 'string' ? body.pattern : null,
    matcher: typeof body.matcher === 'string' ? body.matcher : null,
    replyTo,
    ticket: typeof body.ticket === 'string' ? body.ticket : null,
    expires: typeof headers.expires === 'number' ? headers.expires : null,
  };
}

/** Celery's glob matcher (fnmatch) as a RegExp. */
function globRe(pattern: string): RegExp {
  const src = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${src}$`);
}

/** kombu Node.handle_message: a destination list names us, or a pattern matches us, or neither is given. */
export function isForNode(req: ControlRequest, nodename: string): boolean {
  if (req.destination) return req.destination.includes(nodename);
  if (req.pattern && req.matcher) {
    try {
      return req.matcher === 'pcre' ? new RegExp(req.pattern).test(nodename) : globRe(req.pattern).test(nodename);
    } catch {
      return false;
    }
  }
  return true;
}

/** A kombu JSON message (body base64 JSON), as kombu's Redis transport stores and publishes it. */
export function envelope(
  body: unknown,
  o: { exchange: string; routingKey: string; headers: Record<string, unknown> },
): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify(body), 'utf8').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: o.headers,
    properties: {
      delivery_mode: 1,
      delivery_info: { exchange: o.exchange, routing_key: o.routingKey },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  });
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

/** Hours west of UTC, as celery.utils.time.utcoffset reports them. */
export function utcoffsetHours(d = new Date()): number {
  return Math.floor(d.getTimezoneOffset() / 60);
}

/** Python's repr() of JSON-like values, which Celery events carry for args/kwargs/result. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isObj(v))
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  return pyRepr(String(v));
}
