// Building blocks of the pool reducer (state.ts): each one mutates a private copy of the state and records the
// effects to perform. Nothing here does IO or reads a clock; `now` comes from the event being reduced.
import { EXIT } from '../exit-codes.js';
import type { ShutdownMode } from '../ipc/messages.js';
import { backoffDelay, mulberry32, nextAttempt } from './backoff.js';
import {
  type ChildPhase,
  type ChildRecord,
  type Effect,
  type ExitReason,
  isStoppingPhase,
  type KillReason,
  type LogLevelName,
  type PoolEvent,
  type PoolPhase,
  type PoolState,
  type RetireReason,
  type Slot,
} from './types.js';

/** The reduction in progress: a private copy of the state, the input time, the effects and events so far. */
export interface Cx {
  s: PoolState;
  now: number;
  fx: Effect[];
  ev: PoolEvent[];
}

const ALLOWED: Record<ChildPhase, readonly ChildPhase[]> = {
  starting: ['ready', 'draining', 'stopping', 'killed'],
  ready: ['draining', 'stopping', 'killed'],
  draining: ['stopping', 'killed'],
  stopping: ['killed'],
  killed: [],
};

export function log(cx: Cx, level: LogLevelName, msg: string, fields: Record<string, unknown> = {}): void {
  cx.fx.push({ type: 'log', level, fields, msg });
}

export function emit(cx: Cx, event: PoolEvent): void {
  cx.ev.push(event);
}

/** Change the pool phase: one log line and one `phaseChanged` event. */
export function setPhase(cx: Cx, to: PoolPhase, reason: string | null, fields: Record<string, unknown> = {}): void {
  const from = cx.s.phase;
  cx.s.phase = to;
  log(cx, 'info', 'pool state changed', { from, to, ...(reason === null ? {} : { reason }), ...fields });
  emit(cx, { type: 'phaseChanged', from, to, reason });
}

export function childFields(c: ChildRecord): Record<string, unknown> {
  return { child: c.slot, pid: c.pid, gen: c.id };
}

/** Move a child to another phase; an illegal move is a bug in the reducer, so it throws. */
export function transition(cx: Cx, c: ChildRecord, to: ChildPhase): void {
  if (!ALLOWED[c.phase].includes(to)) {
    throw new Error(`illegal child transition ${c.phase} -> ${to} (child ${c.slot}, gen ${c.id})`);
  }
  log(cx, 'debug', 'child state changed', { ...childFields(c), from: c.phase, to });
  c.phase = to;
}

export function findChild(s: PoolState, id: number): ChildRecord | undefined {
  return s.children.find((c) => c.id === id);
}

export function isStopping(s: PoolState): boolean {
  return isStoppingPhase(s.phase);
}

export function random(s: PoolState): number {
  const r = mulberry32(s.seed);
  s.seed = r.seed;
  return r.value;
}

/**
 * Fork a new child for `slot`; it becomes the slot's current child. A slot that had a child before reports the
 * replacement, with why its predecessor went (`reason`, else the reason its last exit recorded).
 */
export function spawnChild(cx: Cx, slot: Slot, reason: ExitReason | null = null): ChildRecord {
  const s = cx.s;
  const c: ChildRecord = {
    id: s.nextId++,
    slot: slot.index,
    pid: null,
    phase: 'starting',
    spawnedAt: cx.now,
    readyAt: null,
    lastHeartbeatAt: null,
    heartbeat: null,
    capacity: 0,
    idleSince: null,
    active: 0,
    retireReason: null,
    killReason: null,
    deadline: cx.now + s.opts.readyTimeoutMs,
    fatal: null,
  };
  s.children.push(c);
  slot.current = c.id;
  slot.restartAt = null;
  slot.spawns += 1;
  cx.fx.push({ type: 'spawn', id: c.id, slot: slot.index });
  if (slot.spawns > 1) {
    emit(cx, { type: 'childReplaced', id: c.id, slot: slot.index, reason: reason ?? slot.restartReason ?? 'crash' });
  }
  return c;
}

export function sendShutdown(cx: Cx, c: ChildRecord, mode: ShutdownMode): void {
  const grace = mode === 'warm' ? cx.s.opts.shutdownTimeoutMs : cx.s.opts.killGraceMs;
  c.deadline = cx.now + grace;
  transition(cx, c, mode === 'warm' ? 'draining' : 'stopping');
  cx.fx.push({ type: 'shutdown', id: c.id, mode, deadlineMs: c.deadline });
}

export function killChild(cx: Cx, c: ChildRecord, reason: KillReason): void {
  c.killReason = reason;
  c.deadline = null;
  transition(cx, c, 'killed');
  cx.fx.push({ type: 'kill', id: c.id, signal: 'SIGKILL' });
}

/**
 * Take a healthy child out of service. With a replacement, a `ready` child keeps serving until the
 * replacement is ready (reload), or drains at once (limits); without one (scale-down) it drains at once.
 */
export function retire(cx: Cx, c: ChildRecord, reason: RetireReason, replace: boolean): void {
  if (c.retireReason !== null) return;
  c.retireReason = reason;
  log(cx, 'info', 'child retiring', { ...childFields(c), reason, replace });
  const slot = cx.s.slots.find((sl) => sl.index === c.slot && sl.current === c.id);
  if (slot && replace) spawnChild(cx, slot, reason);
  else if (slot) slot.current = null;
  const waitForSuccessor = reason === 'reload' && replace && c.phase === 'ready';
  if (!waitForSuccessor && (c.phase === 'starting' || c.phase === 'ready')) sendShutdown(cx, c, 'warm');
}

