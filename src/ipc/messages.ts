// IPC between the supervisor and its children: discriminated unions, validated on receipt (a peer is data).
// Errors cross processes as {name, message, stack}.
import type { WorkerConfig } from '../config/types.js';
import { isHistogram, type DurationHistogram } from './histogram.js';
import { isObj, isStrArr } from '../util/json.js';

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** The error's code when it has one (ECONNREFUSED, ...): a connection failure's reason for the log line. */
  code?: string;
}

/** The error a child's backend throws when its broker or server cannot be reached (src/client/unavailable.ts). */
export const UNAVAILABLE_ERROR = 'BackendUnavailableError';

export type ShutdownMode = 'warm' | 'cold';

export type ParentMessage =
  /** First message to a child: who it is and what to run. */
  | { type: 'init'; index: number; config: WorkerConfig }
  | { type: 'shutdown'; mode: ShutdownMode; deadlineMs: number }
  | { type: 'inspect'; requestId: string; what: string; args?: Record<string, unknown> }
  /** From a pool extension to the child's backend (`topic` names the feature, e.g. celery.rate). */
  | { type: 'extension'; topic: string; data: unknown };

export type ChildMessage =
  | { type: 'ready'; backend: string; queues: string[]; concurrency: number }
  | {
      type: 'heartbeat';
      active: number;
      processed: number;
      failed: number;
      lastPollAt: number | null;
      rss: number;
      /** Cumulative task run times since the child started (optional; backends that measure them). */
      durations?: DurationHistogram;
      /** Backend-specific event counts since the child started (BackendStats.counts). */
      counts?: Record<string, number>;
    }
  /**
   * The child started running tasks (`active` > 0), sent BEFORE their code runs: a child that dies while running
   * tasks is charged to those tasks (their backend bounds the reruns), not to the pool's crash-loop guard. Sent only
   * when the supervisor last heard `active` 0; heartbeats carry the count otherwise.
   */
  | { type: 'busy'; active: number }
  /** Boot failure: the child could not start. retryable=false stops the restart loop. */
  | { type: 'fatal'; error: SerializedError; retryable: boolean }
  | { type: 'drained' }
  | { type: 'inspectReply'; requestId: string; data: unknown }
  /** From the child's backend to the pool extensions (the reducer ignores it). */
  | { type: 'extension'; topic: string; data: unknown };

export type HeartbeatMessage = Extract<ChildMessage, { type: 'heartbeat' }>;

// ---- Validation on receipt: a peer is another process, so its messages are data to check, not types to trust.

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => isNum(v) && v >= 0;
/** Named counts: at most 32 snake_case names, each a count (a label value on the supervisor's metrics page). */
const isCounts = (v: unknown): v is Record<string, number> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length <= 32 &&
  Object.entries(v).every(([k, n]) => /^[a-z][a-z0-9_]{0,63}$/.test(k) && isCount(n));

function bad(what: string, v: unknown): Error {
  let shown: string;
  try {
    shown = JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    shown = String(v);
  }
  return new TypeError(`invalid ${what}: ${shown}`);
}

export function parseSerializedError(v: unknown): SerializedError | undefined {
  if (!isObj(v) || typeof v.name !== 'string' || typeof v.message !== 'string') return undefined;
  const e: SerializedError = { name: v.name, message: v.message };
  if (typeof v.stack === 'string') e.stack = v.stack;
  if (typeof v.code === 'string') e.code = v.code;
  return e;
}

/** An Error (or anything thrown) as it crosses a process boundary. */
export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const out: SerializedError = { name: e.name, message: e.message };
  if (e.stack) out.stack = e.stack;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code;
  return out;
}

function parseExtension(v: Record<string, unknown>): { type: 'extension'; topic: string; data: unknown } | null {
  return typeof v.topic === 'string' && v.topic !== '' ? { type: 'extension', topic: v.topic, data: v.data } : null;
}

/** Validate a child → parent message; an Error describes what is wrong (the caller logs it and ignores the message). */
export function parseChildMessage(v: unknown): ChildMessage | Error {
  if (!isObj(v)) return bad('child message', v);
  switch (v.type) {
    case 'ready':
      if (typeof v.backend === 'string' && isStrArr(v.queues) && isCount(v.concurrency)) {
        return { type: 'ready', backend: v.backend, queues: v.queues, concurrency: v.concurrency };
      }
      return bad('ready message', v);
    case 'heartbeat': {
      if (
        isCount(v.active) &&
        isCount(v.processed) &&
        isCount(v.failed) &&
        (v.lastPollAt === null || isNum(v.lastPollAt)) &&
        isCount(v.rss)
      ) {
        const beat: HeartbeatMessage = {
          type: 'heartbeat',
          active: v.active,
          processed: v.processed,
          failed: v.failed,
          lastPollAt: v.lastPollAt,
          rss: v.rss,
        };
        // A malformed optional histogram is dropped; the heartbeat itself still counts.
        if (isHistogram(v.durations)) beat.durations = v.durations;
        if (isCounts(v.counts)) beat.counts = v.counts;
        return beat;
      }
      return bad('heartbeat message', v);
    }
    case 'busy':
      if (isCount(v.active)) return { type: 'busy', active: v.active };
      return bad('busy message', v);
    case 'fatal': {
      const error = parseSerializedError(v.error);
      if (error && typeof v.retryable === 'boolean') return { type: 'fatal', error, retryable: v.retryable };
      return bad('fatal message', v);
    }
    case 'drained':
      return { type: 'drained' };
    case 'inspectReply':
      if (typeof v.requestId === 'string') return { type: 'inspectReply', requestId: v.requestId, data: v.data };
      return bad('inspectReply message', v);
    case 'extension':
      return parseExtension(v) ?? bad('extension message', v);
    default:
      return bad('child message type', v.type);
  }
}

/** Validate a parent → child message. The config inside `init` is produced by compileConfig and only shape-checked. */
export function parseParentMessage(v: unknown): ParentMessage | Error {
  if (!isObj(v)) return bad('parent message', v);
  switch (v.type) {
    case 'init':
      if (isCount(v.index) && isObj(v.config) && typeof v.config.backend === 'string') {
        return { type: 'init', index: v.index, config: v.config as unknown as WorkerConfig };
      }
      return bad('init message', v);
    case 'shutdown':
      if ((v.mode === 'warm' || v.mode === 'cold') && isNum(v.deadlineMs)) {
        return { type: 'shutdown', mode: v.mode, deadlineMs: v.deadlineMs };
      }
      return bad('shutdown message', v);
    case 'inspect':
      if (typeof v.requestId === 'string' && typeof v.what === 'string' && (v.args === undefined || isObj(v.args))) {
        return v.args === undefined
          ? { type: 'inspect', requestId: v.requestId, what: v.what }
          : { type: 'inspect', requestId: v.requestId, what: v.what, args: v.args };
      }
      return bad('inspect message', v);
    case 'extension':
      return parseExtension(v) ?? bad('extension message', v);
    default:
      return bad('parent message type', v.type);
  }
}
