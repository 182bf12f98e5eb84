// The pool reducer driven without processes, as the driver drives it: fake time, seeded random, every effect and
// event recorded. Shared by the reducer's unit tests (supervisor-state, supervisor-events).
import type { ChildMessage } from '../../src/ipc/messages.js';
import { DEFAULT_BACKOFF } from '../../src/supervisor/backoff.js';
import { initialState, nextWake, reduce } from '../../src/supervisor/state.js';
import type { Effect, PoolEvent, PoolInput, PoolOptions, PoolState } from '../../src/supervisor/types.js';

export const OPTS: PoolOptions = {
  concurrency: 2,
  readyTimeoutMs: 5000,
  heartbeatTimeoutMs: 3000,
  shutdownTimeoutMs: 10_000,
  killGraceMs: 2000,
  maxTasksPerChild: null,
  maxMemoryBytes: null,
  autoscale: null,
  autoscaleKeepaliveMs: 30_000,
  backoff: DEFAULT_BACKOFF,
  maxBootFailures: 3,
  crashLoop: { max: 4, windowMs: 60_000 },
  maxChildren: 8,
};

/** Freezes a state through and through: a reducer that writes to its input then throws (ESM is strict mode). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

/**
 * Drives the reducer like the driver does, with a fake clock; every effect is recorded. Every input state is
 * deep-frozen, so every test here also proves the reducer never mutates what it was given.
 */
export class Sim {
  s: PoolState;
  now = 1_000_000;
  fx: Effect[] = [];
  /** Every event the reductions emitted, in order. */
  events: PoolEvent[] = [];
  nextPid = 100;
  constructor(over: Partial<PoolOptions> = {}) {
    this.s = initialState({ ...OPTS, ...over }, 7);
  }
  ev(e: PoolInput): Effect[] {
    const r = reduce(deepFreeze(this.s), e);
    this.s = r.state;
    this.fx.push(...r.effects);
    this.events.push(...r.events);
    // Like the driver: every spawn is reported with a pid.
    for (const f of r.effects) {
      if (f.type === 'spawn') this.ev({ type: 'childSpawned', now: this.now, id: f.id, pid: this.nextPid++ });
    }
    return r.effects;
  }
  at(ms: number): this {
    this.now += ms;
    return this;
  }
  start(): number[] {
    return this.ev({ type: 'start', now: this.now }).flatMap((f) => (f.type === 'spawn' ? [f.id] : []));
  }
  msg(id: number, msg: ChildMessage): Effect[] {
    return this.ev({ type: 'childMessage', now: this.now, id, msg });
  }
  ready(id: number, concurrency = 1): Effect[] {
    return this.msg(id, { type: 'ready', backend: 'fake', queues: ['q'], concurrency });
  }
  beat(id: number, active = 0, processed = 0): Effect[] {
    return this.msg(id, { type: 'heartbeat', active, processed, failed: 0, lastPollAt: this.now, rss: 1 });
  }
  exit(id: number, code: number | null, signal: string | null = null): Effect[] {
    return this.ev({ type: 'childExit', now: this.now, id, code, signal });
  }
  tick(): Effect[] {
    return this.ev({ type: 'tick', now: this.now });
  }
  /** Advance to the next wake-up the reducer asked for and tick. */
  wake(): Effect[] {
    const at = nextWake(this.s);
    if (at === null) throw new Error('nothing to wake for');
    this.now = Math.max(this.now, at);
    return this.tick();
  }
  signal(sig: 'TERM' | 'INT' | 'QUIT' | 'HUP' | 'TTIN' | 'TTOU' | 'USR2'): Effect[] {
    return this.ev({ type: 'signal', now: this.now, signal: sig });
  }
  phase(id: number): string | undefined {
    return this.s.children.find((c) => c.id === id)?.phase;
  }
  current(slot: number): number | null {
    return this.s.slots[slot]?.current ?? null;
  }
  running(): number[] {
    const ids = this.start();
    for (const id of ids) this.ready(id);
    return ids;
  }
}

export const of = <T extends Effect['type']>(fx: Effect[], type: T): Extract<Effect, { type: T }>[] =>
  fx.filter((f): f is Extract<Effect, { type: T }> => f.type === type);
export const logged = (fx: Effect[], msg: string): boolean => of(fx, 'log').some((l) => l.msg === msg);
