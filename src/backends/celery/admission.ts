// What becomes of one delivery as it arrives in a child, decided without side effects: unreadable (rejected,
// dead-lettered), an unknown task (rejected: NotRegistered, as Celery words it), revoked or expired (stored
// REVOKED, acked), lost too often (WorkerLostError), held for its ETA, or due now. The consumer acts on the verdict.
import type { TaskMessage } from './protocol.js';
import { parseMessage } from './protocol.js';
import type { Held } from './execute.js';
import type { Unrunnable } from './endings.js';
import type { Delivery } from './transport.js';

export interface AdmissionRules {
  maxMessageBytes: number;
  /** --delivery-limit: reruns after lost workers before the task fails with WorkerLostError. */
  deliveryLimit: number;
  /** A task this child can run: the user's, a Celery built-in, or an internal canvas task where they apply. */
  runnable(task: string): boolean;
  /** Revoked by remote control (the child's memory of revoked ids). */
  revoked(id: string, now: number): boolean;
}

type MessageDelivery = Extract<Delivery, { kind: 'message' }>;

export type Verdict =
  | { kind: 'dead-lettered'; delivery: Extract<Delivery, { kind: 'dead-lettered' }> }
  | { kind: 'reject'; delivery: Exclude<Delivery, { kind: 'dead-lettered' }>; why: Unrunnable }
  | { kind: 'revoke'; held: Held; why: 'revoked' | 'expired' }
  | { kind: 'lost-too-often'; held: Held; reason: string | null }
  | { kind: 'eta'; held: Held; delayMs: number }
  | { kind: 'due'; held: Held };

/** The held form of a readable message (the count of lost workers it ran in comes from the transport). */
export function holdOf(d: MessageDelivery, msg: TaskMessage): Held {
  return {
    delivery: d,
    tag: d.tag,
    queue: d.queue,
    msg,
    released: false,
    lost: d.message.lostWorkers ?? 0,
    parked: false,
  };
}

/** The verdict on one delivery at `now`, in Celery's order: readable, registered, revoked/expired, lost, ETA. */
export function admit(d: Delivery, rules: AdmissionRules, now: number): Verdict {
  if (d.kind === 'dead-lettered') return { kind: 'dead-lettered', delivery: d };
  if (d.kind === 'undecodable') return { kind: 'reject', delivery: d, why: { type: 'DecodeError', ...d } };
  const parsed = parseMessage(d.message, rules.maxMessageBytes);
  if (!parsed.ok) return { kind: 'reject', delivery: d, why: parsed };
  const msg = parsed.msg;
  if (!rules.runnable(msg.task)) {
    const reason = `Task of kind '${msg.task}' never registered, please make sure it's imported.`;
    return {
      kind: 'reject',
      delivery: d,
      why: { type: 'NotRegistered', reason, id: msg.anonymous ? null : msg.id, task: msg.task },
    };
  }
  const held = holdOf(d, msg);
  const revoked = d.revoked || rules.revoked(msg.id, now);
  if (revoked || (msg.expiresMs !== null && msg.expiresMs <= now))
    return { kind: 'revoke', held, why: revoked ? 'revoked' : 'expired' };
  if (held.lost > rules.deliveryLimit) return { kind: 'lost-too-often', held, reason: d.message.lostReason ?? null };
  if (msg.etaMs !== null && msg.etaMs > now) return { kind: 'eta', held, delayMs: msg.etaMs - now };
  return { kind: 'due', held };
}
