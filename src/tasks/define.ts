// defineTask / defineWorkflow: normalise user options into frozen definitions, rejecting bad ones early.
import { bindCall, type Signature } from './params.js';
import { declaredSignature, inferSignature } from './signature.js';
import type {
  Definition,
  RetryBackoff,
  TaskDefinition,
  TaskOptions,
  TaskRun,
  WorkflowDefinition,
  WorkflowOptions,
} from './types.js';

export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { initialMs: 1000, factor: 2, maxMs: 60_000 };
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TypeError(`${kind} name must match ${NAME_RE.source}, got ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * Marks a run() that checks its arguments, and keeps what it wraps: a definition passed through defineTask
 * again (the loader re-validates exports, maybe from another copy of this package) is not wrapped twice.
 */
const CHECKED = Symbol.for('task-backend-worker.checkedRun');
interface CheckedRun {
  [CHECKED]?: { run: TaskRun<unknown>; signature: Signature };
}

/** run() that binds each call to `signature` first (Python's TypeError on a wrong call) and gets it normalised. */
function checkedRun<R>(run: TaskRun<R>, signature: Signature): TaskRun<R> {
  const checked: TaskRun<R> = (args, kwargs, ctx) => {
    const call = bindCall(args, kwargs, signature);
    return run(call.args, call.kwargs, ctx);
  };
  (checked as CheckedRun)[CHECKED] = { run: run as TaskRun<unknown>, signature };
  return checked;
}

function taskSignature<R>(name: string, opts: TaskOptions<R>): { run: TaskRun<R>; signature: Signature | null } {
  const inner = (opts.run as CheckedRun)[CHECKED];
  const run = (inner?.run ?? opts.run) as TaskRun<R>;
  if (opts.checkArgs === false) return { run, signature: null };
  const signature =
    opts.params !== undefined
      ? declaredSignature(name, opts.params)
      : inner !== undefined
        ? { ...inner.signature, name }
        : inferSignature(name, run);
  return signature === null ? { run, signature } : { run: checkedRun(run, signature), signature };
}

export function defineTask<R>(opts: TaskOptions<R>): TaskDefinition<R> {
  const name = checkName('task', opts.name);
  if (typeof opts.run !== 'function') throw new TypeError(`task ${name}: run must be a function`);
  if (opts.params !== undefined && !Array.isArray(opts.params)) {
    throw new TypeError(`task ${name}: params must be an array of parameter names or specs`);
  }
  const { run, signature } = taskSignature(name, opts);
  const retries = opts.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`task ${name}: retries must be an integer >= 0`);
  if (opts.timeout !== undefined && !(opts.timeout > 0)) throw new TypeError(`task ${name}: timeout must be > 0 ms`);
  const retryBackoff = { ...DEFAULT_RETRY_BACKOFF, ...opts.retryBackoff };
  return Object.freeze({
    kind: 'task' as const,
    name,
    run,
    retries,
    retryBackoff: Object.freeze(retryBackoff),
    timeoutMs: opts.timeout,
    queue: opts.queue,
    description: opts.description,
    signature,
  });
}

export function defineWorkflow(opts: WorkflowOptions): WorkflowDefinition {
  const name = checkName('workflow', opts.name);
  const steps = opts.steps;
  if (Array.isArray(steps)) {
    if (steps.length === 0) throw new TypeError(`workflow ${name}: steps must not be empty`);
    for (const s of steps) {
      const branches = 'parallel' in s ? s.parallel : [s];
      if (branches.length === 0) throw new TypeError(`workflow ${name}: a parallel step needs branches`);
      for (const b of branches) checkName(`workflow ${name}: step task`, b.task);
    }
  } else if (steps && typeof steps === 'object' && 'dag' in steps) {
    const nodes = Object.entries(steps.dag);
    if (nodes.length === 0) throw new TypeError(`workflow ${name}: dag must not be empty`);
    for (const [node, def] of nodes) {
      checkName(`workflow ${name}: dag node task`, def.task);
      for (const p of def.parents ?? []) {
        if (!(p in steps.dag)) throw new TypeError(`workflow ${name}: node ${node} has unknown parent ${p}`);
      }
    }
    dagOrder(name, steps.dag); // throws on a cycle
  } else {
    throw new TypeError(`workflow ${name}: steps must be an array or {dag: {...}}`);
  }
  return Object.freeze({
    kind: 'workflow' as const,
    name,
    steps,
    queue: opts.queue,
    description: opts.description,
  });
}

/** Topological order of a DAG's node names (Kahn); throws on a cycle. */
export function dagOrder(workflow: string, dag: Record<string, { parents?: string[] }>): string[] {
  const indeg = new Map<string, number>();
  for (const [n, d] of Object.entries(dag)) indeg.set(n, (d.parents ?? []).length);
  const order: string[] = [];
  const ready = [...indeg].filter(([, d]) => d === 0).map(([n]) => n);
  while (ready.length > 0) {
    const n = ready.shift() as string;
    order.push(n);
    for (const [m, d] of Object.entries(dag)) {
      if ((d.parents ?? []).includes(n)) {
        const left = (indeg.get(m) ?? 0) - 1;
        indeg.set(m, left);
        if (left === 0) ready.push(m);
      }
    }
  }
  if (order.length !== indeg.size) throw new TypeError(`workflow ${workflow}: dag has a cycle`);
  return order;
}

export function isDefinition(v: unknown): v is Definition {
  return (
    typeof v === 'object' &&
    v !== null &&
    ((v as { kind?: unknown }).kind === 'task' || (v as { kind?: unknown }).kind === 'workflow') &&
    typeof (v as { name?: unknown }).name === 'string'
  );
}
