// The pool's state, inputs, effects and events: the vocabulary shared by the pure reducer (state.ts) and the driver
// (driver.ts) that performs the effects and tells listeners the events. All times are epoch ms taken from the input
// (`now`), never a clock.
import type { DurationHistogram } from '../ipc/histogram.js';
import type { ChildMessage, SerializedError, ShutdownMode } from '../ipc/messages.js';
import type { BackoffPolicy } from './backoff.js';

/**
 * Pool phases:
 * - starting: children are being forked; not every slot has reported `ready` yet
 * - running: every slot was ready once (the pool announced itself ready); crashes are replaced
 * - stopping-warm: children were asked to drain; nothing is respawned
 * - stopping-cold: children were asked to cancel work and exit; SIGKILL follows at the deadline
 * - exited: every child is gone; the exit effect was emitted
 */
export type PoolPhase = 'starting' | 'running' | 'stopping-warm' | 'stopping-cold' | 'exited';

/** The one "is the pool stopping" rule: nothing is respawned or resized in these phases. */
export function isStoppingPhase(phase: string): boolean {
  return phase === 'stopping-warm' || phase === 'stopping-cold' || phase === 'exited';
}

/**
 * Child phases (a child leaves the state when its process exits):
 * - starting: forked, waiting for `ready` (bounded by the ready timeout)
 * - ready: taking work, sending heartbeats (bounded by the heartbeat timeout)
 * - draining: sent a warm shutdown; finishing in-flight work until its deadline
 * - stopping: sent a cold shutdown; SIGKILL at its deadline
 * - killed: sent SIGKILL; waiting for the exit
 */
export type ChildPhase = 'starting' | 'ready' | 'draining' | 'stopping' | 'killed';

/** Why a healthy child is being replaced or removed (a planned exit, never a crash). */
export type RetireReason = 'max-tasks' | 'max-memory' | 'reload' | 'scale-down' | 'shutdown';

/** Why the supervisor killed a child itself. */
export type KillReason = 'ready-timeout' | 'heartbeat-timeout' | 'stop-timeout';

export type PoolSignal = 'TERM' | 'INT' | 'QUIT' | 'HUP' | 'TTIN' | 'TTOU' | 'USR2';
export const POOL_SIGNALS: readonly PoolSignal[] = ['TERM', 'INT', 'QUIT', 'HUP', 'TTIN', 'TTOU', 'USR2'];

export interface HeartbeatFields {
  active: number;
  processed: number;
  failed: number;
  lastPollAt: number | null;
  rss: number;
}

export interface ChildRecord {
  /** Unique for the supervisor's lifetime (a slot's replacement gets a new id). */
  id: number;
  /** Pool slot = the child's index (0..N-1), stable across restarts. */
  slot: number;
  pid: number | null;
  phase: ChildPhase;
  spawnedAt: number;
  readyAt: number | null;
  lastHeartbeatAt: number | null;
  heartbeat: HeartbeatFields | null;
  /** Tasks this child runs at once, from its `ready` message. */
  capacity: number;
  /** Since when the child reports no active task (autoscale shrink); null while busy. */
  idleSince: number | null;
  /**
   * Tasks it runs, as last heard (`busy` message or heartbeat). A ready child that dies with active > 0 is a lost
   * worker: its tasks explain the death (their backend bounds the reruns), so the crash-loop guard does not count it.
   */
  active: number;
  /** Set once the child is replaced; an outgoing `ready` child is drained when its successor is ready. */
  retireReason: RetireReason | null;
  killReason: KillReason | null;
  /** Deadline of the current phase: ready timeout, warm → cold, cold → SIGKILL. */
  deadline: number | null;
  fatal: { error: SerializedError; retryable: boolean } | null;
}

export interface Slot {
  index: number;
  /** The child this slot relies on (starting or ready); null while a restart is pending. */
  current: number | null;
  /** Consecutive restarts of this slot (the backoff exponent). */
  attempts: number;
  restartAt: number | null;
  /** Children forked for this slot so far (restarts = spawns - 1). */
  spawns: number;
  /** Why the slot's previous child went, for the `childReplaced` event of its successor; null before any exit. */
  restartReason: ExitReason | null;
}

export interface PoolOptions {
  concurrency: number;
  readyTimeoutMs: number;
  /** 0 disables the heartbeat check. */
  heartbeatTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** After a cold shutdown request, how long a child has before SIGKILL. */
  killGraceMs: number;
  maxTasksPerChild: number | null;
  maxMemoryBytes: number | null;
  autoscale: { max: number; min: number } | null;
  /** An autoscaled pool shrinks after a child was idle this long. */
  autoscaleKeepaliveMs: number;
  backoff: BackoffPolicy;
  /** Consecutive boot failures (any slot) before the pool gives up with EXIT.BOOT_FAILURE. */
  maxBootFailures: number;
  /** Crashes of ready children within windowMs before the pool gives up with EXIT.CRASH_LOOP. */
  /** max null = never give up on crashes of ready children. */
  crashLoop: { max: number | null; windowMs: number };
  /**
   * The most children the pool ever runs: TTIN, Celery's pool_grow and autoscale bounds stop here (twice the
   * configured size, so a broker client cannot fork the machine to death; see poolCeiling).
   */
  maxChildren: number;
}

