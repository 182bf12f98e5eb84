// Lost deliveries on RabbitMQ, pure: how many times a message came back because the worker holding it went away,
// and the copies that carry that count. RabbitMQ requeues a dead child's unacked deliveries by itself when its
// connection closes; a quorum queue counts them (`x-delivery-count`), a classic queue only sets `redelivered`. So
// the count lives in the message: our header `tbw_lost` plus the quorum queue's own count, and a classic queue's
// redelivery is replaced by a copy with `tbw_lost + 1` (published with a confirm, then the original acked). Our own
// give-backs (a warm stop, an ETA beyond the cap) are copies too, never a requeue, so the broker never counts them.
import type { Message, Options } from 'amqplib';
import { runKey } from '../lost-runs.js';
import {
  COPY_HEADER,
  LOST_HEADER,
  LOST_REASON_HEADER,
  REDELIVERED_HEADER,
  type DeadLetter,
  type LostAnswer,
} from '../transport.js';
import { BROKER_LOST_REASON, deliveryCount, lostHeader, publishHeaders } from './amqp-message.js';

/** Bytes of a dead-lettered message's body kept in its record (its headers and properties are kept whole). */
export const DEAD_LETTER_BODY_BYTES = 64 * 1024;

const headersOf = (m: Message): Record<string, unknown> => (m.properties.headers ?? {}) as Record<string, unknown>;

/** Lost deliveries so far: ours in the header plus what a quorum queue counted since the last copy. */
export function lostOf(m: Message): number {
  const h = headersOf(m);
  return lostHeader(h) + (deliveryCount(h) ?? 0);
}

/**
 * A classic queue's redelivery (only the `redelivered` flag, no count): it must be replaced by a copy that counts
 * it. A quorum queue's count is read as it is.
 */
export function needsRecount(m: Message): boolean {
  return m.fields.redelivered && deliveryCount(headersOf(m)) === null;
}

/** The broker gave it back before (a classic queue's `redelivered` flag, a quorum queue's count above 0). */
export function returned(m: Message): boolean {
  return m.fields.redelivered || (deliveryCount(headersOf(m)) ?? 0) > 0;
}

/**
 * The count and reason a copy of a returned message carries, given the pool's answer (lost-ask.ts): charged once
 * with the reason its child died, not charged (its holder went away without running it: a prefetched message, one
 * set aside, a dropped connection), or, without an answer, charged as the broker counted.
 */
export function recount(m: Message, answer: LostAnswer | undefined): Recount {
  const h = headersOf(m);
  if (answer === undefined) return { lost: lostOf(m) + (needsRecount(m) ? 1 : 0), reason: BROKER_LOST_REASON };
  if (answer.copied) return 'duplicate';
  const { reason } = answer;
  return reason === null ? { lost: lostHeader(h), reason: null } : { lost: lostHeader(h) + 1, reason };
}

/**
 * What a returned message's copy counts, or 'duplicate': a copy of this very message is out already (the child
 * that made it died before its ack of the original reached the broker), so the original is only acked.
 */
export type Recount = { lost: number; reason: string | null } | 'duplicate';

const copyOf = (h: Record<string, unknown>): number => {
  const v = h[COPY_HEADER];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
};

/** The pool's key of this message (lost-runs.ts runKey), null without a task id in its headers or properties. */
export function runKeyOf(m: Message): string | null {
  const h = headersOf(m);
  const id = typeof h.id === 'string' && h.id !== '' ? h.id : m.properties.correlationId;
  return typeof id === 'string' && id !== '' ? runKey(id, lostHeader(h), copyOf(h)) : null;
}

/** Publish options of a copy of `m` that has been lost `lost` times (the last time for `reason`, if charged). */
export function copyOptions(m: Message, lost: number, reason: string | null): Options.Publish {
  const p = m.properties;
  const headers: Record<string, unknown> = publishHeaders(headersOf(m));
  delete headers[LOST_HEADER];
  if (lost > 0) headers[LOST_HEADER] = lost;
  // Another message to the pool's record of what ran (runKeyOf): its return is not charged for the original's.
  headers[COPY_HEADER] = copyOf(headers) + 1;
  // It may have run before (its holder lost a connection, not its life): the task still sees `redelivered`.
  if (returned(m)) headers[REDELIVERED_HEADER] = true;
  if (reason !== null) headers[LOST_REASON_HEADER] = reason;
  return {
    headers,
    contentType: p.contentType as string | undefined,
    contentEncoding: p.contentEncoding as string | undefined,
    deliveryMode: (p.deliveryMode as number | undefined) ?? 2,
    ...(typeof p.priority === 'number' ? { priority: p.priority } : {}),
    ...(typeof p.correlationId === 'string' ? { correlationId: p.correlationId } : {}),
    ...(typeof p.replyTo === 'string' ? { replyTo: p.replyTo } : {}),
    ...(typeof p.expiration === 'string' ? { expiration: p.expiration } : {}),
    ...(typeof p.messageId === 'string' ? { messageId: p.messageId } : {}),
    ...(typeof p.timestamp === 'number' ? { timestamp: p.timestamp } : {}),
    ...(typeof p.type === 'string' ? { type: p.type } : {}),
    ...(typeof p.appId === 'string' ? { appId: p.appId } : {}),
  };
}

/**
 * Our record of a dead-lettered message, the same entry as the Redis transport's dead-letter list: why, where
 * from, and the message (headers and properties whole, the body base64 and cut at DEAD_LETTER_BODY_BYTES).
 */
export function deadLetterRecord(m: Message | null, queue: string, why: DeadLetter): Buffer {
  const message =
    m === null
      ? null
      : {
          headers: publishHeaders(headersOf(m)),
          properties: copyOptions(m, 0, null),
          'content-type': m.properties.contentType ?? null,
          'content-encoding': m.properties.contentEncoding ?? null,
          body: m.content.subarray(0, DEAD_LETTER_BODY_BYTES).toString('base64'),
          body_encoding: 'base64',
          ...(m.content.length > DEAD_LETTER_BODY_BYTES
            ? { body_truncated: true, message_bytes: m.content.length }
            : {}),
          redelivered: m.fields.redelivered,
        };
  return Buffer.from(
    JSON.stringify({
      reason: why.reason,
      queue,
      task_id: why.taskId,
      task: why.task,
      message,
      worker: why.worker,
      at: why.at,
    }),
  );
}
