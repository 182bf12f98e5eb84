// The reference executor: runs tasks (attempts, time limits, retries) and workflows (sequential, parallel, DAG)
// in-process, straight from the registry. It defines the semantics every backend reproduces natively; the
// conformance suite is proven against it, and backends may reuse runAttempt/retryDelayMs/stepInput.
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { dagOrder } from './define.js';
import { TimeLimitExceeded, isRetryRequest, isRetryable } from './errors.js';
import type { Registry } from './registry.js';
import {
  TaskError,
  type Args,
  type BackendName,
  type DagNode,
  type Kwargs,
  type RetryBackoff,
  type SequentialStep,
  type TaskContext,
  type TaskDefinition,
  type TaskStep,
  type WorkflowDefinition,
} from './types.js';

export interface RunOptions {
  taskId?: string;
  /** Aborts everything in flight (cold shutdown / revoke); attempts see it through ctx.signal. */
  signal?: AbortSignal;
  logger?: Logger;
  backend?: BackendName;
  workerName?: string;
  /** The run follows a lost worker: its first attempt sees ctx.redelivered (a retry is not a redelivery). */
  redelivered?: boolean;
  /** Seam for the wait between retries. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told before each wait for a retry: what failed, the countdown, the attempt that failed (its log line). */
  onRetry?: (err: unknown, countdownMs: number, attempt: number) => void;
}

/** Delay before retry number `retry` (1 = first retry): initialMs * factor^(retry-1), capped at maxMs. */
export function retryDelayMs(backoff: RetryBackoff, retry: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, retry - 1));
}

function waitFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One attempt: ctx.signal aborts at the task's time limit (reason: TimeLimitExceeded) or when `outer` aborts.
 * The attempt settles at that moment even if the task ignores the signal — the "hard" limit (a real worker
 * also replaces the process in that case).
 */
export async function runAttempt(
  def: TaskDefinition,
  args: Args,
  kwargs: Kwargs,
  ctx: Omit<TaskContext, 'signal'>,
  outer?: AbortSignal,
): Promise<unknown> {
  const ac = new AbortController();
  const cleanups: (() => void)[] = [];
  const aborted = new Promise<never>((_, reject) => {
    ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true });
  });
  aborted.catch(() => undefined); // observed below via race; avoid an unhandled rejection when unused
  if (outer) {
    if (outer.aborted) ac.abort(outer.reason);
    const onOuter = (): void => ac.abort(outer.reason);
    outer.addEventListener('abort', onOuter, { once: true });
    cleanups.push(() => outer.removeEventListener('abort', onOuter));
  }
  if (def.timeoutMs !== undefined) {
    const timer = setTimeout(() => ac.abort(new TimeLimitExceeded(def.name, def.timeoutMs ?? 0)), def.timeoutMs);
    cleanups.push(() => clearTimeout(timer));
  }
  try {
    const running = Promise.resolve().then(() => def.run(args, kwargs, { ...ctx, signal: ac.signal }));
    return await Promise.race([running, aborted]);
  } finally {
    for (const c of cleanups.reverse()) c();
  }
}

function baseContext(def: TaskDefinition, opts: RunOptions, attempt: number): Omit<TaskContext, 'signal'> {
  const taskId = opts.taskId ?? randomUUID();
  return {
    taskId,
    taskName: def.name,
    attempt,
    redelivered: attempt === 1 && opts.redelivered === true,
    logger: (opts.logger ?? pino({ level: 'silent' })).child({ task: def.name, taskId, attempt }),
    backend: opts.backend ?? 'celery',
    workerName: opts.workerName ?? 'local@localhost',
  };
}

/** A task with its retry policy: up to 1 + retries attempts; non-retryable errors and aborts end it at once. */
export async function runTask(
  def: TaskDefinition,
  args: Args,
  kwargs: Kwargs,
  opts: RunOptions = {},
): Promise<unknown> {
  const sleep = opts.sleep ?? waitFor;
  const outer = opts.signal ?? new AbortController().signal;
  const idOpts = { ...opts, taskId: opts.taskId ?? randomUUID() }; // one id across attempts, as on a broker
  for (let attempt = 1; ; attempt++) {
    try {
      return await runAttempt(def, args, kwargs, baseContext(def, idOpts, attempt), outer);
    } catch (err) {
      if (outer.aborted || !isRetryable(err)) throw err;
      if (attempt > def.retries) {
        if (isRetryRequest(err)) {
          throw new TaskError(
            `task ${def.name} asked to retry after ${def.retries} retries`,
            'MaxRetriesExceededError',
            false,
          );
        }
        throw err;
      }
      const countdown = (isRetryRequest(err) ? err.countdownMs : undefined) ?? retryDelayMs(def.retryBackoff, attempt);
      opts.onRetry?.(err, countdown, attempt);
      await sleep(countdown, outer);
    }
  }
}

