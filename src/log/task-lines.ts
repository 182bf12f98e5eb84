// The per-task log lines' constant messages (one line per event, as a Celery worker logs them at INFO). The
// fields are documented in docs/operations.md (Task log lines); src/tasks/task-log.ts writes them.

export const TASK_MSG = {
  /** {task, taskId, eta?}: taken from the queue (eta: ISO time when it waits for a countdown/ETA). */
  received: 'task received',
  /** {task, taskId, runtime (s), result (Python repr, cut at 1024 characters)}. */
  succeeded: 'task succeeded',
  /** {task, taskId, runtime (s), excType, excMessage}: failed for good (ERROR). */
  failed: 'task failed',
  /** {task, taskId, countdown (s), excType, excMessage, retries}: runs again after the countdown. */
  retried: 'task retry',
  /** {task, taskId, reason: revoked | expired | terminated}. */
  revoked: 'task revoked',
} as const;
