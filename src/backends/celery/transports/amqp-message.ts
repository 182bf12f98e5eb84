// AMQP 0-9-1 messages ↔ the transport-neutral messages protocol.ts reads and builds, pure: amqplib's camelCase
// properties become kombu's names (correlation_id, reply_to, ...), the `redelivered` flag and quorum queues'
// `x-delivery-count` header say whether the broker delivered it before.
import type { Message, Options } from 'amqplib';
import {
  LOST_HEADER,
  LOST_REASON_HEADER,
  REDELIVERED_HEADER,
  type InboundMessage,
  type OutboundMessage,
} from '../transport.js';

/** amqplib property → kombu's name, for the properties a Celery message may carry. */
const PROPS: readonly [keyof Message['properties'], string][] = [
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['priority', 'priority'],
  ['deliveryMode', 'delivery_mode'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
];

/**
 * Headers the broker adds on its own: never copied into a message we publish again (a retry, a requeue), or the
 * copy would look redelivered or dead-lettered before it ever was.
 */
const BROKER_HEADERS = /^x-(delivery-count|death|first-death-|last-death-)/;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** How many times the broker delivered this message before (quorum queues count them), or null. */
export function deliveryCount(headers: Record<string, unknown>): number | null {
  const n = headers['x-delivery-count'];
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : null;
}

/** Why a message the broker gave back was charged (the broker cannot say why its holder went away). */
export const BROKER_LOST_REASON =
  'its worker died: RabbitMQ gave the message back when the connection holding it closed';

/** `tbw_lost` as written by us (a copy, amqp-lost.ts) or by the Redis transport (a message moved between brokers). */
export function lostHeader(headers: Record<string, unknown>): number {
  const v = headers[LOST_HEADER];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

/** The reason of the last lost delivery: the broker's when a quorum queue counted one since our last copy. */
export function lostReasonOf(headers: Record<string, unknown>): string | null {
  if ((deliveryCount(headers) ?? 0) > 0) return BROKER_LOST_REASON;
  const r = headers[LOST_REASON_HEADER];
  return typeof r === 'string' && r !== '' ? r : null;
}

/** One received AMQP message as protocol.ts reads it; `tag` is the transport's own delivery tag. */
export function inboundOf(m: Message, tag: string): InboundMessage {
  const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
  const properties: Record<string, unknown> = {};
  for (const [from, to] of PROPS) {
    const v = m.properties[from] as unknown;
    if (v !== undefined && v !== null) properties[to] = v;
  }
  const count = deliveryCount(headers);
  // Lost deliveries: our header (a copy that counted them) plus what a quorum queue counted since (amqp-lost.ts).
  const lost = lostHeader(headers) + (count ?? 0);
  return {
    headers,
    properties,
    body: m.content,
    contentType: str(m.properties.contentType),
    contentEncoding: str(m.properties.contentEncoding),
    deliveryInfo: { exchange: m.fields.exchange, routingKey: m.fields.routingKey, deliveryTag: tag },
    // A quorum queue counts deliveries even when a consumer's channel died without a redelivered mark; a copy of
    // a message the broker gave back carries the mark in a header (amqp-lost.ts copyOptions).
    redelivered: m.fields.redelivered || lost > 0 || headers[REDELIVERED_HEADER] === true,
    ...(count !== null ? { deliveryCount: count } : {}),
    ...(lost > 0 ? { lostWorkers: lost, lostReason: lostReasonOf(headers) } : {}),
    size: m.content.length,
  };
}

/** Headers as an AMQP table can carry them: no undefined values, none of the broker's own. */
export function publishHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !BROKER_HEADERS.test(k)) out[k] = v;
  return out;
}

/** amqplib publish options for `out`: kombu's property names back to AMQP's, content type and encoding. */
export function publishOptions(out: OutboundMessage): Options.Publish {
  const p = out.properties;
  const o: Options.Publish = {
    headers: publishHeaders(out.headers),
    contentType: out.contentType,
    contentEncoding: out.contentEncoding,
    // kombu's default for task messages is persistent; events and control replies say 1 (transient).
    deliveryMode: typeof p.delivery_mode === 'number' ? p.delivery_mode : 2,
  };
  if (out.priority > 0) o.priority = Math.min(255, Math.trunc(out.priority));
  const s = (k: string): string | undefined => (typeof p[k] === 'string' && p[k] !== '' ? p[k] : undefined);
  const correlationId = s('correlation_id');
  const replyTo = s('reply_to');
  const messageId = s('message_id');
  const type = s('type');
  const appId = s('app_id');
  if (correlationId !== undefined) o.correlationId = correlationId;
  if (replyTo !== undefined) o.replyTo = replyTo;
  if (messageId !== undefined) o.messageId = messageId;
  if (type !== undefined) o.type = type;
  if (appId !== undefined) o.appId = appId;
  // AMQP's expiration is a string of milliseconds (kombu sends the task's `expires` there).
  const exp = p.expiration;
  if ((typeof exp === 'string' && /^\d+$/.test(exp)) || (typeof exp === 'number' && exp >= 0)) {
    o.expiration = String(Math.trunc(Number(exp)));
  }
  if (typeof p.timestamp === 'number') o.timestamp = p.timestamp;
  // user_id is left out on purpose: RabbitMQ refuses a user_id other than the connection's own user.
  return o;
}
