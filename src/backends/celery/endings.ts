// How a message ends when its task cannot end normally: revoked before it ran (REVOKED), a lost worker past
// --delivery-limit (FAILURE WorkerLostError and the dead-letter list), and a settle that failed (the result could
// not be stored or the message not acked). Never a rerun loop: a result that cannot be stored becomes a small
// FAILURE naming why (as Celery stores an EncodeError); when even that cannot be written, the message goes back
// ONCE, after a backoff, charged like a lost worker, so the delivery limit ends it.
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../config/types.js';
import { Execution, type ExecEnv, type Held, type Outcome } from './execute.js';
import { buildMeta, excInfo, replyToOf, type ResultStore } from './results.js';
import type { SettleableDelivery, Transport } from './transport.js';

/** Why a message cannot run at all; `type` is the exception type stored as its FAILURE. */
export type Unrunnable = { type: string; reason: string; id: string | null; task: string | null };

export interface EndingsEnv {
  transport: Transport;
  results: ResultStore | null;
  cfg: CeleryConfig;
  logger: Logger;
  worker: string;
  now(): number;
  deliveryLimit: number;
  exec: ExecEnv;
  /** Task events (-E) and remote control's counters. */
  onTaskEvent?: (type: 'failed', held: Held, ex: Execution) => void;
  /** The consumer stopped: a pending give-back stops retrying (the stop gave the message back). */
  stopped(): boolean;
}

/** Unrunnable: FAILURE where the id is known, the message to the dead-letter place (settled). */
export async function rejectUnrunnable(d: SettleableDelivery, r: Unrunnable, e: EndingsEnv): Promise<void> {
  e.logger.warn(
    { queue: d.queue, taskId: r.id, task: r.task, type: r.type, reason: r.reason },
    'message rejected to the dead-letter list',
  );
  if (r.id !== null && e.results) {
    const req = {
      id: r.id,
      task: r.task ?? 'unknown',
      args: [],
      kwargs: {},
      retries: 0,
      group: null,
      parentId: null,
      queue: d.queue,
    };
    const meta = buildMeta('FAILURE', excInfo(r.type, r.reason), req, {
      extended: e.cfg.resultExtended,
      worker: e.worker,
      nowMs: e.now(),
    });
    const replyTo = d.kind === 'message' ? replyToOf(d.message.properties) : null;
    await e.results.store(r.id, meta, replyTo).catch(() => undefined);
  }
  await e.transport.deadLetter(d, {
    reason: `${r.type}: ${r.reason}`,
    taskId: r.id,
    task: r.task,
    worker: e.worker,
    at: e.now() / 1000,
  });
}

/** The WorkerLostError message, worded as on Temporal and Hatchet (docs/tasks.md). */
export function lostMessage(task: string, reason: string, times: number, limit: number): string {
  const n = times === 1 ? 'once' : `${times} times`;
  return `worker lost while running ${task} (${reason}), ${n}; the delivery limit is ${limit}`;
}

/**
 * The message ran in `held.lost` children that died, more than the delivery limit allows: it does not run again.
 * FAILURE WorkerLostError (unless task_reject_on_worker_lost: then no result, as a broker's own delivery limit
 * would drop it), errbacks and its chord part as for any failure, and the message goes to the dead-letter list.
 */
export async function lostTooOften(held: Held, e: EndingsEnv, reason: string | null): Promise<void> {
  const { msg } = held;
  const message = lostMessage(msg.task, reason ?? 'its worker died', held.lost, e.deliveryLimit);
  e.logger.error(
    { taskId: msg.id, task: msg.task, lost: held.lost, deliveryLimit: e.deliveryLimit, reason },
    'task failed: its worker was lost too often',
  );
  const ex = new Execution(held, e.exec);
  ex.error = Object.assign(new Error(message), { name: 'WorkerLostError' });
  if (!e.cfg.rejectOnWorkerLost) await ex.recordFailure(excInfo('WorkerLostError', message));
  await e.transport.deadLetter(held.delivery, {
    reason: `WorkerLostError: ${message}`,
    taskId: msg.id,
    task: msg.task,
    worker: e.worker,
    at: e.now() / 1000,
  });
  e.onTaskEvent?.('failed', held, ex);
}

/**
 * Revoked (or expired) before it ran: REVOKED TaskRevokedError stored, its chord part counted as Celery's worker
 * does, and the message acked; never run.
 */
export async function endRevoked(held: Held, why: 'revoked' | 'expired', e: EndingsEnv): Promise<void> {
  const exc = excInfo('TaskRevokedError', why);
  await new Execution(held, e.exec).store('REVOKED', exc);
  if (held.msg.chord) await e.exec.canvas(held.queue).onChordPart(held.msg, 'REVOKED', exc);
  await e.transport.ack([held.delivery]);
}

const describe = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 500) : String(err).slice(0, 500);

/** Best effort: a step that fails here must not stop the ones after it. */
async function tryTo(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch {
    // the FAILURE below still names the task; nothing else to do
  }
}

/**
 * Execution.run() threw: storing its result, publishing what follows it or acking failed. Store a small FAILURE
 * (EncodeError naming why; no args, no result) and ack; when that fails too, give the message back later.
 */
export async function recoverSettle(held: Held, ex: Execution, err: unknown, e: EndingsEnv): Promise<Outcome> {
  const { msg } = held;
  const why = describe(err);
  e.logger.error({ taskId: msg.id, task: msg.task, err: why }, 'settling a task failed');
  if (held.released) return 'abandoned';
  const exc = excInfo('EncodeError', `the outcome of ${msg.task} could not be stored: ${why}`);
  try {
    if (e.results) {
      const req = {
        id: msg.id,
        task: msg.task,
        args: [],
        kwargs: {},
        retries: msg.retries,
        group: msg.group,
        parentId: msg.parentId,
        queue: held.queue,
      };
      const meta = buildMeta('FAILURE', exc, req, { extended: e.cfg.resultExtended, worker: e.worker, nowMs: e.now() });
      await e.results.store(msg.id, meta, replyToOf(msg.inbound.properties));
    }
    const canvas = e.exec.canvas(held.queue);
    await tryTo(() => canvas.onFailure(msg, exc, null));
    if (msg.chord) await tryTo(() => canvas.onChordPart(msg, 'FAILURE', exc));
    await e.transport.ack([held.delivery]);
    ex.error = Object.assign(new Error(String(exc.exc_message[0])), { name: 'EncodeError' });
    return 'failed';
  } catch (err2) {
    void giveBackLater(held, `its outcome could not be stored (${describe(err2)})`, e);
    return 'abandoned';
  }
}

/**
 * Back to the queue after 1 s × 2^(lost workers so far), at most 30 s, charged as a lost delivery; retried with the
 * same backoff while the broker refuses. The hold stays ours meanwhile (refreshed, never restored behind our back).
 */
async function giveBackLater(held: Held, reason: string, e: EndingsEnv): Promise<void> {
  for (let attempt = held.lost; ; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))));
    if (held.released || e.stopped()) return;
    try {
      await e.transport.restore(held.delivery, { lost: reason });
      held.released = true;
      e.logger.warn({ taskId: held.msg.id, task: held.msg.task, reason }, 'message given back after a failed settle');
      return;
    } catch (err) {
      e.logger.warn({ taskId: held.msg.id, err: describe(err) }, 'giving a message back failed; retrying');
    }
  }
}
