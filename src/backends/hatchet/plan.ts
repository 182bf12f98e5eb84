// Pure mapping from the registry's model onto Hatchet's: task options (timeouts, queue labels),
// workflows as DAGs (sequential and parallel steps become parents), and the wire format of inputs, outputs and
// failures. No SDK imports here, so all of it is unit-tested without a server.
import { dagSinks } from '../../tasks/local-runner.js';
import { dagOrder } from '../../tasks/define.js';
import type { Args, Kwargs, TaskDefinition, TaskStep, WorkflowDefinition } from '../../tasks/types.js';

/** The queue a task without `queue` belongs to, and the one a worker without -Q consumes. */
export const DEFAULT_QUEUE = 'default';
/** Name of the extra DAG node that turns the sinks' outputs into the workflow's one result. */
export const RESULT_NODE = '__result__';
/** A task with no time limit still needs one on Hatchet (its default is 60 s): a day. */
export const NO_LIMIT_TIMEOUT: Seconds = '86400s';
/** How long a run may wait for a free slot before Hatchet fails it (Hatchet's default is 5 min: too short under load). */
export const SCHEDULE_TIMEOUT: Seconds = '86400s';
/**
 * Hatchet's own execution timeout sits this far beyond the task's limit. A live worker always reports the limit
 * itself (TimeLimitExceeded); the engine's timeout only matters when the worker is gone, and then the engine must
 * notice the dead worker first: it reassigns the runs of a worker silent for 30 s (checked about every second
 * while runs are active), which a timeout only 5 s away used to beat ("Task exceeded timeout").
 */
export const ENGINE_TIMEOUT_GRACE_S = 60;

/** Hatchet durations are Go-style strings; we only ever write whole seconds. */
export type Seconds = `${number}s`;

/** Input of every run: Python-style positional and keyword arguments. */
export interface WireInput {
  args: Args;
  kwargs: Kwargs;
}
/** Output of every task/node: Hatchet outputs are JSON objects, so the return value is wrapped. */
export interface WireOutput {
  result: unknown;
}

export function decodeInput(input: unknown): WireInput {
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const args = Array.isArray(o.args) ? (o.args as Args) : [];
  const kwargs =
    typeof o.kwargs === 'object' && o.kwargs !== null && !Array.isArray(o.kwargs) ? (o.kwargs as Kwargs) : {};
  return { args, kwargs };
}

export function encodeOutput(value: unknown): WireOutput {
  // undefined is not JSON: a task that returns nothing returns None to a Python caller.
  return { result: value === undefined ? null : value };
}

export function decodeOutput(output: unknown): unknown {
  if (typeof output === 'object' && output !== null && 'result' in output) return (output as WireOutput).result;
  return output;
}

/** Label key a worker carries for each queue it consumes; a task of that queue requires it. */
export function queueLabel(queue: string): string {
  return `queue:${queue}`;
}

/**
 * Labels of a worker consuming `queues`; without -Q it consumes every registered task, i.e. the default queue
 * plus every queue the registry names (`registryQueues`).
 */
export function workerLabels(queues: string[] | null, registryQueues: string[] = []): Record<string, number> {
  const list = queues === null || queues.length === 0 ? [DEFAULT_QUEUE, ...registryQueues] : queues;
  return Object.fromEntries(list.map((q) => [queueLabel(q), 1]));
}

/** Every queue a definition in the registry names. */
export function registryQueues(defs: { queue: string | undefined }[]): string[] {
  return [...new Set(defs.flatMap((d) => (d.queue === undefined ? [] : [d.queue])))];
}

export function desiredLabels(queue: string | undefined): Record<string, { value: number; required: true }> {
  return { [queueLabel(queue ?? DEFAULT_QUEUE)]: { value: 1, required: true } };
}

export interface HatchetTaskOptions {
  retries: number;
  executionTimeout: Seconds;
  scheduleTimeout: Seconds;
  desiredWorkerLabels: Record<string, { value: number; required: true }>;
}

/**
 * Hatchet options of a task. Retries are 0 on Hatchet: the worker runs the task's retries itself, inside one
 * Hatchet run (tasks.ts), because Hatchet's retry counter also counts the reassignments after lost workers and a
 * run could not tell one from the other. Hatchet's counter then counts lost workers only (the delivery limit).
 */
export function taskOptions(def: TaskDefinition, queueOverride?: string): HatchetTaskOptions {
  return {
    retries: 0,
    executionTimeout:
      def.timeoutMs === undefined ? NO_LIMIT_TIMEOUT : `${Math.ceil(def.timeoutMs / 1000) + ENGINE_TIMEOUT_GRACE_S}s`,
    scheduleTimeout: SCHEDULE_TIMEOUT,
    desiredWorkerLabels: desiredLabels(queueOverride ?? def.queue),
  };
}

/**
 * How far the engine's timeout moves out before an in-process retry waits `delayMs`: the wait plus one more
 * attempt, so the run's deadline stays the same distance ahead of it. Null for tasks without a limit.
 */
