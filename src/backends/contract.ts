// The one contract every backend implements (docs/architecture.md). A child process builds exactly one
// backend, lazily, so a Celery child never loads the Temporal or Hatchet SDK.
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import type { ChildExitCode } from '../exit-codes.js';
import type { DurationHistogram } from '../ipc/histogram.js';
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
   * Optional: cumulative run time of finished tasks (src/ipc/histogram.ts `emptyHistogram` + `observe`). Shipped in
   * heartbeats; the supervisor's metrics sum it into `tbw_task_duration_seconds`.
   */
  durations?: DurationHistogram;
  /**
   * Optional: backend-specific event counts since the child started (snake_case names, e.g. Celery's
   * `messages_without_id`); the supervisor sums them across children into `tbw_backend_events_total{event}`.
   */
  counts?: Record<string, number>;
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
   * The ONE way a backend reports a failure after start resolved (its worker died, the connection is gone for good,
   * a task ignored its hard time limit): the child runtime logs it, tells the supervisor and exits with
   * `exitCode` (default CHILD_EXIT.CRASH; see src/exit-codes.ts for the table the supervisor reads). A backend
   * never calls process.exit or throws from a timer itself.
   */
  fail(err: Error, opts?: { exitCode?: ChildExitCode }): void;
  /** Send a message to the pool extensions in the supervisor (e.g. ask Celery's node for a rate-limit token). */
  toPool(topic: string, data: unknown): void;
  /**
   * How many tasks run in this child now. Call it BEFORE a task's code runs (and when tasks end): a child that dies
   * while running tasks is a lost worker charged to those tasks (their reruns are bounded by --delivery-limit), not
   * a crash the pool's crash-loop guard counts. Cheap: the supervisor hears only the step from idle to busy (the
   * heartbeat carries the rest).
   */
  busy(active: number): void;
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
  /** A message from a pool extension (`extension` IPC); may arrive while start() runs. Must not throw. */
  onPoolMessage?(topic: string, data: unknown): void;
}

/** Raised by start() when the failure will not go away by retrying (bad token, bad config): exit code BOOT_ERROR. */
export class BootError extends Error {
  override name = 'BootError';
}
