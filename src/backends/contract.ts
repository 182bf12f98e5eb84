// The one contract every backend implements (ARCHITECTURE.md "Contracts"). A child process builds exactly one
// backend, lazily, so a Celery child never loads the Temporal or Hatchet SDK.
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import type { DurationHistogram } from '../ops/histogram.js';
import type { Registry } from '../tasks/registry.js';

export interface BackendStats {
  /** Tasks running now. */
  active: number;
  /** Tasks finished (success or failure) since start. */
  processed: number;
  failed: number;
  /** Epoch ms of the last successful poll/fetch from the broker or server; null before the first. */
  lastPollAt: number | null;
  /** Capacity: how many tasks this child runs at once. */
  slots: number;
  /**
   * Optional: cumulative run time of finished tasks (src/ops/histogram.ts `emptyHistogram` + `observe`). Shipped in
   * heartbeats; the supervisor's metrics sum it into `tbw_task_duration_seconds`.
   */
  durations?: DurationHistogram;
}

export interface BackendContext {
  /** Index of this child in the pool (0..N-1), stable across restarts of the slot. */
  index: number;
  config: WorkerConfig;
  registry: Registry;
  logger: Logger;
  /** Ends when the supervisor asks for a cold stop; backends pass it on to running tasks. */
  coldSignal: AbortSignal;
  /**
   * For a failure AFTER start resolved (the SDK's worker died, the connection is gone for good): the child
   * runtime exits non-zero so the supervisor replaces it. Optional so older runtimes keep compiling; a backend
   * without it exits the process itself.
   */
  fail?: (err: Error) => void;
}

export interface WorkerBackend {
  readonly name: string;
  /** Connect, register, begin consuming. Resolves once the child can take work (then it reports `ready`). */
  start(ctx: BackendContext): Promise<void>;
  /** Warm: stop taking work, finish in-flight work until the deadline (epoch ms), give unstarted work back. */
  drain(deadline: number): Promise<void>;
  /** Cold: cancel in-flight work and give it back to the broker/server; close connections. Idempotent. */
  stop(): Promise<void>;
  stats(): BackendStats;
  /**
   * Remote control (Celery's inspect/control): answer the supervisor's `inspect {what, args}` with data for that
   * `what`. Optional: without it (or for what = "stats") the runtime answers with stats().
   */
  control?(what: string, args: Record<string, unknown>): unknown;
  /** The queues this child consumes, after the backend's defaults (celery: ["celery"], temporal: its task queue). */
  queues?(): string[];
}

/** Raised by start() when the failure will not go away by retrying (bad token, bad config): exit code BOOT_ERROR. */
export class BootError extends Error {
  override name = 'BootError';
}
