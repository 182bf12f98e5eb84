// Public entry of the supervisor: startSupervisor(config, deps) forks the pool, runs its extensions and returns the
// PoolHandle plus `done` (the exit code); runSupervisor(config, deps) only waits for the exit code. It knows no
// backend, no ops surface and no task: those arrive as parameters (worker entry, extensions, environment).
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { pino, type Logger } from 'pino';
import { childExecArgv } from '../config/node-flags.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { serializeError } from '../ipc/messages.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { Driver, type DriverSeams, type PoolSnapshot, snapshotOf } from './driver.js';
import { EXTENSION_CLOSE_MS, type PoolExtension, type PoolHandle } from './handle.js';
import { availableMemory, childHeapMiB, withHeapLimit } from './heap.js';
import type { LineSink } from './log-relay.js';
import { initialState } from './state.js';
import { POOL_SIGNALS, type PoolOptions, type PoolSignal } from './types.js';

export type { PoolSnapshot, ChildSnapshot } from './driver.js';
export type { PoolExtension, PoolHandle, Unsubscribe } from './handle.js';
export type { Lifecycle, PoolEvent, PoolEventMap, PoolEventName, PoolOptions, PoolSignal } from './types.js';

/** Where process signals come from: `process` by default; tests pass an EventEmitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, handler: () => void): unknown;
  off(signal: NodeJS.Signals, handler: () => void): unknown;
}

export interface SupervisorDeps extends DriverSeams {
  /** The compiled child entry to fork (the CLI takes it from the backend registry). */
  workerEntry: string;
  /**
   * Node flags of every child, after config.childNodeFlags; `--max-old-space-size` is added from
   * config.childMaxHeapMiB unless present in either.
   */
  execArgv: string[];
  /** Bytes of memory the children share (auto heap limit); default: the cgroup limit or total RAM. */
  memoryBytes: number;
  /** The children's environment, as given (the ops layer strips the service manager's variables first). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Where relayed child lines go; default: the logger's destination. */
  sink: LineSink | undefined;
  signals: SignalSource;
  /** Seed of the backoff jitter. */
  random: () => number;
  /** Pool policy overrides (backoff, kill grace, boot-failure and crash-loop limits...). */
  pool: Partial<PoolOptions>;
  /** Parts run beside the pool: attached before the first fork, started when it is ready, closed at exit. */
  extensions: readonly PoolExtension[];
}

export interface SupervisorHandle extends PoolHandle {
  /** Resolves with the exit code for the process. */
  readonly done: Promise<number>;
}

/**
 * The pool's ceiling: twice its configured size (--autoscale max, else -c). The auto child heap limit gives each
 * child half the memory divided by that size, so even at the ceiling the children cannot together promise V8 more
 * memory than the machine has.
 */
export function poolCeiling(config: Pick<WorkerConfig, 'autoscale' | 'concurrency'>): number {
  return 2 * Math.max(1, config.autoscale?.max ?? config.concurrency);
}

export function poolOptions(config: WorkerConfig, overrides: Partial<PoolOptions> = {}): PoolOptions {
  return {
    concurrency: config.concurrency,
    readyTimeoutMs: config.readyTimeoutMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    killGraceMs: 5000,
    maxTasksPerChild: config.maxTasksPerChild,
    maxMemoryBytes: config.maxMemoryPerChildKiB === null ? null : config.maxMemoryPerChildKiB * 1024,
    autoscale: config.autoscale,
    autoscaleKeepaliveMs: 30_000,
    backoff: DEFAULT_BACKOFF,
    maxBootFailures: 5,
    crashLoop: {
      max: config.crashLoopMax === undefined ? 10 : config.crashLoopMax,
      windowMs: config.crashLoopWindowMs ?? 60_000,
    },
    maxChildren: poolCeiling(config),
    ...overrides,
  };
}

type Given = Partial<SupervisorDeps> & Pick<SupervisorDeps, 'workerEntry'>;

function defaults(config: WorkerConfig, deps: Given): SupervisorDeps {
  return {
    execArgv: [],
    memoryBytes: availableMemory(totalmem(), process.constrainedMemory?.()),
    env: process.env,
    logger: pino({ level: config.logLevel }),
    sink: undefined,
    signals: process,
    random: Math.random,
    pool: {},
    extensions: [],
    fork,
    kill: (pid, sig) => process.kill(pid, sig),
    now: Date.now,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
    // pidusage (~3 MB of RSS) is loaded on the first sample: only --max-memory-per-child samples.
    memory: async (pid) => (await (await import('pidusage')).default(pid)).memory,
    memorySampleMs: 1000,
    onLifecycle: () => undefined,
    ...deps,
  };
}

