// kombu's pidbox request format, pure and transport-neutral: what a control message asks, whether it is for this
// node. Verified against kombu 5.5 (kombu/pidbox.py) and celery 5.5 (celery/app/control.py); how the message
// travels is the transport's business (transports/redis-control.ts).
import { isObj } from '../../../util/json.js';
import type { InboundMessage } from '../transport.js';

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

function decodeBody(m: InboundMessage): unknown {
  if (m.contentType !== null && m.contentType !== 'application/json') {
    throw new Error(`unsupported content type ${m.contentType}`);
  }
  return JSON.parse(typeof m.body === 'string' ? m.body : m.body.toString('utf8')) as unknown;
}

/** A control message as received on the pidbox; an Error says why it cannot be used. */
export function parseControl(m: InboundMessage): ControlRequest | Error {
  let body: unknown;
  try {
    body = decodeBody(m);
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
  return {
    method: body.method,
    arguments: args,
    destination: Array.isArray(dest) && dest.length > 0 ? (dest as string[]) : null,
    pattern: typeof body.pattern === 'string' ? body.pattern : null,
    matcher: typeof body.matcher === 'string' ? body.matcher : null,
    replyTo,
    ticket: typeof body.ticket === 'string' ? body.ticket : null,
    expires: typeof m.headers.expires === 'number' ? m.headers.expires : null,
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

/**
 * Hours west of UTC, as celery.utils.time.utcoffset of Celery 5.7 reports them: exact (a float, 5.5 for UTC-5:30;
 * 5.5 floored it to an int). Events write it as a float (eventJson).
 */
export function utcoffsetHours(d = new Date()): number {
  return d.getTimezoneOffset() / 60;
}
