// The backend-agnostic task and workflow model. Every backend runs what these types describe, with one
// calling convention: run(args, kwargs, ctx), the way a Python caller sends positional and keyword arguments.
import type { Logger } from 'pino';
import type { BackendName } from '../config/types.js';
import type { ParamSpec, Signature } from './params.js';

export { BACKENDS, type BackendName } from '../config/types.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type Args = unknown[];
export type Kwargs = Record<string, unknown>;

/** What a running task sees besides its arguments. */
export interface TaskContext {
  /** The backend's id for this execution (Celery task id, Temporal activity id, Hatchet step run id). */
  readonly taskId: string;
  readonly taskName: string;
  /**
   * 1 on the first try, 2 on the first retry, ...: 1 + the retries the task asked for or was given after a failure
   * (Celery's request.retries + 1). A rerun after a lost worker is not a retry and leaves it unchanged.
   */
  readonly attempt: number;
  /** True when this run follows a lost worker (its child died or was stopped while running the task). */
  readonly redelivered: boolean;
  /** Aborted on soft time limit, cold shutdown or revoke; reason says which. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly backend: BackendName;
  /** Worker node name, e.g. celery@host. */
  readonly workerName: string;
}

export interface RetryBackoff {
  /** Delay before the first retry, ms. */
  initialMs: number;
  /** Multiplier per retry (1 = constant). */
  factor: number;
  /** Upper bound of a single delay, ms. */
  maxMs: number;
}

export type TaskRun<R = unknown> = (args: Args, kwargs: Kwargs, ctx: TaskContext) => R | Promise<R>;

export interface TaskOptions<R = unknown> {
  name: string;
  run: TaskRun<R>;
  /** Retries after the first failure (0 = none). */
  retries?: number;
  retryBackoff?: Partial<RetryBackoff>;
  /** Time limit for one attempt, ms: the AbortSignal fires at the limit (soft), the child is replaced if it is ignored (hard). */
  timeout?: number;
  queue?: string;
  description?: string;
  /**
   * The parameters, written as Python writes them: `['a', { name: 'b', default: 2 }, '*', 'flag', '**rest']`
   * ('*' = keyword-only from here, '*name' = extra positionals, '**name' = extra keywords). Default: read from
   * run() when its first parameter is an array pattern (`run([a, b = 2], { flag }, ctx)`) or it has none.
   */
  params?: readonly (string | ParamSpec)[];
  /** false: no argument checking, run() gets args and kwargs as sent (call bind() yourself). Default true. */
  checkArgs?: boolean;
}

export interface TaskDefinition<R = unknown> {
  readonly kind: 'task';
  readonly name: string;
  readonly run: TaskRun<R>;
  readonly retries: number;
  readonly retryBackoff: RetryBackoff;
  readonly timeoutMs: number | undefined;
  readonly queue: string | undefined;
  readonly description: string | undefined;
  /**
   * What calls are checked against (declared or read from run), or null: run() takes the call as it comes.
   * `run` itself checks: a wrong call fails with Python's TypeError before the task's own code runs.
   */
  readonly signature?: Signature | null;
}

/**
 * One step of a workflow: a task by name with optional static arguments. The step's input (the workflow's
 * arguments for a first step, the previous step's output otherwise) is PREPENDED to its static args, exactly as
 * a Celery chain prepends the parent's result.
 */
export interface TaskStep {
  task: string;
  args?: Args;
  kwargs?: Kwargs;
}
/** Fan-out: every branch gets the same input; the output is the list of branch outputs, in order. */
export interface ParallelStep {
  parallel: TaskStep[];
}
export type SequentialStep = TaskStep | ParallelStep;

/**
 * DAG node: roots (no parents) get the workflow's arguments prepended; a node with one parent gets that
 * parent's output prepended; a node with several gets one object {parentName: output} prepended.
 * The workflow's result is the output of the single sink, or {sinkName: output} when there are several.
 */
export interface DagNode extends TaskStep {
  parents?: string[];
}

export type WorkflowSteps = SequentialStep[] | { dag: Record<string, DagNode> };

export interface WorkflowOptions {
  name: string;
  steps: WorkflowSteps;
  queue?: string;
  description?: string;
}

export interface WorkflowDefinition {
  readonly kind: 'workflow';
  readonly name: string;
  readonly steps: WorkflowSteps;
  readonly queue: string | undefined;
  readonly description: string | undefined;
}

export type Definition = TaskDefinition | WorkflowDefinition;

/** A failure that a task raises on purpose; `type` is the exception type name a Python caller sees. */
export class TaskError extends Error {
  constructor(
    message: string,
    readonly type: string = 'Exception',
    readonly retryable: boolean = true,
  ) {
    super(message);
    this.name = type;
  }
}

/** Thrown by a task (or raised by the runtime for it) to ask for another attempt. */
export class RetryTask extends Error {
  constructor(
    message = 'retry requested',
    readonly countdownMs?: number,
  ) {
    super(message);
    this.name = 'Retry';
  }
}
