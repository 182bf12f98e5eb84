// The driver performs the reducer's effects: forks children, sends IPC, kills, keeps ONE timer for the next
// deadline, samples memory, relays logs. Every input (process events, timers, signals) is queued and reduced in
// order; after a reduction's effects ran, the driver tells the listeners its events (each one guarded).
import type { ChildProcess, ForkOptions } from 'node:child_process';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import { type ChildMessage, type ParentMessage, parseChildMessage, serializeError } from '../ipc/messages.js';
import type { Unsubscribe } from './handle.js';
import { loggerSink, relayLines, type LineSink } from './log-relay.js';
import { nextWake, reduce } from './state.js';
import {
  type Effect,
  isStoppingPhase,
  type Lifecycle,
  type PoolEvent,
  type PoolEventMap,
  type PoolEventName,
  type PoolInput,
  type PoolState,
} from './types.js';

/** How long the exit waits for the children's pipes to drain. */
const RELAY_FLUSH_MS = 2000;
/** How long a child's exit waits for its IPC channel to deliver what the child sent before it died. */
const IPC_FLUSH_MS = 1000;

export type ForkFn = (modulePath: string, args: readonly string[], options: ForkOptions) => ChildProcess;
export type MemoryProbe = (pid: number) => Promise<number>;

export interface DriverSeams {
  fork: ForkFn;
  kill: (pid: number, signal: NodeJS.Signals) => void;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
  /** Current RSS of a process, bytes. */
  memory: MemoryProbe;
  memorySampleMs: number;
  onLifecycle: (what: Lifecycle) => void;
}

export interface DriverOptions extends DriverSeams {
  /** The config the first children get; setChildConfig() replaces it for later forks. */
  config: WorkerConfig;
  workerEntry: string;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  sink?: LineSink;
}

/** One child as the outside world sees it (status command, metrics, USR2 dump). */
export interface ChildSnapshot {
  index: number;
  gen: number;
  pid: number | null;
  state: string;
  startedAt: number;
  readyAt: number | null;
  restarts: number;
  lastHeartbeatAt: number | null;
  active: number | null;
  processed: number | null;
  failed: number | null;
  lastPollAt: number | null;
  rss: number | null;
  retiring: string | null;
}

export interface PoolSnapshot {
  phase: string;
  /** Stopping or exited: nothing is respawned any more. */
  stopping: boolean;
  target: number;
  /** The most children the pool may grow to (TTIN, pool_grow, autoscale). */
  ceiling: number;
  /** Autoscale bounds now; null when the pool runs without --autoscale. */
  autoscale: { max: number; min: number } | null;
  children: ChildSnapshot[];
}

export function snapshotOf(s: PoolState): PoolSnapshot {
  return {
    phase: s.phase,
    stopping: isStoppingPhase(s.phase),
    target: s.slots.length,
    ceiling: s.opts.maxChildren,
    autoscale: s.autoscale === null ? null : { ...s.autoscale },
    children: s.children.map((c) => {
      const slot = s.slots.find((sl) => sl.index === c.slot);
      return {
        index: c.slot,
        gen: c.id,
        pid: c.pid,
        state: c.phase,
        startedAt: c.spawnedAt,
        readyAt: c.readyAt,
        restarts: Math.max(0, (slot?.spawns ?? 1) - 1),
        lastHeartbeatAt: c.lastHeartbeatAt,
        active: c.heartbeat?.active ?? null,
        processed: c.heartbeat?.processed ?? null,
        failed: c.heartbeat?.failed ?? null,
        lastPollAt: c.heartbeat?.lastPollAt ?? null,
        rss: c.heartbeat?.rss ?? null,
        retiring: c.retireReason,
      };
    }),
  };
}

type Listener = (event: never) => void;

export class Driver {
  #state: PoolState;
  #childConfig: WorkerConfig;
  readonly #listeners = new Map<PoolEventName, Set<Listener>>();
  readonly #childListeners = new Set<(gen: number, msg: ChildMessage) => void>();
  readonly #queue: PoolInput[] = [];
  #busy = false;
  #timer: unknown = null;
  #timerAt: number | null = null;
  #sampler: NodeJS.Timeout | null = null;
  #sampling = false;
  readonly #procs = new Map<number, ChildProcess>();
  readonly #relays = new Set<Promise<void>>();
  readonly #sink: LineSink;
  readonly #exited: Promise<number>;
  #resolveExit!: (code: number) => void;