export interface PoolState {
  readonly opts: PoolOptions;
  phase: PoolPhase;
  /** One entry per wanted child; its length is the target size. */
  slots: Slot[];
  children: ChildRecord[];
  nextId: number;
  /** PRNG seed for backoff jitter (keeps the reducer pure). */
  seed: number;
  bootFailures: number;
  crashTimes: number[];
  exitCode: number | null;
  /** Autoscale bounds; TTIN/TTOU move the target and widen these when needed. */
  autoscale: { max: number; min: number } | null;
  /** Rolling restart (HUP): slots still to replace, and the slot being replaced now. */
  rolling: { pending: number[]; active: number | null } | null;
  readyAnnounced: boolean;
}

/** One input to the reducer: a process event, a timer tick, a signal, a sample or a request through the handle. */
export type PoolInput =
  | { type: 'start'; now: number }
  | { type: 'childSpawned'; now: number; id: number; pid: number }
  | { type: 'childMessage'; now: number; id: number; msg: ChildMessage }
  | { type: 'childExit'; now: number; id: number; code: number | null; signal: string | null }
  | { type: 'tick'; now: number }
  | { type: 'signal'; now: number; signal: PoolSignal }
  | { type: 'memorySample'; now: number; id: number; rss: number }
  /** New autoscale bounds (Celery's `autoscale` control command); null keeps that bound. */
  | { type: 'autoscale'; now: number; max: number | null; min: number | null };

export type LogLevelName = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Lifecycle notices for readiness integrations (pm2 `ready`, systemd sd_notify, status socket). */
export type Lifecycle = 'ready' | 'reloading' | 'stopping';

export type Effect =
  | { type: 'spawn'; id: number; slot: number }
  | { type: 'shutdown'; id: number; mode: ShutdownMode; deadlineMs: number }
  | { type: 'kill'; id: number; signal: 'SIGKILL' }
  | { type: 'log'; level: LogLevelName; fields: Record<string, unknown>; msg: string }
  | { type: 'notify'; what: Lifecycle }
  | { type: 'dumpStatus' }
  | { type: 'exit'; code: number };

/** Why a child went: the supervisor's kill or retire reason, else boot-failure, shutdown or crash. */
export type ExitReason = KillReason | RetireReason | 'boot-failure' | 'shutdown' | 'crash';

/**
 * What the reducer tells the rest of the process, by name. The driver performs the effects of a reduction first,
 * then calls the listeners of these events (each one guarded: a listener that throws is logged, the pool goes on).
 */
export interface PoolEventMap {
  /** The pool phase changed: starting → running → stopping-warm / stopping-cold → exited. */
  phaseChanged: { from: PoolPhase; to: PoolPhase; reason: string | null };
  /** Every slot had a ready child for the first time (once per pool; extensions start here). */
  poolReady: { children: number };
  /** The target size changed (TTIN/TTOU, autoscale, pool_grow/pool_shrink). */
  poolResized: { from: number; to: number; why: string };
  childReady: { id: number; slot: number; pid: number | null; bootMs: number };
  /** A slot that had a child before got a new one; `reason` says why its predecessor went (or is going). */
  childReplaced: { id: number; slot: number; reason: ExitReason };
  childHeartbeat: {
    id: number;
    slot: number;
    active: number;
    processed: number;
    failed: number;
    durations: DurationHistogram | undefined;
    counts: Record<string, number> | undefined;
  };
  childExited: {
    id: number;
    slot: number;
    pid: number | null;
    code: number | null;
    signal: string | null;
    reason: ExitReason;
    /** How long it had been ready; null if it never was. */
    upMs: number | null;
    /** An operator's first guess at why (exit-code table, kill reason, signal); null for planned exits. */
    hint: string | null;
  };
  rollingRestartStarted: { children: number };
  rollingRestartDone: { children: number };
  /** The pool stops on its own (boot failures, crash loop) with this exit code. */
  gaveUp: { code: number; reason: string };
}

export type PoolEventName = keyof PoolEventMap;
/** One emitted event: its name in `type`, its fields alongside. */
export type PoolEvent = { [K in PoolEventName]: { type: K } & PoolEventMap[K] }[PoolEventName];

export interface Reduction {
  state: PoolState;
  effects: Effect[];
  events: PoolEvent[];
}
