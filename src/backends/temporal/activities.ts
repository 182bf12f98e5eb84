// Every registry task as a Temporal activity of its name: one attempt of task.run(args, kwargs, ctx) per activity
// attempt (Temporal owns the retries), and what it throws becomes an ApplicationFailure whose type is the error's
// caller-visible name, the exception type a Python caller sees.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { errorMessage, errorType, isRetryable, isRetryRequest } from '../../tasks/errors.js';
import { runAttempt } from '../../tasks/local-runner.js';
import type { Registry } from '../../tasks/registry.js';
import type { TaskDefinition } from '../../tasks/types.js';
import { HEARTBEAT_TIMEOUT_MS } from './meta.js';

export interface ActivityCounters {
  active: number;
  processed: number;
  failed: number;
}

export interface ActivityDeps {
  logger: Logger;
  workerName: string;
  /** Aborted on a cold stop (or a warm drain past its deadline): running tasks are told to give up. */
  coldSignal: AbortSignal;
  counters: ActivityCounters;
}

export type TaskActivity = (args?: unknown, kwargs?: unknown) => Promise<unknown>;

/** Pure mapping of what one attempt threw to the failure Temporal records. */
export function toApplicationFailure(err: unknown, task: TaskDefinition, attempt: number): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (isRetryRequest(err)) {
    if (attempt > task.retries) {
      const message = `task ${task.name} asked to retry after ${task.retries} retries`;
      return ApplicationFailure.nonRetryable(message, 'MaxRetriesExceededError');
    }
    const countdown = err.countdownMs;
    return ApplicationFailure.create({
      message: err.message,
      type: 'Retry',
      ...(countdown !== undefined ? { nextRetryDelay: countdown } : {}),
    });
  }
  return ApplicationFailure.create({
    message: errorMessage(err),
    type: errorType(err),
    nonRetryable: !isRetryable(err),
    ...(err instanceof Error ? { cause: err } : {}),
  });
}

function shutdownFailure(): ApplicationFailure {
  // Retryable: Temporal runs the attempt again elsewhere (workflows.ts re-runs it even past the task's retries).
  return ApplicationFailure.retryable('worker shut down before the task finished', 'WorkerShutdown');
}

function taskActivity(task: TaskDefinition, deps: ActivityDeps): TaskActivity {
  return async (rawArgs?: unknown, rawKwargs?: unknown): Promise<unknown> => {
    const actx = Context.current();
    const { info } = actx;
    const args = rawArgs ?? [];
    const kwargs = rawKwargs ?? {};
    if (!Array.isArray(args) || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
      throw ApplicationFailure.nonRetryable('activity arguments must be (args: list, kwargs: dict)', 'TypeError');
    }
    const outer = AbortSignal.any([actx.cancellationSignal, deps.coldSignal]);
    // Heartbeats let the server notice a dead worker (see HEARTBEAT_TIMEOUT_MS); the SDK throttles them.
    const beat =
      (task.timeoutMs ?? Infinity) > HEARTBEAT_TIMEOUT_MS
        ? setInterval(() => actx.heartbeat(), HEARTBEAT_TIMEOUT_MS / 4)
        : undefined;
    const ctx = {
      taskId: info.activityId,
      taskName: task.name,
      attempt: info.attempt,
      logger: deps.logger.child({ task: task.name, taskId: info.activityId, attempt: info.attempt }),
      backend: 'temporal' as const,
      workerName: deps.workerName,
    };
    deps.counters.active++;
    try {
      return await runAttempt(task, args, kwargs as Record<string, unknown>, ctx, outer);
    } catch (err) {
      deps.counters.failed++;
      if (deps.coldSignal.aborted) throw shutdownFailure();
      if (actx.cancellationSignal.aborted) {
        const reason: unknown = actx.cancellationSignal.reason;
        if (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN') throw shutdownFailure();
        // Cancelled by the server or the workflow: report a cancellation, not a task failure.
        throw reason instanceof CancelledFailure ? reason : new CancelledFailure(String(reason));
      }
      throw toApplicationFailure(err, task, info.attempt);
    } finally {
      deps.counters.active--;
      deps.counters.processed++;
      if (beat) clearInterval(beat);
    }
  };
}

export function createActivities(registry: Registry, deps: ActivityDeps): Record<string, TaskActivity> {
  const activities: Record<string, TaskActivity> = {};
  for (const task of registry.tasks()) activities[task.name] = taskActivity(task, deps);
  return activities;
}