  constructor(
    initial: PoolState,
    private readonly o: DriverOptions,
  ) {
    this.#state = initial;
    this.#childConfig = o.config;
    this.#sink = o.sink ?? loggerSink(o.logger);
    this.#exited = new Promise((r) => (this.#resolveExit = r));
  }

  get state(): PoolState {
    return this.#state;
  }

  /** Resolves with the exit code once every child is gone and their output is relayed. */
  get exited(): Promise<number> {
    return this.#exited;
  }

  childConfig(): WorkerConfig {
    return this.#childConfig;
  }

  /** The config every LATER fork gets; the driver owns it (never a shared object mutated elsewhere). */
  setChildConfig(update: (current: WorkerConfig) => WorkerConfig): void {
    this.#childConfig = update(this.#childConfig);
  }

  on<K extends PoolEventName>(name: K, listener: (event: PoolEventMap[K]) => void): Unsubscribe {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    const l = listener as Listener;
    set.add(l);
    return () => void set.delete(l);
  }

  onChildMessage(listener: (gen: number, msg: ChildMessage) => void): Unsubscribe {
    this.#childListeners.add(listener);
    return () => void this.#childListeners.delete(listener);
  }

  /** Send a message to one child by id (remote control, extensions); false if not connected. */
  send(id: number, msg: ParentMessage): boolean {
    const cp = this.#procs.get(id);
    if (!cp?.connected) return false;
    cp.send(msg, (err) => {
      if (err) this.o.logger.debug({ gen: id, err: serializeError(err) }, 'message to child not delivered');
    });
    return true;
  }

  start(): void {
    if (this.#state.opts.maxMemoryBytes !== null) {
      this.#sampler = setInterval(() => void this.#sampleMemory(), this.o.memorySampleMs);
    }
    this.dispatch({ type: 'start', now: this.o.now() });
  }

  /** Queue an input; inputs raised while effects or listeners run are reduced after this one (never re-entrantly). */
  dispatch(input: PoolInput): void {
    this.#queue.push(input);
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let e = this.#queue.shift(); e !== undefined; e = this.#queue.shift()) {
        const { state, effects, events } = reduce(this.#state, e);
        this.#state = state;
        // Effects first: the state already records them as done, whatever a listener does next.
        for (const fx of effects) this.#perform(fx);
        for (const ev of events) this.#emit(ev);
        if (e.type === 'childMessage')
          for (const l of this.#childListeners) this.#guard('childMessage', l, e.id, e.msg);
      }
    } finally {
      this.#busy = false;
    }
    this.#schedule();
  }

