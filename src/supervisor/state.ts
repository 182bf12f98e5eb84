// The pool as a pure reducer: (state, event) → {state, effects}. The driver (driver.ts) feeds it events from
// processes, timers and signals and performs the effects; this file never touches a process, clock or timer.
import { EXIT } from '../exit-codes.js';
import { type ChildMessage, UNAVAILABLE_ERROR } from '../ipc/messages.js';
import {
  addSlot,
  checkPoolReady,
  childFields,
  type Cx,
  drainOutgoing,
  emit,
  findChild,
  isStopping,
  killChild,
  log,
  removeSlot,
  retire,
  sendShutdown,
  spawnChild,
  stopPool,
  transition,
} from './pool-ops.js';
import { onExit } from './exits.js';
import { advanceRolling, autoscaleOnHeartbeat, autoscaleOnTick, startRolling, updateAutoscale } from './scaling.js';
import type { ChildRecord, PoolInput, PoolOptions, PoolSignal, PoolState, Reduction } from './types.js';

export function initialState(opts: PoolOptions, seed: number): PoolState {
  const size = opts.autoscale ? opts.autoscale.min : opts.concurrency;
  return {
    opts,
    phase: 'starting',
    slots: Array.from({ length: Math.max(1, size) }, (_, index) => ({
      index,
      current: null,
      attempts: 0,
      restartAt: null,
      spawns: 0,
      restartReason: null,
    })),
    children: [],
    nextId: 1,
    seed: seed | 0,
    bootFailures: 0,
    crashTimes: [],
    exitCode: null,
    autoscale: opts.autoscale ? { ...opts.autoscale } : null,
    rolling: null,
    readyAnnounced: false,
  };
}

/**
 * A copy the reducer may mutate, leaving `prev` (held by the driver's observers) untouched. Hand-written rather
 * than structuredClone: the pool reduces a heartbeat per child per second, and structuredClone (a V8 serialise +
 * deserialise of the whole state, options included) was most of the supervisor's idle CPU. `opts` is never
 * mutated and is shared; `fatal` and `heartbeat` are replaced whole, never edited in place, but copied anyway.
 */
export function copyState(s: PoolState): PoolState {
  return {
    ...s,
    slots: s.slots.map((sl) => ({ ...sl })),
    children: s.children.map((c) => ({
      ...c,
      heartbeat: c.heartbeat === null ? null : { ...c.heartbeat },
      fatal: c.fatal === null ? null : { ...c.fatal },
    })),
    crashTimes: [...s.crashTimes],
    autoscale: s.autoscale === null ? null : { ...s.autoscale },
    rolling: s.rolling === null ? null : { pending: [...s.rolling.pending], active: s.rolling.active },
  };
}

export function reduce(prev: PoolState, event: PoolInput): Reduction {
  if (prev.phase === 'exited') return { state: prev, effects: [], events: [] };
  const cx: Cx = { s: copyState(prev), now: event.now, fx: [], ev: [] };
  switch (event.type) {
    case 'start':
      onStart(cx);
      break;
    case 'childSpawned': {
      const c = findChild(cx.s, event.id);
      if (c) {
        c.pid = event.pid;
        log(cx, 'debug', 'child spawned', childFields(c));
      }
      break;
    }
    case 'childMessage':
      onMessage(cx, event.id, event.msg);
      break;
    case 'childExit':
      onExit(cx, event.id, event.code, event.signal);
      break;
    case 'tick':
      onTick(cx);
      break;
    case 'signal':
      onSignal(cx, event.signal);
      break;
    case 'memorySample':
      onMemory(cx, event.id, event.rss);
      break;
    case 'autoscale':
      updateAutoscale(cx, event.max, event.min);
      break;
    default: {
      const never: never = event;
      throw new Error(`unknown pool input ${JSON.stringify(never)}`);
    }
  }
  return { state: cx.s, effects: cx.fx, events: cx.ev };
}