/**
 * The arguments a step runs with. `input` is the workflow's args for a first step / DAG root (spread, with the
 * workflow's kwargs merged over the step's), else the upstream output as ONE argument — prepended to the step's
 * static args, exactly like a Celery chain.
 */
export function stepInput(
  step: TaskStep,
  input: { first: true; args: Args; kwargs: Kwargs } | { first: false; value: unknown },
): { args: Args; kwargs: Kwargs } {
  const staticArgs = step.args ?? [];
  const staticKwargs = step.kwargs ?? {};
  if (input.first) return { args: [...input.args, ...staticArgs], kwargs: { ...staticKwargs, ...input.kwargs } };
  return { args: [input.value, ...staticArgs], kwargs: { ...staticKwargs } };
}

function taskOf(registry: Registry, wf: WorkflowDefinition, name: string): TaskDefinition {
  const def = registry.task(name);
  if (!def) throw new TaskError(`workflow ${wf.name}: step names unknown task "${name}"`, 'NotRegistered', false);
  return def;
}

async function runSequential(
  registry: Registry,
  wf: WorkflowDefinition,
  steps: SequentialStep[],
  args: Args,
  kwargs: Kwargs,
  opts: RunOptions,
  id: string,
): Promise<unknown> {
  let value: unknown;
  for (const [i, step] of steps.entries()) {
    const input = i === 0 ? ({ first: true, args, kwargs } as const) : ({ first: false, value } as const);
    const branches = 'parallel' in step ? step.parallel : [step];
    const outputs = await Promise.all(
      branches.map((b, j) => {
        const a = stepInput(b, input);
        return runTask(taskOf(registry, wf, b.task), a.args, a.kwargs, { ...opts, taskId: `${id}.${i}.${j}` });
      }),
    );
    value = 'parallel' in step ? outputs : outputs[0];
  }
  return value;
}

/** The input a DAG node gets from its parents (see DagNode): none → workflow args; one → output; many → map. */
export function dagNodeInput(
  node: DagNode,
  outputs: ReadonlyMap<string, unknown>,
  args: Args,
  kwargs: Kwargs,
): { args: Args; kwargs: Kwargs } {
  const parents = node.parents ?? [];
  if (parents.length === 0) return stepInput(node, { first: true, args, kwargs });
  if (parents.length === 1) return stepInput(node, { first: false, value: outputs.get(parents[0] as string) });
  return stepInput(node, { first: false, value: Object.fromEntries(parents.map((p) => [p, outputs.get(p)])) });
}

/** The DAG's sinks (nodes nobody depends on), in declaration order. */
export function dagSinks(dag: Record<string, DagNode>): string[] {
  const used = new Set(Object.values(dag).flatMap((n) => n.parents ?? []));
  return Object.keys(dag).filter((n) => !used.has(n));
}

async function runDag(
  registry: Registry,
  wf: WorkflowDefinition,
  dag: Record<string, DagNode>,
  args: Args,
  kwargs: Kwargs,
  opts: RunOptions,
  id: string,
): Promise<unknown> {
  dagOrder(wf.name, dag); // rejects cycles before running anything
  const outputs = new Map<string, unknown>();
  const running = new Map<string, Promise<unknown>>();
  // Each node starts as soon as all of its parents are done, so independent branches run concurrently.
  const start = (name: string): Promise<unknown> => {
    let p = running.get(name);
    if (p) return p;
    const node = dag[name] as DagNode;
    p = Promise.all((node.parents ?? []).map(start)).then(async () => {
      const a = dagNodeInput(node, outputs, args, kwargs);
      const out = await runTask(taskOf(registry, wf, node.task), a.args, a.kwargs, {
        ...opts,
        taskId: `${id}.${name}`,
      });
      outputs.set(name, out);
      return out;
    });
    running.set(name, p);
    return p;
  };
  const sinks = dagSinks(dag);
  await Promise.all(Object.keys(dag).map(start));
  if (sinks.length === 1) return outputs.get(sinks[0] as string);
  return Object.fromEntries(sinks.map((s) => [s, outputs.get(s)]));
}

export async function runWorkflow(
  registry: Registry,
  wf: WorkflowDefinition,
  args: Args,
  kwargs: Kwargs,
  opts: RunOptions = {},
): Promise<unknown> {
  const id = opts.taskId ?? randomUUID();
  const steps = wf.steps;
  if (Array.isArray(steps)) return runSequential(registry, wf, steps, args, kwargs, opts, id);
  return runDag(registry, wf, steps.dag, args, kwargs, opts, id);
}

/** Run a task or workflow by name; unknown names fail with Celery's NotRegistered type. */
export async function runByName(
  registry: Registry,
  name: string,
  args: Args = [],
  kwargs: Kwargs = {},
  opts: RunOptions = {},
): Promise<unknown> {
  const def = registry.get(name);
  if (!def) throw new TaskError(`task "${name}" is not registered`, 'NotRegistered', false);
  if (def.kind === 'task') return runTask(def, args, kwargs, opts);
  return runWorkflow(registry, def, args, kwargs, opts);
}
