// How a task failure looks to a caller, the same on every backend: an exception type name plus a message.
// These helpers duck-type (never instanceof) because user modules may import TaskError from another copy of
// this package (e.g. the built dist/ while the worker runs from source).
import type { SerializedError } from '../ipc/messages.js';
import { TaskError } from './types.js';

/** The runtime aborted an attempt at its time limit (Celery's name for it; a Python caller can catch it). */
export class TimeLimitExceeded extends TaskError {
  constructor(
    readonly task: string,
    readonly limitMs: number,
  ) {
    super(`task ${task} exceeded its time limit of ${limitMs} ms`, 'TimeLimitExceeded', true);
  }
}

/** Raised by the client when a task name is not in the registry; lists the known names. */
export class UnknownTaskError extends Error {
  override name = 'UnknownTaskError';
  constructor(
    readonly task: string,
    readonly known: string[],
  ) {
    super(`unknown task "${task}"; known tasks: ${known.join(', ') || '(none)'}`);
  }
}

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * The exception type name a caller sees: TaskError.type, else err.name. A plain JS `Error` becomes
 * `Exception` (Python's base class); anything that is not an Error at all is an `Exception` too.
 */
export function errorType(err: unknown): string {
  const type = field(err, 'type');
  if (typeof type === 'string' && type !== '' && err instanceof Error) return type;
  const name = field(err, 'name');
  if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
  return 'Exception';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** False only when the error says so (TaskError(…, retryable=false), e.g. argument TypeErrors). */
export function isRetryable(err: unknown): boolean {
  return field(err, 'retryable') !== false;
}

/** A RetryTask (from any copy of the package): the task asked for another attempt. */
export function isRetryRequest(err: unknown): err is Error & { countdownMs?: number } {
  return err instanceof Error && err.name === 'Retry';
}

/** {name, message, stack} with name = the caller-visible exception type, for IPC and result stores. */
export function serializeTaskError(err: unknown): SerializedError {
  const out: SerializedError = { name: errorType(err), message: errorMessage(err) };
  if (err instanceof Error && err.stack) out.stack = err.stack;
  return out;
}

/** The Error a client rejects with: name = remote exception type, message = remote message. */
export function remoteError(type: string, message: string, stack?: string): Error {
  const e = new Error(message);
  e.name = type;
  if (stack !== undefined) e.stack = stack;
  return e;
}
