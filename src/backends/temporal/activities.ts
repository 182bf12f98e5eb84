// Every registry task as a Temporal activity of its name: one attempt of task.run(args, kwargs, ctx) per activity
// (the workflow owns the retries and tells the attempt its number), and what it throws becomes an
// ApplicationFailure whose type is the error's caller-visible name, the exception type a Python caller sees.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { errorMessage, errorType, isRetryable, isRetryRequest } from '../../tasks/errors.js';
import { runAttempt } from '../../tasks/local-runner.js';
import type { Registry } from '../../tasks/registry.js';
import type { TaskDefinition } from '../../tasks/types.js';
import { type DurationHistogram, observe } from '../../ipc/histogram.js';
import type { TaskLines, TaskRef } from '../../tasks/task-log.js';
import { decide, type RunInfo } from './attempts.js';
import { HEARTBEAT_CADENCE_MS } from './meta.js';

export interface ActivityCounters {
  active: number;
  processed: number;
  failed: number;
  /** Wall time of every attempt that ran, as the heartbeat reports it (tbw_task_duration_seconds). */
  durations: DurationHistogram;
}

export interface ActivityDeps {
  logger: Logger;
  workerName: string;
  /** Aborted on a cold stop (or a warm drain past its deadline): running tasks are told to give up. */
  coldSignal: AbortSignal;
  counters: ActivityCounters;
  /** Tells the supervisor tasks run (BackendContext.busy): a child dying under them is a lost worker. */
  busy?: (active: number) => void;
  /** The per-task log lines (received, succeeded, failed or retry, revoked on cancel). */
  lines: TaskLines;
}

export type TaskActivity = (args?: unknown, kwargs?: unknown, run?: unknown) => Promise<unknown>;

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
      // The workflow reads the countdown from the details: nextRetryDelay does not survive the way back.
      ...(countdown !== undefined ? { nextRetryDelay: countdown, details: [{ countdownMs: countdown }] } : {}),
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

const noop = (): void => undefined;

/**
 * The task's logger: a pino child with the task's bindings, built on first use at an enabled level. A call at a
 * disabled level (add_numbers' ctx.logger.debug at the default info) builds nothing; building a child (bindings
 * serialised through the redaction rules) for every activity was the largest cost of this wrapper.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let real: Logger | undefined;
  const materialize = (): Logger => (real ??= parent.child(bindings));
  // An empty target: the proxy answers everything from the real child, and no invariant of pino's own
  // properties can trip it.
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (
        real === undefined &&
        typeof prop === 'string' &&
        Object.hasOwn(parent.levels.values, prop) &&
        !parent.isLevelEnabled(prop)
      ) {
        return noop;
      }
      const r = materialize();
      const value: unknown = Reflect.get(r, prop, r);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(r) : value;
    },
    set: (_target, prop, value) => Reflect.set(materialize(), prop, value),
    has: (_target, prop) => Reflect.has(materialize(), prop),
  });
}

/**
 * The run's attempt number and redelivery flag from the workflow (attempts.ts). A workflow started by an older
 * worker passes none: then Temporal's own attempt counter is the best there is.
 */
export function runInfo(raw: unknown, serverAttempt: number): RunInfo {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<RunInfo>;
  return {
    attempt: typeof r.attempt === 'number' && r.attempt >= 1 ? r.attempt : serverAttempt,
    redelivered: r.redelivered === true,
  };
}

/**
 * Heartbeats after the first second of a run, then every HEARTBEAT_CADENCE_MS: they tell the server the worker
 * lives (see activityOptionsFor) and bring back a cancellation within about a second. Runs shorter than a second
 * send none, so the common short task costs the server nothing extra.
 */
function startHeartbeats(beat: () => void): () => void {
  let interval: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    beat();
    interval = setInterval(beat, HEARTBEAT_CADENCE_MS);
  }, HEARTBEAT_CADENCE_MS);
  return () => {
    clearTimeout(first);
    if (interval) clearInterval(interval);
  };
}

/**
 * A failed attempt's line: "retry" when the workflow will run it again (the same decision as workflows.ts, with
 * the same delay), else the failure itself.
 */
