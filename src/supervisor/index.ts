// Public entry of the supervisor: runSupervisor(config) forks the pool and resolves with the process exit code.
// startSupervisor() returns a handle (snapshot, signal injection) for the status command, metrics and tests.
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { type ChildMessage, serializeError } from '../ipc/messages.js';
import { pm2InjectedKeys } from '../ops/pm2-env.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { Driver, type DriverSeams, type PoolSnapshot, snapshotOf } from './driver.js';
import { availableMemory, childHeapMiB, withHeapLimit } from './heap.js';
import type { LineSink } from './log-relay.js';
import { initialState } from './state.js';
import { POOL_SIGNALS, type PoolOptions, type PoolSignal } from './types.js';

export type { PoolSnapshot, ChildSnapshot } from './driver.js';
export type { Lifecycle, PoolOptions, PoolSignal } from './types.js';

/** Where process signals come from: `process` by default; tests pass an EventEmitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, handler: () => void): unknown;
  off(signal: NodeJS.Signals, handler: () => void): unknown;
}

export interface SupervisorDeps extends DriverSeams {
  /** Compiled child entry; default dist/workers/<backend>.js of this package (or env TBW_WORKER_ENTRY, tests only). */
  workerEntry: string;
  /** Node flags of every child; `--max-old-space-size` is added from config.childMaxHeapMiB unless present here. */
  execArgv: string[];
  /** Bytes of memory the children share (auto heap limit); default: the cgroup limit or total RAM. */
  memoryBytes: number;
  /** Environment of the supervisor; children get a sanitised copy (see childEnv). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Where relayed child lines go; default: the logger's destination. */
  sink: LineSink | undefined;
  signals: SignalSource;
  /** Seed of the backoff jitter. */
  random: () => number;
  /** Pool policy overrides (backoff, kill grace, boot-failure and crash-loop limits...). */
  pool: Partial<PoolOptions>;
  /** Run the Celery remote-control node when backend=celery (default true; process tests with fake children turn it off). */
  celeryControl: boolean;
}

export interface SupervisorHandle {
  /** Resolves with the exit code for the process. */
  readonly done: Promise<number>;
  snapshot(): PoolSnapshot;
  /** Same effect as receiving the signal. */
  signal(sig: PoolSignal): void;
}

/** Variables that belong to the supervisor's own manager (pm2, systemd) and must not leak into children. */
const STRIPPED_ENV = [
  /^NOTIFY_SOCKET$/,
  /^WATCHDOG_(USEC|PID)$/,
  /^LISTEN_(FDS|PID|FDNAMES)$/,
  /^PM2_/i,
  /^pm_/,
  /^NODE_APP_INSTANCE$/,
  /^name$/,
  /^NODE_CHANNEL_/,
  /^TBW_WORKER_ENTRY$/,
];

export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  // Under pm2 the environment also carries pm2's app options (status, autorestart, the app name...).
  const pm2 = pm2InjectedKeys(env);
  for (const [k, v] of Object.entries(env)) if (!STRIPPED_ENV.some((re) => re.test(k)) && !pm2.has(k)) out[k] = v;
  return out;
}

