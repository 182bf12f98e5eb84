// The ONE workflow implementation, registered as Temporal's dynamic (default-export) workflow: a workflow whose
// type is a task name runs that task's activity with the task's policy; one whose type is a registry workflow
// runs its steps. The registry metadata is baked into the prebuilt bundle's code when a child loads it
// (bundle.ts replaces REGISTRY_META_SLOT), so it is constant for the worker's lifetime and replay-safe.
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  scheduleActivity,
  workflowInfo,
} from '@temporalio/workflow';
import { activityOptionsFor, type RegistryMeta } from './meta.js';
import { runSteps } from './steps.js';

// Replaced by bundle.ts with the JSON of registryMeta(registry); the literal below must stay a plain string.
const META: RegistryMeta = JSON.parse('__TBW_REGISTRY_META__') as RegistryMeta;

/** Re-runs of one step after its worker died, beyond the task's own retries (a lost worker is not a task failure). */
const MAX_LOST_WORKER_RERUNS = 5;

function workerWasLost(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return cause.timeoutType === 'HEARTBEAT';
  return cause instanceof ApplicationFailure && cause.type === 'WorkerShutdown';
}

async function callTask(task: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
  const meta = META.tasks[task];
  if (!meta) throw ApplicationFailure.nonRetryable(`task ${task} is not registered on this worker`, 'NotRegistered');
  const options = activityOptionsFor(meta);
  for (let rerun = 0; ; rerun++) {
    try {
      return await scheduleActivity(task, [args, kwargs], options);
    } catch (err) {
      if (workerWasLost(err) && rerun < MAX_LOST_WORKER_RERUNS) continue;
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