  #emit(ev: PoolEvent): void {
    const set = this.#listeners.get(ev.type);
    if (set) for (const l of set) this.#guard(ev.type, l as (e: PoolEvent) => void, ev);
  }

  /** A listener that throws is logged; the pool goes on (it must never skip the next effect or listener). */
  #guard<A extends unknown[]>(event: string, fn: (...a: A) => void, ...args: A): void {
    try {
      fn(...args);
    } catch (e) {
      this.o.logger.error({ event, err: serializeError(e) }, 'pool event listener failed');
    }
  }

  #perform(fx: Effect): void {
    switch (fx.type) {
      case 'spawn':
        this.#spawn(fx.id, fx.slot);
        return;
      case 'shutdown': {
        const cp = this.#procs.get(fx.id);
        if (cp?.connected)
          cp.send({ type: 'shutdown', mode: fx.mode, deadlineMs: fx.deadlineMs }, (err) => {
            if (err) this.o.logger.debug({ gen: fx.id, err: serializeError(err) }, 'shutdown message not delivered');
          });
        return;
      }
      case 'kill': {
        const pid = this.#procs.get(fx.id)?.pid;
        if (pid === undefined) return;
        try {
          this.o.kill(pid, fx.signal);
        } catch (e) {
          this.o.logger.debug({ pid, err: serializeError(e) }, 'kill failed');
        }
        return;
      }
      case 'log':
        this.o.logger[fx.level](fx.fields, fx.msg);
        return;
      case 'notify':
        this.#notify(fx.what);
        return;
      case 'dumpStatus':
        this.o.logger.info({ status: snapshotOf(this.#state) }, 'pool status');
        return;
      case 'exit':
        void this.#finish(fx.code);
        return;
      default: {
        const never: never = fx;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  #notify(what: Lifecycle): void {
    // pm2 (wait_ready) listens for the string 'ready' on the IPC channel of the process it started.
    if (what === 'ready' && typeof process.send === 'function' && process.connected) process.send('ready');
    try {
      this.o.onLifecycle(what);
    } catch (e) {
      this.o.logger.error({ err: serializeError(e), what }, 'lifecycle hook failed');
    }
  }

  #spawn(id: number, slot: number): void {
    let cp: ChildProcess;
    try {
      cp = this.o.fork(this.o.workerEntry, [], {
        serialization: 'json',
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: this.o.env,
        execArgv: this.o.execArgv,
      });
    } catch (e) {
      this.o.logger.error({ child: slot, err: serializeError(e) }, 'fork failed');
      queueMicrotask(() => this.dispatch({ type: 'childExit', now: this.o.now(), id, code: null, signal: null }));
      return;
    }
    this.#procs.set(id, cp);
    const fields = { child: slot, pid: cp.pid ?? null, backend: this.#childConfig.backend };
    for (const [name, stream] of [
      ['stdout', cp.stdout],
      ['stderr', cp.stderr],
    ] as const) {
      if (!stream) continue;
      const p = relayLines(stream, { fields, stream: name, sink: this.#sink });
      this.#relays.add(p);
      void p.then(() => this.#relays.delete(p));
    }
    cp.on('message', (raw) => {
      const msg = parseChildMessage(raw);
      if (msg instanceof Error) {
        this.o.logger.warn({ ...fields, err: serializeError(msg) }, 'invalid message from child ignored');
        return;
      }
      this.dispatch({ type: 'childMessage', now: this.o.now(), id, msg });
    });
    cp.on('error', (err) => this.o.logger.warn({ ...fields, err: serializeError(err) }, 'child process error'));
    cp.once('exit', (code, signal) => {
      const reduce = (): void => {
        this.#procs.delete(id);
        this.dispatch({ type: 'childExit', now: this.o.now(), id, code, signal });
      };
      // 'exit' may come before the last IPC messages are read (a `busy` sent just before a task killed the
      // child decides whether the death was a lost worker): they are all emitted before 'disconnect'.
      if (!cp.connected) return reduce();
      let done = false;
      const once = (): void => {
        if (done) return;
        done = true;
        clearTimeout(bound);
        reduce();
      };
      const bound = setTimeout(once, IPC_FLUSH_MS);
      cp.once('disconnect', once);
    });
    if (cp.pid !== undefined) this.dispatch({ type: 'childSpawned', now: this.o.now(), id, pid: cp.pid });
    cp.send({ type: 'init', index: slot, config: this.#childConfig }, (err) => {
      if (err) this.o.logger.debug({ ...fields, err: serializeError(err) }, 'init message not delivered');
    });
  }

  #schedule(): void {
    if (this.#state.phase === 'exited') return;
    const at = nextWake(this.#state);
    if (at === this.#timerAt) return;
    // A timer already due no later than the new wake stays: its tick re-plans. Every heartbeat moves the heartbeat
    // deadline later, and re-arming a timer per heartbeat was measurable idle CPU.
    if (this.#timer !== null && this.#timerAt !== null && (at === null || this.#timerAt <= at)) return;
    if (this.#timer !== null) this.o.clearTimer(this.#timer);
    this.#timer = null;
    this.#timerAt = at;
    if (at === null) return;
    this.#timer = this.o.setTimer(
      () => {
        this.#timer = null;
        this.#timerAt = null;
        this.dispatch({ type: 'tick', now: this.o.now() });
      },
      Math.max(0, at - this.o.now()),
    );
  }

  async #sampleMemory(): Promise<void> {
    if (this.#sampling) return; // a slow probe must not pile up
    this.#sampling = true;
    try {
      const live = this.#state.children.filter((c) => c.pid !== null && c.phase === 'ready');
      const rss = await Promise.allSettled(live.map((c) => this.o.memory(c.pid as number)));
      rss.forEach((r, i) => {
        const c = live[i];
        if (c && r.status === 'fulfilled')
          this.dispatch({ type: 'memorySample', now: this.o.now(), id: c.id, rss: r.value });
      });
    } finally {
      this.#sampling = false;
    }
  }

  async #finish(code: number): Promise<void> {
    if (this.#timer !== null) this.o.clearTimer(this.#timer);
    if (this.#sampler) clearInterval(this.#sampler);
    // Children are gone; their last lines may still be in the pipes (bounded: a grandchild may hold a pipe open).
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.#relays]), new Promise((r) => (bound = setTimeout(r, RELAY_FLUSH_MS)))]);
    clearTimeout(bound);
    this.#resolveExit(code);
  }
}