function logFailure(
  lines: TaskLines,
  ref: TaskRef,
  runtimeS: number,
  err: unknown,
  failure: ApplicationFailure,
  task: TaskDefinition,
  attempt: number,
): void {
  const countdown = (failure.details?.[0] as { countdownMs?: unknown } | undefined)?.countdownMs;
  const next = decide(
    task.name,
    { kind: 'failed', retryable: !failure.nonRetryable, countdownMs: typeof countdown === 'number' ? countdown : undefined }, // prettier-ignore
    { attempt, lost: 0, redelivered: false },
    { retries: task.retries, retryBackoff: task.retryBackoff, deliveryLimit: 0 },
  );
  if (next.kind === 'run') lines.retried(ref, next.delayMs, err, attempt);
  else lines.failed(ref, runtimeS, failure.type === 'MaxRetriesExceededError' ? failure : err);
}

function taskActivity(task: TaskDefinition, deps: ActivityDeps): TaskActivity {
  return async (rawArgs?: unknown, rawKwargs?: unknown, rawRun?: unknown): Promise<unknown> => {
    const actx = Context.current();
    const { info } = actx;
    const args = rawArgs ?? [];
    const kwargs = rawKwargs ?? {};
    if (!Array.isArray(args) || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
      throw ApplicationFailure.nonRetryable('activity arguments must be (args: list, kwargs: dict)', 'TypeError');
    }
    // One controller for both reasons to give up, wired by hand: AbortSignal.any costs more per call in Node 20
    // and registers every composite signal on the long-lived cold signal until GC collects it.
    const cancel = actx.cancellationSignal;
    const outer = new AbortController();
    const onCancel = (): void => outer.abort(cancel.reason);
    const onCold = (): void => outer.abort(deps.coldSignal.reason);
    if (cancel.aborted) onCancel();
    else cancel.addEventListener('abort', onCancel, { once: true });
    if (deps.coldSignal.aborted) onCold();
    else deps.coldSignal.addEventListener('abort', onCold, { once: true });
    const { attempt, redelivered } = runInfo(rawRun, info.attempt);
    const stopBeats = startHeartbeats(() => actx.heartbeat());
    const ctx = {
      taskId: info.activityId,
      taskName: task.name,
      attempt,
      redelivered,
      logger: lazyChild(deps.logger, { task: task.name, taskId: info.activityId, attempt }),
      backend: 'temporal' as const,
      workerName: deps.workerName,
    };
    deps.counters.active++;
    deps.busy?.(deps.counters.active);
    const started = performance.now();
    const ref = { task: task.name, taskId: info.activityId };
    deps.lines.received(ref);
    try {
      const value = await runAttempt(task, args, kwargs as Record<string, unknown>, ctx, outer.signal);
      deps.lines.succeeded(ref, (performance.now() - started) / 1000, value);
      return value;
    } catch (err) {
      deps.counters.failed++;
      if (deps.coldSignal.aborted) throw shutdownFailure();
      if (cancel.aborted) {
        const reason: unknown = cancel.reason;
        if (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN') throw shutdownFailure();
        // Cancelled by the server or the workflow: report a cancellation, not a task failure.
        deps.lines.revoked(ref, 'cancelled');
        throw reason instanceof CancelledFailure ? reason : new CancelledFailure(String(reason));
      }
      const failure = toApplicationFailure(err, task, attempt);
      logFailure(deps.lines, ref, (performance.now() - started) / 1000, err, failure, task, attempt);
      throw failure;
    } finally {
      deps.counters.active--;
      deps.counters.processed++;
      observe(deps.counters.durations, (performance.now() - started) / 1000);
      stopBeats();
      cancel.removeEventListener('abort', onCancel);
      deps.coldSignal.removeEventListener('abort', onCold);
    }
  };
}

export function createActivities(registry: Registry, deps: ActivityDeps): Record<string, TaskActivity> {
  const activities: Record<string, TaskActivity> = {};
  for (const task of registry.tasks()) activities[task.name] = taskActivity(task, deps);
  return activities;
}
