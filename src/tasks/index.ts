// The public task API (re-exported by the package root): define tasks and workflows, bind arguments like
// Python, raise typed errors, load a registry, and run definitions in-process (tests, docs, reference semantics).
export { defineTask, defineWorkflow, dagOrder, isDefinition, DEFAULT_RETRY_BACKOFF } from './define.js';
export { TaskError, RetryTask, BACKENDS } from './types.js';
export type {
  Args,
  BackendName,
  DagNode,
  Definition,
  JsonValue,
  Kwargs,
  ParallelStep,
  RetryBackoff,
  SequentialStep,
  TaskContext,
  TaskDefinition,
  TaskOptions,
  TaskRun,
  TaskStep,
  WorkflowDefinition,
  WorkflowOptions,
  WorkflowSteps,
} from './types.js';
export { Registry } from './registry.js';
export { bind, bindCall } from './params.js';
export { declaredSignature, inferSignature, formatSignature } from './signature.js';
export type { ParamDecl } from './signature.js';
export type { ParamSpec, ParamType, Signature } from './params.js';
export { pyStr, pyRepr, pyTypeName } from './pyfmt.js';
export {
  TimeLimitExceeded,
  UnknownTaskError,
  errorType,
  errorMessage,
  isRetryable,
  isRetryRequest,
  serializeTaskError,
  remoteError,
} from './errors.js';
export { loadRegistry, TaskLoadError } from './loader.js';
export type { LoadRegistryConfig } from './loader.js';
export { BUILTIN_TASKS } from './builtins.js';
export {
  runByName,
  runTask,
  runWorkflow,
  runAttempt,
  retryDelayMs,
  stepInput,
  dagNodeInput,
  dagSinks,
} from './local-runner.js';
export type { RunOptions } from './local-runner.js';