/** The package root: the nearest directory above this module holding package.json (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

export function defaultWorkerEntry(backend: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.TBW_WORKER_ENTRY || join(packageRoot(), 'dist', 'workers', `${backend}.js`);
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
    ...overrides,
  };
}

function defaults(config: WorkerConfig, deps: Partial<SupervisorDeps>): SupervisorDeps {
  const env = deps.env ?? process.env;
  return {
    workerEntry: defaultWorkerEntry(config.backend, env),
    execArgv: [],
    memoryBytes: availableMemory(totalmem(), process.constrainedMemory?.()),
    env,
    logger: pino({ level: config.logLevel }),
    sink: undefined,
    signals: process,
    random: Math.random,
    pool: {},
    celeryControl: true,
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

export function startSupervisor(config: WorkerConfig, partial: Partial<SupervisorDeps> = {}): SupervisorHandle {
  const deps = defaults(config, partial);
  const log = deps.logger;
  if (!existsSync(deps.workerEntry)) {
    log.fatal({ backend: config.backend, entry: deps.workerEntry }, 'backend has no worker entry');
    const snapshot: PoolSnapshot = { phase: 'exited', target: 0, children: [] };
    return { done: Promise.resolve(EXIT.CONFIG), snapshot: () => snapshot, signal: () => undefined };
  }
  const opts = poolOptions(config, deps.pool);
  const heapMiB = childHeapMiB(config, deps.memoryBytes);
  // Celery remote control (issue 5) observes child messages; the ops observer (deps.onEvent) still sees every event.
  const childListeners: ((gen: number, msg: ChildMessage) => void)[] = [];
  const controlAbort = new AbortController();
  let control: Promise<{ close(): Promise<void> } | null> | null = null;
  const wantControl = deps.celeryControl && config.backend === 'celery';
  const driver: Driver = new Driver(initialState(opts, Math.floor(deps.random() * 2 ** 31)), {
    ...deps,
    onLifecycle: (what) => {
      // Like Celery's own worker, the remote-control node starts once the pool is ready: loading and connecting
      // ioredis while the children boot would take CPU from them (start → ready is the figure that matters).
      if (what === 'ready' && wantControl && control === null) {
        control = startCeleryControl(config, driver, dispatchSignal, childListeners, log, controlAbort.signal);
      }
      deps.onLifecycle(what);
    },
    onEvent: (e, before, after) => {
      deps.onEvent?.(e, before, after);
      if (e.type === 'childMessage') for (const l of childListeners) l(e.id, e.msg);
    },
    config,
    execArgv: withHeapLimit(deps.execArgv, heapMiB),
    env: childEnv(deps.env),
    sink: deps.sink,
  });
  const dispatchSignal = (sig: PoolSignal): void => driver.dispatch({ type: 'signal', now: deps.now(), signal: sig });
  // Signal handlers only enqueue an event (STYLE.md §1).
  const handlers = POOL_SIGNALS.map((sig) => [SIGNAL_NAMES[sig], () => dispatchSignal(sig)] as const);
  for (const [name, h] of handlers) deps.signals.on(name, h);
  log.info(
    { backend: config.backend, entry: deps.workerEntry, pid: process.pid, childMaxHeapMiB: heapMiB },
    'supervisor starting',
  );
  driver.start();
  const done = driver.exited.then(async (code) => {
    for (const [name, h] of handlers) deps.signals.off(name, h);
    if (control !== null) {
      // Bounded: a node still connecting (broker down) is abandoned; a running one says worker-offline first.
      let bound: NodeJS.Timeout | undefined;
      const closed = control.then((c) => c?.close()).catch(() => undefined);
      await Promise.race([closed, new Promise((r) => (bound = setTimeout(r, 2000)))]);
      clearTimeout(bound);
      controlAbort.abort();
    }
    log.info({ exitCode: code }, 'supervisor exiting');
    return code;
  });
  return { done, snapshot: () => snapshotOf(driver.state), signal: dispatchSignal };
}

/**
 * Celery remote control (issue 5): the supervisor is the Celery node (celery@host) that answers `celery inspect`
 * and `celery control` for its children and sends worker events. Imported lazily: other backends never load it.
 * A node that cannot start is logged and the pool runs without remote control.
 */
async function startCeleryControl(
  config: WorkerConfig,
  driver: Driver,
  signal: (sig: PoolSignal) => void,
  listeners: ((gen: number, msg: ChildMessage) => void)[],
  log: Logger,
  abort: AbortSignal,
): Promise<{ close(): Promise<void> } | null> {
  try {
    const { startControlNode } = await import('../backends/celery/control/index.js');
    return await startControlNode(
      config,
      {
        snapshot: () => {
          const s = snapshotOf(driver.state);
          return {
            target: s.target,
            children: s.children.map((c) => ({
              index: c.index,
              gen: c.gen,
              pid: c.pid,
              state: c.state,
              active: c.active,
              processed: c.processed,
            })),
          };
        },
        signal,
        send: (gen, msg) => driver.send(gen, msg),
        onChildMessage: (l) => void listeners.push(l),
        // Children forked from now on read the new queue list (the driver passes this config object to each child).
        setQueues: (queues) => {
          config.queues = queues;
          signal('HUP');
        },
      },
      log,
      { signal: abort },
    );
  } catch (e) {
    if (abort.aborted) return null;
    log.error({ err: serializeError(e) }, 'celery remote control unavailable');
    return null;
  }
}

export function runSupervisor(config: WorkerConfig, deps: Partial<SupervisorDeps> = {}): Promise<number> {
  return startSupervisor(config, deps).done;
}