export function retryExtension(def: TaskDefinition, delayMs: number): Seconds | null {
  if (def.timeoutMs === undefined) return null;
  return `${Math.ceil((Math.max(0, delayMs) + def.timeoutMs) / 1000)}s`;
}

/** Where a node's input comes from (the registry semantics of src/tasks/types.ts). */
export type NodeInput =
  | { kind: 'root' } // the workflow's args/kwargs
  | { kind: 'one'; parent: string } // that parent's output, prepended
  | { kind: 'map'; parents: string[] } // {parent: output}, prepended
  | { kind: 'list'; parents: string[] }; // [outputs in order], prepended (after a parallel step)

export interface PlanNode {
  name: string;
  step: TaskStep;
  parents: string[];
  input: NodeInput;
}

export interface WorkflowPlan {
  nodes: PlanNode[];
  /** How the RESULT_NODE builds the workflow's result from its parents. */
  result: Exclude<NodeInput, { kind: 'root' }>;
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** A workflow as a DAG in topological order, plus how its result is formed. */
export function planWorkflow(wf: WorkflowDefinition): WorkflowPlan {
  const steps = wf.steps;
  if (!Array.isArray(steps)) {
    const order = dagOrder(wf.name, steps.dag);
    const nodes = order.map((name): PlanNode => {
      const node = steps.dag[name];
      if (!node) throw new Error(`workflow ${wf.name}: unknown node ${name}`);
      const parents = node.parents ?? [];
      const input: NodeInput =
        parents.length === 0
          ? { kind: 'root' }
          : parents.length === 1
            ? { kind: 'one', parent: parents[0] as string }
            : { kind: 'map', parents };
      return { name, step: node, parents, input };
    });
    const sinks = dagSinks(steps.dag);
    const result: WorkflowPlan['result'] =
      sinks.length === 1 ? { kind: 'one', parent: sinks[0] as string } : { kind: 'map', parents: sinks };
    return { nodes, result };
  }
  const nodes: PlanNode[] = [];
  let previous: { names: string[]; parallel: boolean } | null = null;
  for (const [i, step] of steps.entries()) {
    const parallel = 'parallel' in step;
    const branches = parallel ? step.parallel : [step];
    const names = branches.map((b, j) => (parallel ? `step${i}_${j}_${safe(b.task)}` : `step${i}_${safe(b.task)}`));
    const input: NodeInput =
      previous === null
        ? { kind: 'root' }
        : previous.parallel
          ? { kind: 'list', parents: previous.names }
          : { kind: 'one', parent: previous.names[0] as string };
    branches.forEach((b, j) =>
      nodes.push({ name: names[j] as string, step: b, parents: previous?.names ?? [], input }),
    );
    previous = { names, parallel };
  }
  if (previous === null) throw new Error(`workflow ${wf.name} has no steps`);
  const result: WorkflowPlan['result'] = previous.parallel
    ? { kind: 'list', parents: previous.names }
    : { kind: 'one', parent: previous.names[0] as string };
  return { nodes, result };
}

/** The value a node's input spec stands for, given its parents' (decoded) outputs. */
export function gatherInput(input: Exclude<NodeInput, { kind: 'root' }>, outputs: Map<string, unknown>): unknown {
  switch (input.kind) {
    case 'one':
      return outputs.get(input.parent);
    case 'map':
      return Object.fromEntries(input.parents.map((p) => [p, outputs.get(p)]));
    case 'list':
      return input.parents.map((p) => outputs.get(p));
    default: {
      const never: never = input;
      throw new Error(`unknown node input ${JSON.stringify(never)}`);
    }
  }
}

/** Failures travel as "Type: message" (Python's own str(exc) shape); the client splits them back. */
export function failureMessage(type: string, message: string): string {
  return `${type}: ${message}`;
}

const FAILURE_RE = /^([A-Za-z_][A-Za-z0-9_.]*): ([\s\S]*)$/;

/**
 * Split a failure text the server reports back into {type, message}. The server may hand back the JSON payload
 * the SDK sent ({message, stack}), a plain string, or a list of such per task; the first "Type: message" wins.
 */
export function parseFailure(text: string): { type: string; message: string } {
  let candidate = text.trim();
  try {
    const parsed: unknown = JSON.parse(candidate);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as { message?: unknown }).message === 'string'
    ) {
      candidate = (parsed as { message: string }).message;
    } else if (typeof parsed === 'string') {
      candidate = parsed;
    }
  } catch {
    // not JSON: the text itself
  }
  const line = candidate.split('\n').find((l) => FAILURE_RE.test(l.trim()));
  const m = line === undefined ? null : FAILURE_RE.exec(line.trim());
  if (!m) return { type: 'Exception', message: candidate };
  const rest = candidate.slice(candidate.indexOf(m[0]) + (m[1] as string).length + 2);
  return { type: m[1] as string, message: rest.split('\n')[0] ?? '' };
}