/** Called when a slot's current child became ready: outgoing children of that slot may now drain. */
export function drainOutgoing(cx: Cx, slotIndex: number): void {
  for (const c of cx.s.children) {
    if (c.slot === slotIndex && c.retireReason !== null && c.phase === 'ready') sendShutdown(cx, c, 'warm');
  }
}

/**
 * Schedule the restart of a slot whose child died unexpectedly. `upMs` = how long it had been ready (null: never).
 * The policy's immediate restarts apply to children that were ready (a worker that died, replaced at once like
 * Celery and gunicorn do); a child that never booted waits from the first retry, since an instant retry of a boot
 * that just failed (broker down, bad code) mostly fails again. `healthy`: the child had served tasks (or died running them), which is
 * evidence the slot can work, so its backoff starts over (the first restart is immediate) — a child killed from
 * outside every second is replaced at once each time, not after a backoff grown to 30 s.
 */
export function scheduleRestart(
  cx: Cx,
  slot: Slot,
  upMs: number | null,
  cause: string,
  reason: ExitReason,
  healthy = false,
): { attempt: number; delayMs: number } {
  const policy = upMs === null ? { ...cx.s.opts.backoff, immediate: 0 } : cx.s.opts.backoff;
  if (healthy) slot.attempts = 0;
  const attempt = nextAttempt(policy, slot.attempts, upMs);
  const delayMs = backoffDelay(policy, attempt, random(cx.s));
  slot.attempts = attempt + 1;
  slot.current = null;
  slot.restartAt = cx.now + delayMs;
  slot.restartReason = reason;
  // An unreachable backend's retry is said in ONE line by the caller (with this delay): this one at debug.
  const level = cause === 'retryable-boot' ? 'debug' : 'info';
  log(cx, level, 'child restart scheduled', { child: slot.index, attempt: attempt + 1, delayMs, cause });
  return { attempt: attempt + 1, delayMs };
}

/** Stop the whole pool. Idempotent: a second warm request escalates to cold; cold stays cold. */
export function stopPool(cx: Cx, mode: ShutdownMode, code: number, reason: string): void {
  const s = cx.s;
  if (s.phase === 'exited' || s.phase === 'stopping-cold') return;
  if (s.phase === 'stopping-warm' && mode === 'warm') mode = 'cold';
  if (s.exitCode === null) s.exitCode = code;
  const from = s.phase;
  setPhase(cx, mode === 'warm' ? 'stopping-warm' : 'stopping-cold', reason, { exitCode: s.exitCode });
  s.rolling = null;
  for (const slot of s.slots) slot.restartAt = null;
  if (from === 'starting' || from === 'running') cx.fx.push({ type: 'notify', what: 'stopping' });
  for (const c of s.children) {
    if (c.retireReason === null) c.retireReason = 'shutdown';
    if (mode === 'warm' && (c.phase === 'starting' || c.phase === 'ready')) sendShutdown(cx, c, 'warm');
    if (mode === 'cold' && c.phase !== 'stopping' && c.phase !== 'killed') sendShutdown(cx, c, 'cold');
  }
  finishIfEmpty(cx);
}

/** Give up: one fatal line with the reason, then a warm stop of what is left. */
export function giveUp(cx: Cx, code: number, reason: string): void {
  log(cx, 'fatal', 'pool giving up', { reason, exitCode: code });
  emit(cx, { type: 'gaveUp', code, reason });
  stopPool(cx, 'warm', code, reason);
}

export function finishIfEmpty(cx: Cx): void {
  const s = cx.s;
  if ((s.phase === 'stopping-warm' || s.phase === 'stopping-cold') && s.children.length === 0) {
    const code = s.exitCode ?? EXIT.FAILURE;
    setPhase(cx, 'exited', null, { exitCode: code });
    cx.fx.push({ type: 'exit', code });
  }
}

/** Announce readiness once, when every slot's current child is ready. */
export function checkPoolReady(cx: Cx): void {
  const s = cx.s;
  if (s.phase !== 'starting') return;
  const allReady = s.slots.every((sl) => {
    const c = sl.current === null ? undefined : findChild(s, sl.current);
    return c?.phase === 'ready';
  });
  if (!allReady) return;
  setPhase(cx, 'running', null, { children: s.slots.length });
  if (!s.readyAnnounced) {
    s.readyAnnounced = true;
    cx.fx.push({ type: 'notify', what: 'ready' });
    emit(cx, { type: 'poolReady', children: s.slots.length });
  }
}

/** Grow the pool by one slot (TTIN, autoscale). */
export function addSlot(cx: Cx, why: string): void {
  const slot: Slot = {
    index: cx.s.slots.length,
    current: null,
    attempts: 0,
    restartAt: null,
    spawns: 0,
    restartReason: null,
  };
  cx.s.slots.push(slot);
  log(cx, 'info', 'pool resized', { children: cx.s.slots.length, why });
  emit(cx, { type: 'poolResized', from: cx.s.slots.length - 1, to: cx.s.slots.length, why });
  spawnChild(cx, slot);
}

/** Shrink the pool by one slot (TTOU, autoscale): the highest slot's child drains and is not replaced. */
export function removeSlot(cx: Cx, why: string): boolean {
  if (cx.s.slots.length <= 1) return false;
  const slot = cx.s.slots.pop() as Slot;
  log(cx, 'info', 'pool resized', { children: cx.s.slots.length, why });
  emit(cx, { type: 'poolResized', from: cx.s.slots.length + 1, to: cx.s.slots.length, why });
  const c = slot.current === null ? undefined : findChild(cx.s, slot.current);
  if (c) retire(cx, c, 'scale-down', false);
  if (cx.s.rolling) cx.s.rolling.pending = cx.s.rolling.pending.filter((i) => i < cx.s.slots.length);
  return true;
}
