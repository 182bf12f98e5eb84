// Registers the registry with Hatchet: every task as a standalone Hatchet task of its name, every workflow as a
// Hatchet workflow whose tasks form the DAG from plan.ts. Each run goes through runTask (time limit, abort, the
// task's retries in-process), its failure is reported as "Type: message", and a cold stop leaves the run
// unreported so the server reassigns it.
import type { Logger } from 'pino';
import type { Context, HatchetClient, JsonObject } from '@hatchet-dev/typescript-sdk/v1/index.js';
import type { BaseWorkflowDeclaration } from '@hatchet-dev/typescript-sdk/v1/declaration.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, errorType } from '../../tasks/errors.js';
import { runTask, stepInput } from '../../tasks/local-runner.js';
import type { Registry } from '../../tasks/registry.js';
import type { TaskLines } from '../../tasks/task-log.js';
import type { TaskDefinition, TaskStep, WorkflowDefinition } from '../../tasks/types.js';
import {
  RESULT_NODE,
  decodeInput,
  decodeOutput,
  encodeOutput,
  failureMessage,
  gatherInput,
  planWorkflow,
  retryExtension,
  taskOptions,
  type PlanNode,
  type WireOutput,
} from './plan.js';

type AnyContext = Context<JsonObject>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the worker accepts declarations of any I/O type
type AnyDeclaration = BaseWorkflowDeclaration<any, any>;
/** Our outputs are plain JSON by construction (task return values must be JSON to cross the wire anyway). */
const asJson = (o: WireOutput): JsonObject => o as unknown as JsonObject;

/** What running a task needs from the backend that owns it. */
export interface RunHooks {
  logger: Logger;
  workerName: string;
  /** Aborted on cold stop: running tasks are abandoned (left for the server to reassign). */
  coldSignal: AbortSignal;
  /** Reassignments after lost workers a run may have had; past it, the run fails with WorkerLostError. */
  deliveryLimit: number;
  /** Called when a run starts, and with its outcome when it settles (not called for abandoned runs). */
  onStart(): void;
  /** `seconds`: the run's wall time (tbw_task_duration_seconds). */
  onEnd(ok: boolean, seconds: number): void;
  /** Makes NonRetryableError (from the SDK module the backend loaded). */
  nonRetryable(message: string): Error;
  /** The per-task log lines (received, succeeded, retry, failed). */
  lines: TaskLines;
}

/** Never settles: a cold-stopped run must not be reported failed, or the server would not run it again. */
const ABANDONED = new Promise<never>(() => undefined);

/** Hatchet retries are 0 (plan.ts): every failure the worker reports is final, with the original trace. */
function failure(err: unknown, hooks: RunHooks): Error {
  const text = failureMessage(errorType(err), errorMessage(err));
  const e = hooks.nonRetryable(text);
  if (err instanceof Error && err.stack) e.stack = `${text}\n${err.stack.split('\n').slice(1).join('\n')}`;
  return e;
}

/** The failure of a run whose workers were lost more often than the delivery limit allows. */
export function workerLostText(task: string, lost: number, limit: number): string {
  return failureMessage(
    'WorkerLostError',
    `worker lost while running ${task} (no heartbeat from it for 30 s: killed, out of memory or hung), ` +
      `${lost === 1 ? 'once' : `${lost} times`}; the delivery limit is ${limit}`,
  );
}

/**
 * Run `def` for a Hatchet action, its retries included; resolves with the wire output or rejects with the
 * failure. Hatchet's retry count is the number of lost workers before this run (plan.ts: no Hatchet retries).
 */
