// The consumer's task events as the per-task log lines (src/tasks/task-log.ts), where a Celery worker logs them:
// received (with the ETA it waits for), succeeded in N s, raised, retry in N s, discarded as revoked.
import type { TaskLines } from '../../tasks/task-log.js';
import { celeryBuiltin } from './builtins.js';
import type { TaskEventType } from './consumer.js';
import type { Execution, Held } from './execute.js';

/**
 * `routine`: the lines of a polling built-in (celery.chord_unlock retries every second until the chord is done):
 * its received and retry lines are routine, not news, so they go there (at debug).
 */
export function taskLineSink(
  lines: TaskLines,
  now: () => number,
  routine: TaskLines = lines,
): (type: TaskEventType, held: Held, ex?: Execution) => void {
  return (type, held, ex) => {
    const m = held.msg;
    const ref = { task: m.task, taskId: m.id };
    const runtime = ex ? (now() - ex.started) / 1000 : 0;
    const polls = celeryBuiltin(m.task)?.unlimitedRetries === true;
    switch (type) {
      case 'received':
        (polls ? routine : lines).received(ref, m.etaMs !== null && m.etaMs > now() ? m.etaMs : null);
        return;
      case 'started':
        return;
      case 'succeeded':
        lines.succeeded(ref, runtime, ex?.value);
        return;
      case 'failed':
        // A task aborted by `revoke --terminate` ends REVOKED, as in Celery.
        if ((ex?.error as Error | undefined)?.name === 'TaskRevokedError') lines.revoked(ref, 'terminated');
        else lines.failed(ref, runtime, ex?.error);
        return;
      case 'retried':
        (polls ? routine : lines).retried(ref, ex?.retryInMs ?? 0, ex?.error, m.retries + 1);
        return;
      case 'revoked':
        lines.revoked(ref, m.expiresMs !== null && m.expiresMs <= now() ? 'expired' : 'revoked');
        return;
      default: {
        const never: never = type;
        return never;
      }
    }
  };
}
