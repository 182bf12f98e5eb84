// What the workflow sandbox needs to know about the registry (task policies, workflow steps) as plain JSON, and
// the pure mapping from a task's policy to Temporal activity options. Imported by the workflow bundle: no Node APIs.
import type { ActivityOptions } from '@temporalio/common';
import type { RetryBackoff, WorkflowSteps } from '../../tasks/types.js';

export interface TaskMeta {
  retries: number;
  retryBackoff: RetryBackoff;
  timeoutMs: number | null;
}

/** How the workflow treats lost workers; from the child's config, the same on every child of a pool. */
export interface LostWorkerPolicy {
  /** Reruns after a lost worker; the next loss fails the task with WorkerLostError (--delivery-limit). */
  deliveryLimit: number;
  /** An activity silent this long is lost (Temporal's heartbeat timeout): the pool's --heartbeat-timeout. */
  heartbeatTimeoutMs: number;
}

export interface RegistryMeta {
  tasks: Record<string, TaskMeta>;
  workflows: Record<string, WorkflowSteps>;
  lostWorker: LostWorkerPolicy;
}

/** The subset of a Registry this module reads (keeps the sandbox free of the registry class). */
export interface RegistryLike {
  tasks(): { name: string; retries: number; retryBackoff: RetryBackoff; timeoutMs: number | undefined }[];
  workflows(): { name: string; steps: WorkflowSteps }[];
}

/** A running activity heartbeats this often (activities.ts): a cancellation reaches it within about this long. */
export const HEARTBEAT_CADENCE_MS = 1000;
/**
 * Floor of the heartbeat timeout: a few beats, so a busy event loop that delays one beat is not a lost worker.
 * The pool's heartbeat timeout (30 s by default) is normally far above it.
 */
export const MIN_HEARTBEAT_TIMEOUT_MS = 3 * HEARTBEAT_CADENCE_MS;
/** Start-to-close for tasks without their own timeout: generous, since heartbeats catch lost workers. */
export const DEFAULT_START_TO_CLOSE_MS = 24 * 3600_000;

export const DEFAULT_LOST_WORKER: LostWorkerPolicy = { deliveryLimit: 2, heartbeatTimeoutMs: 30_000 };

export function registryMeta(registry: RegistryLike, lostWorker: LostWorkerPolicy = DEFAULT_LOST_WORKER): RegistryMeta {
  const meta: RegistryMeta = {
    tasks: {},
    workflows: {},
    lostWorker: {
      deliveryLimit: lostWorker.deliveryLimit,
      heartbeatTimeoutMs: Math.max(MIN_HEARTBEAT_TIMEOUT_MS, lostWorker.heartbeatTimeoutMs),
    },
  };
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
 * One activity attempt per scheduled activity: the workflow runs the task's retries itself (attempts.ts), so a
 * rerun after a lost worker neither uses up the task's retries nor counts as an attempt.
 *
 * The worker enforces the task's own limit (TimeLimitExceeded, like Celery); the server's start-to-close is a
 * little later, so it only fires when the worker could not report: the worker was lost. Every activity has a
 * heartbeat timeout too, so a lost worker is noticed that long after its last beat even under a long limit.
 */
export function activityOptionsFor(
  task: TaskMeta,
  lostWorker: LostWorkerPolicy = DEFAULT_LOST_WORKER,
  taskQueue?: string,
): ActivityOptions {
  const timeout =
    task.timeoutMs === null ? DEFAULT_START_TO_CLOSE_MS : task.timeoutMs + Math.max(1000, task.timeoutMs / 10);
  const heartbeat = Math.max(MIN_HEARTBEAT_TIMEOUT_MS, lostWorker.heartbeatTimeoutMs);
  return {
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: timeout,
    // A heartbeat timeout at or above start-to-close would never fire first.
    ...(heartbeat < timeout ? { heartbeatTimeout: heartbeat } : {}),
    retry: { maximumAttempts: 1 },
  };
}
