// The per-task log lines every backend writes, one per event, as a Celery worker does at INFO: received (with its
// ETA), succeeded in N s with a short repr of the result, retry with the countdown, revoked; failures at ERROR.
// With --no-log-tasks the INFO ones go to debug (a high-throughput pool skips their cost; -l debug still shows them).
import type { Logger } from 'pino';
import { unredacted } from '../log/logger.js';
import { TASK_MSG } from '../log/task-lines.js';
import { errorMessage, errorType } from './errors.js';
import { pyShortRepr } from './pyfmt.js';

export interface TaskRef {
  task: string;
  taskId: string;
}

/** revoked / expired: before it ran; terminated: `revoke --terminate`; cancelled: by the server (Temporal). */
export type RevokeReason = 'revoked' | 'expired' | 'terminated' | 'cancelled';

export interface TaskLines {
  received(t: TaskRef, etaMs?: number | null): void;
  succeeded(t: TaskRef, runtimeS: number, value: unknown): void;
  /** Failed for good: always logged, at ERROR (the stack at debug). */
  failed(t: TaskRef, runtimeS: number, err: unknown): void;
  retried(t: TaskRef, countdownMs: number, err: unknown, retries?: number): void;
  revoked(t: TaskRef, reason: RevokeReason): void;
}

/** Celery's resultrepr_maxsize: the longest result repr a "succeeded" line shows. */
export const RESULT_REPR_MAX = 1024;

const micro = (s: number): number => Math.round(s * 1e6) / 1e6;

/** `enabled` false: the INFO lines are written at debug instead (failures stay at ERROR). */
export function taskLines(parent: Logger, enabled: boolean): TaskLines {
  const logger = unredacted(parent); // see unredacted(): their fields never carry a secret, and it is 6x cheaper
  const level = enabled ? 'info' : 'debug';
  // Asked before anything is built: a disabled line costs no repr of the result.
  const on = (): boolean => logger.isLevelEnabled(level);
  return {
    received(t, etaMs) {
      if (!on()) return;
      const eta = etaMs !== null && etaMs !== undefined ? { eta: new Date(etaMs).toISOString() } : {};
      logger[level]({ task: t.task, taskId: t.taskId, ...eta }, TASK_MSG.received);
    },
    succeeded(t, runtimeS, value) {
      if (!on()) return;
      const result = pyShortRepr(value, RESULT_REPR_MAX);
      logger[level]({ task: t.task, taskId: t.taskId, runtime: micro(runtimeS), result }, TASK_MSG.succeeded);
    },
    failed(t, runtimeS, err) {
      const fields = { task: t.task, taskId: t.taskId, runtime: micro(runtimeS) };
      logger.error({ ...fields, excType: errorType(err), excMessage: errorMessage(err) }, TASK_MSG.failed);
      if (err instanceof Error && logger.isLevelEnabled('debug')) logger.debug({ ...fields, err }, 'task traceback');
    },
    retried(t, countdownMs, err, retries) {
      if (!on()) return;
      const fields = { task: t.task, taskId: t.taskId, countdown: micro(countdownMs / 1000) };
      const exc = { excType: errorType(err), excMessage: errorMessage(err) };
      logger[level]({ ...fields, ...exc, ...(retries !== undefined ? { retries } : {}) }, TASK_MSG.retried);
    },
    revoked(t, reason) {
      if (!on()) return;
      logger[level]({ task: t.task, taskId: t.taskId, reason }, TASK_MSG.revoked);
    },
  };
}
