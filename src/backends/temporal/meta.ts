// What the workflow sandbox needs to know about the registry (task policies, workflow steps) as plain JSON, and
// the pure mapping from a task's policy to Temporal activity options. Imported by the workflow bundle: no Node APIs.
import type { ActivityOptions } from '@temporalio/common';
import type { RetryBackoff, WorkflowSteps } from '../../tasks/types.js';

export interface TaskMeta {
  retries: number;
  retryBackoff: RetryBackoff;
  timeoutMs: number | null;
}

export interface RegistryMeta {
  tasks: Record<string, TaskMeta>;
  workflows: Record<string, WorkflowSteps>;
}

/** The subset of a Registry this module reads (keeps the sandbox free of the registry class). */
export interface RegistryLike {
  tasks(): { name: string; retries: number; retryBackoff: RetryBackoff; timeoutMs: number | undefined }[];
  workflows(): { name: string; steps: WorkflowSteps }[];
}

export function registryMeta(registry: RegistryLike): RegistryMeta {
  const meta: RegistryMeta = { tasks: {}, workflows: {} };
  for (const t of registry.tasks()) {
    meta.tasks[t.name] = {
      retries: t.retries,
      retryBackoff: { ...t.retryBackoff },
      timeoutMs: t.timeoutMs ?? null,
    };
  }
  for (const w of registry.workflows()) meta.workflows[w.name] = w.steps;
  return meta;
}

/**
 * A running activity heartbeats (see activities.ts) so a worker that dies is noticed after this long, not after
 * the start-to-close timeout; the workflow re-runs such an attempt even when the task allows no retries.
 */
export const HEARTBEAT_TIMEOUT_MS = 20_000;
/** Start-to-close for tasks without their own timeout: generous, since heartbeats catch lost workers. */
export const DEFAULT_START_TO_CLOSE_MS = 24 * 3600_000;

/** retries → maximumAttempts = retries + 1; retryBackoff → initialInterval/backoffCoefficient/maximumInterval. */
export function activityOptionsFor(task: TaskMeta, taskQueue?: string): ActivityOptions {
  // The worker enforces the task's own limit (TimeLimitExceeded, like Celery); the server's start-to-close is a
  // little later, so it only fires when the worker is gone and the local limit could not report.
  const timeout =
    task.timeoutMs === null ? DEFAULT_START_TO_CLOSE_MS : task.timeoutMs + Math.max(1000, task.timeoutMs / 10);
  return {
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: timeout,
    // A heartbeat timeout above start-to-close would never fire; below it, it only detects lost workers.
    ...(timeout > HEARTBEAT_TIMEOUT_MS ? { heartbeatTimeout: HEARTBEAT_TIMEOUT_MS } : {}),
    retry: {
      maximumAttempts: task.retries + 1,
      initialInterval: Math.max(1, task.retryBackoff.initialMs),
      // Temporal rejects coefficients below 1; a factor of 1 means a constant delay.
      backoffCoefficient: Math.max(1, task.retryBackoff.factor),
      maximumInterval: Math.max(task.retryBackoff.initialMs, task.retryBackoff.maxMs, 1),
    },
  };
}
