// IPC between the supervisor and its children: discriminated unions, validated on receipt (STYLE.md §8).
// Errors cross processes as {name, message, stack}.
import type { WorkerConfig } from '../config/types.js';

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type ShutdownMode = 'warm' | 'cold';

export type ParentMessage =
  /** First message to a child: who it is and what to run. */
  | { type: 'init'; index: number; config: WorkerConfig }
  | { type: 'shutdown'; mode: ShutdownMode; deadlineMs: number }
  | { type: 'inspect'; requestId: string; what: string; args?: Record<string, unknown> };

export type ChildMessage =
  | { type: 'ready'; backend: string; queues: string[]; concurrency: number }
  | {
      type: 'heartbeat';
      active: number;
      processed: number;
      failed: number;
      lastPollAt: number | null;
      rss: number;
    }
  /** Boot failure: the child could not start. retryable=false stops the restart loop. */
  | { type: 'fatal'; error: SerializedError; retryable: boolean }
  | { type: 'drained' }
  | { type: 'inspectReply'; requestId: string; data: unknown };
