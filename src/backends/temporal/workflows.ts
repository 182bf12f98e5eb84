// The ONE workflow implementation, registered as Temporal's dynamic (default-export) workflow: a workflow whose
// type is a task name runs that task's activity with the task's policy; one whose type is a registry workflow
// runs its steps. The registry metadata is baked into the prebuilt bundle's code when a child loads it
// (bundle.ts replaces REGISTRY_META_SLOT), so it is constant for the worker's lifetime and replay-safe.
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  scheduleActivity,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { FIRST_RUN, decide, type AttemptFailure, type RunInfo } from './attempts.js';
import { activityOptionsFor, type RegistryMeta } from './meta.js';
import { runSteps } from './steps.js';

// Replaced by bundle.ts with the JSON of registryMeta(registry); the literal below must stay a plain string.
const META: RegistryMeta = JSON.parse('__TBW_REGISTRY_META__') as RegistryMeta;

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** What a failed scheduleActivity means for the task (attempts.ts decides what follows). */
function classify(err: unknown, startToCloseMs: number): AttemptFailure {
  if (!(err instanceof ActivityFailure)) return { kind: 'other' };
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) {
    // The worker reports the task's own limit before start-to-close, and heartbeats all along: either timeout
    // means nobody was left to report (SIGKILL, out of memory, heap limit, a hung event loop).
    if (cause.timeoutType === 'HEARTBEAT') {
      return { kind: 'lost', reason: `no heartbeat for ${seconds(META.lostWorker.heartbeatTimeoutMs)}` };
    }
    if (cause.timeoutType === 'START_TO_CLOSE') {
      return { kind: 'lost', reason: `no result within ${seconds(startToCloseMs)}` };
    }
    return { kind: 'other' };
  }
  if (!(cause instanceof ApplicationFailure)) return { kind: 'other' };
  if (cause.type === 'WorkerShutdown') return { kind: 'handedBack' };
  // The failure converter drops nextRetryDelay on the way in; activities.ts repeats a countdown in the details.
  const detail = cause.details?.[0] as { countdownMs?: unknown } | undefined;
  const countdownMs = typeof detail?.countdownMs === 'number' ? detail.countdownMs : undefined;
  return { kind: 'failed', retryable: !cause.nonRetryable, countdownMs };
}

async function callTask(task: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
  const meta = META.tasks[task];
  if (!meta) throw ApplicationFailure.nonRetryable(`task ${task} is not registered on this worker`, 'NotRegistered');
  const options = activityOptionsFor(meta, META.lostWorker);
  const policy = { ...meta, deliveryLimit: META.lostWorker.deliveryLimit };
  for (let state = FIRST_RUN; ;) {
    try {
      const run: RunInfo = { attempt: state.attempt, redelivered: state.redelivered };
      return await scheduleActivity(task, [args, kwargs, run], options);
    } catch (err) {
      const decision = decide(task, classify(err, options.startToCloseTimeout as number), state, policy);
      if (decision.kind === 'workerLost') throw ApplicationFailure.nonRetryable(decision.message, 'WorkerLostError');
      if (decision.kind === 'run') {
        if (decision.delayMs > 0) await sleep(decision.delayMs);
        state = decision.state;
        continue;
      }
      // Fail the workflow with the task's own error, so callers see ApplicationError(type, message) directly.
      if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw err.cause;
      throw err;
    }
  }
}

function asArgs(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  throw ApplicationFailure.nonRetryable('workflow argument 1 must be the list of positional args', 'TypeError');
}

function asKwargs(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw ApplicationFailure.nonRetryable('workflow argument 2 must be the dict of keyword args', 'TypeError');
}

/** Calling convention: workflow arguments are (args, kwargs?), as in execute_workflow(name, args=[[2, 3], {}]). */
export default async function taskBackendWorkflow(rawArgs?: unknown, rawKwargs?: unknown): Promise<unknown> {
  const name = workflowInfo().workflowType;
  const args = asArgs(rawArgs);
  const kwargs = asKwargs(rawKwargs);
  const steps = META.workflows[name];
  if (steps !== undefined) return runSteps(callTask, name, steps, args, kwargs);
  if (META.tasks[name] !== undefined) return callTask(name, args, kwargs);
  throw ApplicationFailure.nonRetryable(`no task or workflow named ${name} is registered`, 'NotRegistered');
}