export async function runOne(
  def: TaskDefinition,
  args: unknown[],
  kwargs: Record<string, unknown>,
  ctx: AnyContext,
  hooks: RunHooks,
): Promise<WireOutput> {
  const lost = ctx.retryCount();
  const taskId = ctx.taskRunExternalId();
  const logger = hooks.logger.child({ task: def.name, taskId });
  const ref = { task: def.name, taskId };
  hooks.lines.received(ref);
  if (lost > hooks.deliveryLimit) {
    const err = hooks.nonRetryable(workerLostText(def.name, lost, hooks.deliveryLimit));
    hooks.lines.failed(ref, 0, Object.assign(new Error(err.message), { name: 'WorkerLostError' }));
    throw err;
  }
  const signal = AbortSignal.any([hooks.coldSignal, ctx.abortController.signal]);
  hooks.onStart();
  const started = performance.now();
  const took = (): number => (performance.now() - started) / 1000;
  // Before a retry waits, the engine's timeout moves out by the wait plus one attempt (plan.ts).
  const wait = async (ms: number, s: AbortSignal): Promise<void> => {
    const by = retryExtension(def, ms);
    if (by !== null)
      await ctx.refreshTimeout(by).catch((e: unknown) => logger.warn({ err: String(e) }, 'timeout refresh failed'));
    await sleep(ms, undefined, { signal: s });
  };
  try {
    const value = await runTask(def, args, kwargs, {
      taskId,
      signal,
      logger: hooks.logger,
      backend: 'hatchet',
      workerName: hooks.workerName,
      redelivered: lost > 0,
      sleep: wait,
      onRetry: (err, countdownMs, attempt) => hooks.lines.retried(ref, countdownMs, err, attempt),
    });
    const seconds = took();
    hooks.onEnd(true, seconds);
    hooks.lines.succeeded(ref, seconds, value);
    return encodeOutput(value);
  } catch (err) {
    if (hooks.coldSignal.aborted) {
      logger.warn({ err: errorMessage(err) }, 'task abandoned by cold stop; the server will reassign it');
      return ABANDONED;
    }
    const seconds = took();
    hooks.onEnd(false, seconds);
    hooks.lines.failed(ref, seconds, err);
    throw failure(err, hooks);
  }
}

function requireTask(registry: Registry, owner: string, step: TaskStep): TaskDefinition {
  const def = registry.task(step.task);
  if (!def) throw new Error(`workflow ${owner}: step names unknown task "${step.task}"`);
  return def;
}

function registerTask(hatchet: HatchetClient, def: TaskDefinition, hooks: RunHooks): AnyDeclaration {
  return hatchet.task<JsonObject, JsonObject>({
    name: def.name,
    ...taskOptions(def),
    fn: async (input, ctx) => {
      const { args, kwargs } = decodeInput(input);
      return asJson(await runOne(def, args, kwargs, ctx, hooks));
    },
  });
}

async function parentOutputs(ctx: AnyContext, names: string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const n of names) out.set(n, decodeOutput(await ctx.parentOutput(n)));
  return out;
}

function registerWorkflow(
  hatchet: HatchetClient,
  registry: Registry,
  wf: WorkflowDefinition,
  hooks: RunHooks,
): AnyDeclaration {
  const plan = planWorkflow(wf);
  const decl = hatchet.workflow<JsonObject, Record<string, JsonObject>>({ name: wf.name });
  const refs = new Map<string, ReturnType<typeof decl.task>>();
  const addNode = (node: PlanNode): void => {
    const def = requireTask(registry, wf.name, node.step);
    const ref = decl.task({
      name: node.name,
      ...taskOptions(def, wf.queue),
      parents: node.parents.map((p) => refs.get(p)).filter((r) => r !== undefined),
      fn: async (input, ctx) => {
        const wfInput = decodeInput(input);
        const a =
          node.input.kind === 'root'
            ? stepInput(node.step, { first: true, args: wfInput.args, kwargs: wfInput.kwargs })
            : stepInput(node.step, {
                first: false,
                value: gatherInput(node.input, await parentOutputs(ctx, node.parents)),
              });
        return asJson(await runOne(def, a.args, a.kwargs, ctx, hooks));
      },
    });
    refs.set(node.name, ref);
  };
  plan.nodes.forEach(addNode);
  const resultParents = plan.result.kind === 'one' ? [plan.result.parent] : plan.result.parents;
  // One extra node makes the workflow's result explicit, so every client reads it the same way.
  decl.task({
    name: RESULT_NODE,
    retries: 0,
    desiredWorkerLabels: taskOptions(requireTask(registry, wf.name, plan.nodes[0]?.step as TaskStep), wf.queue)
      .desiredWorkerLabels,
    parents: resultParents.map((p) => refs.get(p)).filter((r) => r !== undefined),
    fn: async (_input, ctx) => asJson(encodeOutput(gatherInput(plan.result, await parentOutputs(ctx, resultParents)))),
  });
  return decl;
}

/** All registry definitions as Hatchet declarations, ready for worker registration. */
export function declarations(hatchet: HatchetClient, registry: Registry, hooks: RunHooks): AnyDeclaration[] {
  return [
    ...registry.tasks().map((def) => registerTask(hatchet, def, hooks)),
    ...registry.workflows().map((wf) => registerWorkflow(hatchet, registry, wf, hooks)),
  ];
}
