// DAG workflows as plain Celery canvas (no polling, nothing a Python Celery worker could not carry): the DAG is
// cut into topological layers and sent as a chain of chords, one per layer. What flows down the chain is the
// "state", an object {nodeName: output} of every node finished so far. In each layer's chord header:
//   - tbw.collect passes the state through (header position 0, from the second layer on),
//   - a root node runs immutably with the workflow's own args (stepInput's first-step rule),
//   - any other node is chain(tbw.dag_select(parents=…), task.s(*static_args, **static_kwargs)): the select
//     step picks its parents' outputs from the state (one parent → that output, several → {parent: output}),
//     which the chain prepends to the task's static args exactly like a sequential step.
// The chord body tbw.dag_merge folds the header results back into the state; the last layer's body carries the
// workflow message's id and returns the sink output (or {sink: output} for several sinks).
import { dagOrder } from '../../tasks/define.js';
import { dagSinks } from '../../tasks/local-runner.js';
import type { DagNode } from '../../tasks/types.js';
import type { Sig } from './protocol.js';
import { isObj } from '../../util/json.js';

export const DAG_SELECT_TASK = 'tbw.dag_select';
export const DAG_MERGE_TASK = 'tbw.dag_merge';
/** Shared with canvas.ts: the identity task (first argument in, same value out). */
export const COLLECT_TASK = 'tbw.collect';

/** Nodes grouped by depth (roots = 0, else 1 + the deepest parent), each layer in declaration order. */
export function dagLayers(workflow: string, dag: Record<string, DagNode>): string[][] {
  const depth = new Map<string, number>();
  for (const name of dagOrder(workflow, dag)) {
    const parents = dag[name]?.parents ?? [];
    depth.set(name, parents.length === 0 ? 0 : 1 + Math.max(...parents.map((p) => depth.get(p) ?? 0)));
  }
  const layers: string[][] = [];
  for (const name of Object.keys(dag)) {
    const d = depth.get(name) ?? 0;
    (layers[d] ??= []).push(name);
  }
  return layers;
}

export interface DagCall {
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** The workflow message's id: the final merge stores the workflow's result under it. */
  resultId: string;
}

const chain = (tasks: Sig[]): Sig => ({
  task: 'celery.chain',
  subtask_type: 'chain',
  args: [],
  kwargs: { tasks },
  options: {},
  immutable: false,
});

function nodeSig(node: DagNode, call: DagCall): Sig {
  const parents = node.parents ?? [];
  if (parents.length === 0) {
    return {
      task: node.task,
      args: [...call.args, ...(node.args ?? [])],
      kwargs: { ...node.kwargs, ...call.kwargs },
      options: {},
      immutable: true,
    };
  }
  return chain([
    { task: DAG_SELECT_TASK, args: [], kwargs: { parents }, options: {}, immutable: false },
    { task: node.task, args: node.args ?? [], kwargs: node.kwargs ?? {}, options: {}, immutable: false },
  ]);
}

/** The whole DAG as one chain of chords (see the module comment). Throws on a cycle or an empty DAG. */
export function dagCanvas(workflow: string, dag: Record<string, DagNode>, call: DagCall): Sig {
  const layers = dagLayers(workflow, dag);
  if (layers.length === 0) throw new TypeError(`workflow ${workflow}: dag has no nodes`);
  const sinks = dagSinks(dag);
  const chords: Sig[] = layers.map((names, i) => {
    const carry = i > 0;
    const last = i === layers.length - 1;
    const header: Sig[] = names.map((n) => nodeSig(dag[n] as DagNode, call));
    if (carry) header.unshift({ task: COLLECT_TASK, args: [], kwargs: {}, options: {}, immutable: false });
    const body: Sig = {
      task: DAG_MERGE_TASK,
      args: [],
      kwargs: last ? { names, carry, sinks } : { names, carry },
      options: last ? { task_id: call.resultId } : {},
      immutable: false,
    };
    return {
      task: 'celery.chord',
      subtask_type: 'chord',
      args: [],
      kwargs: { header, body },
      options: {},
      immutable: false,
    };
  });
  return chords.length === 1 ? (chords[0] as Sig) : chain(chords);
}

function internalError(task: string, what: string): Error {
  return Object.assign(new Error(`${task}: ${what}`), { name: 'InvalidTaskError' });
}

/** A node's own output in a state object: never an inherited property (`__proto__`, `constructor`, ...). */
const own = (state: Record<string, unknown>, name: string): unknown =>
  Object.prototype.hasOwnProperty.call(state, name) ? state[name] : null;

/** The kwargs of our internal tasks come from the wire: every name a string, as a DAG node's name is. */
function names(task: string, v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((n) => typeof n !== 'string' || n === ''))
    throw internalError(task, `${what} must be a list of node names`);
  return v as string[];
}

/** tbw.dag_select(state, parents=[…]): one parent → its output; several → {parent: output}. */
export function dagSelect(args: unknown[], kwargs: Record<string, unknown>): unknown {
  const state = args[0];
  const parents = names(DAG_SELECT_TASK, kwargs.parents, 'parents');
  if (!isObj(state) || parents.length === 0) throw internalError(DAG_SELECT_TASK, 'needs a state object and parents');
  if (parents.length === 1) return own(state, parents[0] as string);
  return Object.fromEntries(parents.map((p) => [p, own(state, p)]));
}

/**
 * tbw.dag_merge(results, names=[…], carry, sinks?): results are the layer's header outputs (the carried state
 * first when `carry`); returns the new state, or the workflow's result when `sinks` is given.
 */
export function dagMerge(args: unknown[], kwargs: Record<string, unknown>): unknown {
  const results = args[0];
  const layer = names(DAG_MERGE_TASK, kwargs.names, 'names');
  const carry = kwargs.carry === true;
  if (!Array.isArray(results) || results.length !== layer.length + (carry ? 1 : 0)) {
    throw internalError(DAG_MERGE_TASK, 'header results do not match the layer');
  }
  const prev = carry ? results[0] : {};
  if (!isObj(prev)) throw internalError(DAG_MERGE_TASK, 'carried state is not an object');
  const outputs = carry ? results.slice(1) : results;
  // Own data properties only (fromEntries defines them): a node named __proto__ cannot reach a prototype.
  const state = Object.fromEntries([
    ...Object.entries(prev),
    ...layer.map((n, i): [string, unknown] => [n, outputs[i]]),
  ]) as Record<string, unknown>;
  if (kwargs.sinks === undefined || kwargs.sinks === null) return state;
  const sinks = names(DAG_MERGE_TASK, kwargs.sinks, 'sinks');
  if (sinks.length === 1) return own(state, sinks[0] as string);
  return Object.fromEntries(sinks.map((s) => [s, own(state, s)]));
}

/** Our internal tasks, run in place of a registry task (none touches the outside world). */
export function internalTask(
  task: string,
): ((args: unknown[], kwargs: Record<string, unknown>) => unknown) | undefined {
  switch (task) {
    case COLLECT_TASK:
      return (args) => args[0];
    case DAG_SELECT_TASK:
      return dagSelect;
    case DAG_MERGE_TASK:
      return dagMerge;
    default:
      return undefined;
  }
}

/** A chord body that is ours (a workflow's join): a failed part fails the workflow with the part's own error. */
export const isInternalBody = (task: string): boolean => task === COLLECT_TASK || task === DAG_MERGE_TASK;
