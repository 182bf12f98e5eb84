// kombu's Redis envelope and list names, pure: a queue entry is a JSON envelope {body (base64), content-type,
// content-encoding, headers, properties {delivery_tag, delivery_info, body_encoding, priority, ...}} in a list per
// queue and priority step. Decoded here into the transport-neutral InboundMessage protocol.ts parses, and encoded
// from the OutboundMessage it builds.
import { randomUUID } from 'node:crypto';
import { isObj } from '../../../util/json.js';
import {
  buildTask,
  parseMessage,
  retryMessage,
  type OutgoingTask,
  type ParseResult,
  type TaskMessage,
} from '../protocol.js';
import type { InboundMessage, OutboundMessage } from '../transport.js';
import { LOST_HEADER, LOST_REASON_HEADER } from '../transport.js';

/** kombu.transport.redis: priority sub-queues are `queue`, `queue\x06\x163`, `…6`, `…9`; 0 is consumed first. */
export const PRIORITY_SEP = '\x06\x16';
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

export function priorityStep(priority: number): number {
  let step = 0;
  for (const s of PRIORITY_STEPS) if (priority >= s) step = s;
  return step;
}

/** The Redis list a message of this priority lives in (kombu's _q_for_pri). */
export function queueKey(queue: string, priority = 0): string {
  const step = priorityStep(priority);
  return step === 0 ? queue : `${queue}${PRIORITY_SEP}${step}`;
}

/** The queue a list belongs to (its name without the priority suffix). */
export function queueOfKey(key: string): string {
  return key.split(PRIORITY_SEP)[0] ?? key;
}

/** Every list of these queues in BRPOP order: all queues' priority 0 first, then 3, 6, 9 (as kombu does). */
export function consumeKeys(queues: readonly string[]): string[] {
  return PRIORITY_STEPS.flatMap((p) => queues.map((q) => queueKey(q, p)));
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

// Lost-worker bookkeeping headers (transport.ts): the restore of a dead child's messages writes them.
export { LOST_HEADER, LOST_REASON_HEADER };

function lostCount(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

/** Properties that are the Redis transport's own bookkeeping, not the message's. */
const TRANSPORT_PROPS = new Set(['body_encoding', 'delivery_tag', 'delivery_info']);

export type Decoded =
  | { ok: true; message: InboundMessage; tag: string }
  | { ok: false; reason: string; id: string | null; task: string | null };

function decodedBody(body: unknown, props: Record<string, unknown>): Buffer | string {
  if (props.body_encoding === 'base64') {
    if (typeof body !== 'string' || !/^[A-Za-z0-9+/\s]*=*\s*$/.test(body)) throw new Error('body is not valid base64');
    return Buffer.from(body, 'base64');
  }
  // Some clients embed the JSON body itself rather than a string of it.
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** One raw queue entry → the message it carries, or why it cannot be read (with the id/task where visible). */
export function decodeEnvelope(raw: string): Decoded {
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch (e) {
    return { ok: false, reason: `envelope is not JSON: ${(e as Error).message}`, id: null, task: null };
  }
  if (!isObj(env)) return { ok: false, reason: 'envelope is not a JSON object', id: null, task: null };
  const headers = isObj(env.headers) ? env.headers : {};
  const props = isObj(env.properties) ? env.properties : {};
  let body: Buffer | string;
  try {
    body = decodedBody(env.body, props);
  } catch (e) {
    const id = str(headers.id) ?? str(props.correlation_id);
    return { ok: false, reason: `cannot decode body: ${(e as Error).message}`, id, task: str(headers.task) };
  }
  const di = isObj(props.delivery_info) ? props.delivery_info : {};
  const tag = str(props.delivery_tag) ?? '';
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) if (!TRANSPORT_PROPS.has(k)) properties[k] = v;
  return {
    ok: true,
    tag,
    message: {
      headers,
      properties,
      body,
      contentType: str(env['content-type']),
      contentEncoding: str(env['content-encoding']),
      deliveryInfo: { exchange: str(di.exchange) ?? '', routingKey: str(di.routing_key) ?? '', deliveryTag: tag },
      // kombu's restore marks both (kombu/transport/redis.py _do_restore_message).
      redelivered: headers.redelivered === true || di.redelivered === true,
      size: Buffer.byteLength(raw),
      lostWorkers: lostCount(headers[LOST_HEADER]),
      lostReason: str(headers[LOST_REASON_HEADER]),
    },
  };
}

/** The envelope kombu's Redis transport would store for `out` (a fresh delivery tag, body in base64). */
export function encodeEnvelope(out: OutboundMessage): string {
  return JSON.stringify({
    body: out.body.toString('base64'),
    'content-encoding': out.contentEncoding,
    'content-type': out.contentType,
    headers: out.headers,
    properties: {
      ...out.properties,
      delivery_info: { exchange: out.exchange, routing_key: out.routingKey },
      priority: out.priority,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  });
}

/** The list a message published to the default exchange goes to. */
export const keyOf = (out: OutboundMessage): string => queueKey(out.routingKey, out.priority);

// ---- Redis-level conveniences (tests, benchmarks and the chaos harness push raw entries with them).

/** A protocol v2 task as a raw Redis entry, as Python's send_task would LPUSH it. */
export function buildMessage(t: OutgoingTask): { id: string; key: string; raw: string } {
  const { id, message } = buildTask(t);
  return { id, key: keyOf(message), raw: encodeEnvelope(message) };
}

/** A raw entry parsed the way the consumer does (envelope, then protocol). */
export function parseRedisMessage(raw: string, maxBytes = Infinity): ParseResult {
  const d = decodeEnvelope(raw);
  if (!d.ok) return { ok: false, type: 'DecodeError', reason: d.reason, id: d.id, task: d.task };
  return parseMessage(d.message, maxBytes);
}

/** The retry of a parsed message as a raw entry for `queue`. */
export function retryRedisMessage(msg: TaskMessage, etaMs: number, queue: string): { key: string; raw: string } {
  const out = retryMessage(msg, etaMs, queue);
  return { key: keyOf(out), raw: encodeEnvelope(out) };
}
