// Runs a registry workflow's steps (sequential, parallel fan-out, DAG) over a `call` seam, following the
// semantics in src/tasks/types.ts. Pure and deterministic: the Temporal workflow passes scheduleActivity as
// `call`, unit tests pass a plain function. Imported by the workflow bundle: no Node APIs.
import { dagOrder } from '../../tasks/define.js';
import type { Args, DagNode, Kwargs, SequentialStep, TaskStep, WorkflowSteps } from '../../tasks/types.js';

export type CallTask = (task: string, args: Args, kwargs: Kwargs) => Promise<unknown>;

/** The input of a step: the workflow's own arguments (first step / DAG roots) or one upstream output. */
type StepInput = { kind: 'workflow'; args: Args; kwargs: Kwargs } | { kind: 'upstream'; value: unknown };

function callStep(call: CallTask, step: TaskStep, input: StepInput): Promise<unknown> {
  const staticArgs = step.args ?? [];
  const staticKwargs = step.kwargs ?? {};
  if (input.kind === 'workflow') {
    // The caller's kwargs override a step's static kwargs, as a Celery signature's partial kwargs are overridden.
    return call(step.task, [...input.args, ...staticArgs], { ...staticKwargs, ...input.kwargs });
  }
  return call(step.task, [input.value, ...staticArgs], { ...staticKwargs });
}

async function runSequential(call: CallTask, steps: SequentialStep[], args: Args, kwargs: Kwargs): Promise<unknown> {
  let input: StepInput = { kind: 'workflow', args, kwargs };
  let output: unknown = null;
  for (const step of steps) {
    const stepInput = input;
    output =
      'parallel' in step
        ? await Promise.all(step.parallel.map((b) => callStep(call, b, stepInput)))
        : await callStep(call, step, stepInput);
    input = { kind: 'upstream', value: output };
  }
  return output;
}

async function runDag(call: CallTask, name: string, dag: Record<string, DagNode>, args: Args, kwargs: Kwargs) {
  const running = new Map<string, Promise<unknown>>();
  // Topological order guarantees every parent's promise exists before its children are wired up.
  for (const node of dagOrder(name, dag)) {
    const def = dag[node] as DagNode;
    const parents = def.parents ?? [];
    const started = (async (): Promise<unknown> => {
      if (parents.length === 0) return callStep(call, def, { kind: 'workflow', args, kwargs });
      const outputs = await Promise.all(parents.map((p) => running.get(p) as Promise<unknown>));
      if (parents.length === 1) return callStep(call, def, { kind: 'upstream', value: outputs[0] });
      const byParent: Record<string, unknown> = {};
      parents.forEach((p, i) => (byParent[p] = outputs[i]));
      return callStep(call, def, { kind: 'upstream', value: byParent });
    })();
    // Failures surface through the sink's await below; mark handled so an early failure is not "unhandled".
    started.catch(() => undefined);
    running.set(node, started);
  }
  const isParent = new Set(Object.values(dag).flatMap((d) => d.parents ?? []));
  const sinks = Object.keys(dag).filter((n) => !isParent.has(n));
  // Await every node, not only sinks, so the first failure anywhere fails the workflow.
  await Promise.all(running.values());
  if (sinks.length === 1) return running.get(sinks[0] as string);
  const result: Record<string, unknown> = {};
  for (const s of sinks) result[s] = await running.get(s);
  return result;
}

export function runSteps(call: CallTask, name: string, steps: WorkflowSteps, args: Args, kwargs: Kwargs) {
  return Array.isArray(steps) ? runSequential(call, steps, args, kwargs) : runDag(call, name, steps.dag, args, kwargs);
}