/** The earliest time the reducer needs a `tick` (a deadline, a restart, a heartbeat check), or null. */
export function nextWake(s: PoolState): number | null {
  let at = Infinity;
  const hb = s.opts.heartbeatTimeoutMs;
  for (const c of s.children) {
    if (c.deadline !== null) at = Math.min(at, c.deadline);
    if (c.phase === 'ready' && hb > 0) at = Math.min(at, (c.lastHeartbeatAt ?? c.readyAt ?? c.spawnedAt) + hb);
    if (s.autoscale && c.phase === 'ready' && c.idleSince !== null && s.slots.length > s.autoscale.min) {
      at = Math.min(at, c.idleSince + s.opts.autoscaleKeepaliveMs);
    }
  }
  for (const sl of s.slots) if (sl.restartAt !== null) at = Math.min(at, sl.restartAt);
  return Number.isFinite(at) ? at : null;
}

function onStart(cx: Cx): void {
  if (cx.s.children.length > 0) {
    log(cx, 'warn', 'pool already started');
    return;
  }
  log(cx, 'info', 'pool starting', { children: cx.s.slots.length });
  for (const slot of cx.s.slots) spawnChild(cx, slot);
}

/** A retryable boot failure because the broker/server cannot be reached (not a bug in the child). */
const isUnreachable = (msg: { error: { name: string }; retryable: boolean }): boolean =>
  msg.retryable && msg.error.name === UNAVAILABLE_ERROR;

function onMessage(cx: Cx, id: number, msg: ChildMessage): void {
  const c = findChild(cx.s, id);
  if (!c) {
    log(cx, 'debug', 'message from unknown child ignored', { gen: id, type: msg.type });
    return;
  }
  switch (msg.type) {
    case 'ready':
      if (c.phase !== 'starting') {
        log(cx, 'warn', 'unexpected child message ignored', { ...childFields(c), type: msg.type, phase: c.phase });
        return;
      }
      transition(cx, c, 'ready');
      c.readyAt = cx.now;
      c.lastHeartbeatAt = cx.now;
      c.deadline = null;
      c.capacity = msg.concurrency;
      c.idleSince = cx.now;
      cx.s.bootFailures = 0;
      log(cx, 'info', 'child ready', {
        ...childFields(c),
        backend: msg.backend,
        queues: msg.queues,
        concurrency: msg.concurrency,
        bootMs: cx.now - c.spawnedAt,
      });
      emit(cx, { type: 'childReady', id: c.id, slot: c.slot, pid: c.pid, bootMs: cx.now - c.spawnedAt });
      if (c.retireReason === null) {
        drainOutgoing(cx, c.slot);
        checkPoolReady(cx);
        advanceRolling(cx);
      }
      return;
    case 'busy':
      c.active = msg.active;
      c.idleSince = null;
      return;
    case 'heartbeat': {
      c.lastHeartbeatAt = cx.now;
      c.active = msg.active;
      c.heartbeat = {
        active: msg.active,
        processed: msg.processed,
        failed: msg.failed,
        lastPollAt: msg.lastPollAt,
        rss: msg.rss,
      };
      c.idleSince = msg.active > 0 ? null : (c.idleSince ?? cx.now);
      const { active, processed, failed, durations, counts } = msg;
      emit(cx, { type: 'childHeartbeat', id: c.id, slot: c.slot, active, processed, failed, durations, counts });
      onHeartbeatLimits(cx, c);
      autoscaleOnHeartbeat(cx);
      return;
    }
    case 'fatal':
      c.fatal = { error: msg.error, retryable: msg.retryable };
      // An unreachable broker/server is said once, by the restart's line (exits.ts); anything else is an error.
      log(cx, isUnreachable(msg) ? 'debug' : 'error', c.readyAt === null ? 'child boot failed' : 'child fatal error', {
        ...childFields(c),
        err: msg.error,
        retryable: msg.retryable,
      });
      return;
    case 'drained':
      log(cx, 'info', 'child drained', childFields(c));
      return;
    case 'inspectReply':
    case 'extension':
      return; // for the pool's extensions (the driver hands them every child message), not the pool
    default: {
      const never: never = msg;
      throw new Error(`unknown child message ${JSON.stringify(never)}`);
    }
  }
}

function onHeartbeatLimits(cx: Cx, c: ChildRecord): void {
  const max = cx.s.opts.maxTasksPerChild;
  if (max === null || isStopping(cx.s) || c.phase !== 'ready' || c.retireReason !== null) return;
  if ((c.heartbeat?.processed ?? 0) >= max) retire(cx, c, 'max-tasks', true);
}