const SIGNAL_NAMES: Record<PoolSignal, NodeJS.Signals> = {
  TERM: 'SIGTERM',
  INT: 'SIGINT',
  QUIT: 'SIGQUIT',
  HUP: 'SIGHUP',
  TTIN: 'SIGTTIN',
  TTOU: 'SIGTTOU',
  USR2: 'SIGUSR2',
};

/** The handle of a pool that never started (no worker entry): every read is empty, every request a no-op. */
function deadHandle(config: WorkerConfig, log: Logger, done: Promise<number>): SupervisorHandle {
  const snapshot: PoolSnapshot = {
    phase: 'exited',
    stopping: true,
    target: 0,
    ceiling: 0,
    autoscale: null,
    children: [],
  };
  return {
    done,
    logger: log,
    snapshot: () => snapshot,
    signal: () => undefined,
    setAutoscale: () => undefined,
    send: () => false,
    onChildMessage: () => () => undefined,
    on: () => () => undefined,
    childConfig: () => config,
    setChildConfig: () => undefined,
  };
}

export function startSupervisor(config: WorkerConfig, given: Given): SupervisorHandle {
  const deps = defaults(config, given);
  const log = deps.logger;
  if (!existsSync(deps.workerEntry)) {
    log.fatal({ backend: config.backend, entry: deps.workerEntry }, 'backend has no worker entry');
    return deadHandle(config, log, Promise.resolve(EXIT.CONFIG));
  }
  const opts = poolOptions(config, deps.pool);
  const heapMiB = childHeapMiB(config, deps.memoryBytes);
  const driver: Driver = new Driver(initialState(opts, Math.floor(deps.random() * 2 ** 31)), {
    ...deps,
    config,
    execArgv: withHeapLimit(childExecArgv(config.childNodeFlags, deps.execArgv), heapMiB),
    env: deps.env,
    sink: deps.sink,
  });
  const dispatchSignal = (sig: PoolSignal): void => driver.dispatch({ type: 'signal', now: deps.now(), signal: sig });
  const handle: PoolHandle = {
    logger: log,
    snapshot: () => snapshotOf(driver.state),
    signal: dispatchSignal,
    setAutoscale: (max, min) => driver.dispatch({ type: 'autoscale', now: deps.now(), max, min }),
    send: (gen, msg) => driver.send(gen, msg),
    onChildMessage: (l) => driver.onChildMessage(l),
    on: (name, l) => driver.on(name, l),
    childConfig: () => driver.childConfig(),
    setChildConfig: (update) => driver.setChildConfig(update),
  };
  const extensions = runExtensions(deps.extensions, handle, log);
  // Signal handlers only enqueue an input; the driver reduces it in order with everything else.
  const handlers = POOL_SIGNALS.map((sig) => [SIGNAL_NAMES[sig], () => dispatchSignal(sig)] as const);
  for (const [name, h] of handlers) deps.signals.on(name, h);
  log.info(
    { backend: config.backend, entry: deps.workerEntry, pid: process.pid, childMaxHeapMiB: heapMiB },
    'supervisor starting',
  );
  driver.start();
  const done = driver.exited.then(async (code) => {
    for (const [name, h] of handlers) deps.signals.off(name, h);
    await extensions.close();
    log.info({ exitCode: code }, 'supervisor exiting');
    return code;
  });
  return { ...handle, done };
}

/** Attach every extension now, start them when the pool is first ready, close them (bounded) at exit. */
function runExtensions(list: readonly PoolExtension[], pool: PoolHandle, log: Logger): { close(): Promise<void> } {
  const abort = new AbortController();
  const started: Promise<void>[] = [];
  const failed = (ext: PoolExtension, what: string) => (e: unknown) => {
    if (!abort.signal.aborted)
      log.error({ extension: ext.name, err: serializeError(e) }, `pool extension ${what} failed`);
  };
  for (const ext of list) {
    try {
      ext.attach?.(pool);
    } catch (e) {
      failed(ext, 'attach')(e);
    }
  }
  pool.on('poolReady', () => {
    for (const ext of list) {
      if (ext.start)
        started.push(
          Promise.resolve()
            .then(() => ext.start?.(abort.signal))
            .catch(failed(ext, 'start')),
        );
    }
  });
  return {
    async close(): Promise<void> {
      if (list.length === 0) return;
      // Bounded: an extension still connecting (broker down) is abandoned; a running one says goodbye first.
      let bound: NodeJS.Timeout | undefined;
      const closing = list.map((ext) =>
        Promise.resolve()
          .then(() => ext.close?.())
          .catch(failed(ext, 'close')),
      );
      const all = Promise.all([...started, ...closing]);
      await Promise.race([all, new Promise((r) => (bound = setTimeout(r, EXTENSION_CLOSE_MS)))]);
      clearTimeout(bound);
      abort.abort();
    },
  };
}

export function runSupervisor(config: WorkerConfig, deps: Given): Promise<number> {
  return startSupervisor(config, deps).done;
}
