// The client side of a backend: submit work by task name and fetch its result. Each backend implements it in
// src/backends/<name>/client.ts as `createClient(config: WorkerConfig): BackendClient`.
import type { WorkerConfig } from '../config/types.js';

export interface SubmitOptions {
  /** Positional arguments (Python *args). */
  args?: unknown[];
  /** Keyword arguments (Python **kwargs). */
  kwargs?: Record<string, unknown>;
  /** Queue / task queue to send to; the task's own queue or the backend default when omitted. */
  queue?: string;
  /** Run no earlier than this many ms from now. */
  countdownMs?: number;
}

export interface ResultOptions {
  /** Give up waiting after this many ms: reject with an Error named "TimeoutError". Wait forever when omitted. */
  timeoutMs?: number;
}

export interface BackendClient {
  submit(name: string, opts: SubmitOptions): Promise<{ id: string }>;
  /**
   * The task's return value (JSON-decoded). Rejects on task failure with an Error whose `name` is the remote
   * exception type (e.g. "ValueError", "TypeError", "TimeLimitExceeded") and whose message is the remote message.
   */
  result(id: string, opts?: ResultOptions): Promise<unknown>;
  close(): Promise<void>;
}

/** What src/backends/<name>/client.ts exports. */
export type CreateClient = (config: WorkerConfig) => BackendClient;