function onMemory(cx: Cx, id: number, rss: number): void {
  const c = findChild(cx.s, id);
  const limit = cx.s.opts.maxMemoryBytes;
  if (!c || limit === null || isStopping(cx.s) || c.phase !== 'ready' || c.retireReason !== null) return;
  if (rss > limit) {
    log(cx, 'warn', 'child over memory limit', { ...childFields(c), rss, limit });
    retire(cx, c, 'max-memory', true);
  }
}

function onTick(cx: Cx): void {
  const s = cx.s;
  const now = cx.now;
  const hb = s.opts.heartbeatTimeoutMs;
  for (const c of [...s.children]) {
    if (c.deadline !== null && c.deadline <= now) {
      switch (c.phase) {
        case 'starting':
          log(cx, 'error', 'child not ready in time, killing', {
            ...childFields(c),
            readyTimeoutMs: s.opts.readyTimeoutMs,
          });
          killChild(cx, c, 'ready-timeout');
          break;
        case 'draining':
          log(cx, 'warn', 'child did not drain in time, stopping cold', childFields(c));
          sendShutdown(cx, c, 'cold');
          break;
        case 'stopping':
          log(cx, 'error', 'child did not stop in time, killing', childFields(c));
          killChild(cx, c, 'stop-timeout');
          break;
        case 'ready':
        case 'killed':
          c.deadline = null;
          break;
        default: {
          const never: never = c.phase;
          throw new Error(`unknown child phase ${String(never)}`);
        }
      }
    } else if (c.phase === 'ready' && hb > 0 && (c.lastHeartbeatAt ?? now) + hb <= now) {
      log(cx, 'error', 'child heartbeat timeout, killing', {
        ...childFields(c),
        heartbeatTimeoutMs: hb,
        lastHeartbeatAt: c.lastHeartbeatAt,
      });
      killChild(cx, c, 'heartbeat-timeout');
    }
  }
  if (!isStopping(s)) {
    for (const slot of s.slots) {
      if (slot.restartAt !== null && slot.restartAt <= now) spawnChild(cx, slot);
    }
    autoscaleOnTick(cx);
  }
}

function onSignal(cx: Cx, signal: PoolSignal): void {
  const s = cx.s;
  log(cx, 'info', 'signal received', { signal, phase: s.phase });
  switch (signal) {
    case 'TERM':
    case 'INT':
      stopWith(cx, s.phase === 'stopping-warm' ? 'cold' : 'warm', `SIG${signal}`);
      return;
    case 'QUIT':
      stopWith(cx, 'cold', 'SIGQUIT');
      return;
    case 'HUP':
      if (isStopping(s)) break;
      cx.fx.push({ type: 'notify', what: 'reloading' });
      startRolling(cx);
      return;
    case 'TTIN':
      if (isStopping(s)) break;
      if (s.slots.length >= s.opts.maxChildren) {
        log(cx, 'warn', 'pool at its ceiling, not growing', { children: s.slots.length, ceiling: s.opts.maxChildren });
        return;
      }
      if (s.autoscale) s.autoscale.max = Math.max(s.autoscale.max, s.slots.length + 1);
      addSlot(cx, 'SIGTTIN');
      return;
    case 'TTOU':
      if (isStopping(s)) break;
      if (s.slots.length <= 1) {
        log(cx, 'warn', 'pool already at one child');
        return;
      }
      if (s.autoscale) s.autoscale.min = Math.min(s.autoscale.min, s.slots.length - 1);
      removeSlot(cx, 'SIGTTOU');
      checkPoolReady(cx);
      return;
    case 'USR2':
      cx.fx.push({ type: 'dumpStatus' });
      return;
    default: {
      const never: never = signal;
      throw new Error(`unknown signal ${String(never)}`);
    }
  }
  log(cx, 'info', 'signal ignored while stopping', { signal });
}

function stopWith(cx: Cx, mode: 'warm' | 'cold', reason: string): void {
  if (cx.s.phase === 'stopping-cold') {
    log(cx, 'info', 'already stopping cold', { reason });
    return;
  }
  // A stop requested by a signal is a clean exit, whatever was needed to get there.
  stopPool(cx, mode, EXIT.OK, reason);
}
