// The Hatchet backend: one Hatchet worker per child, named <hostname>-<index>, with childConcurrency slots and one
// label per consumed queue. The SDK's own SIGTERM/SIGINT handlers are removed (the supervisor's IPC decides), a
// watchdog turns a lost engine connection into a crash (the supervisor restarts the child with backoff).
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import type { HatchetClient, Worker } from '@hatchet-dev/typescript-sdk/v1/index.js';
import { BootError, type BackendContext, type BackendStats, type WorkerBackend } from '../contract.js';
import { BackendUnavailableError } from '../../client/unavailable.js';
import { connectionCode, ConnectionReporter } from '../../log/connection.js';
import type { LogLevel } from '../../config/types.js';
import { emptyHistogram, observe } from '../../ipc/histogram.js';
import { clientSettings, HatchetConfigError } from './connection.js';
import { sendPythonStyleFailures } from './failures.js';
import { registryQueues, workerLabels } from './plan.js';
import { declarations, type RunHooks } from './tasks.js';
import { taskLines } from '../../tasks/task-log.js';

type Sdk = typeof import('@hatchet-dev/typescript-sdk/v1/index.js');

export interface HatchetBackendDeps {
  loadSdk: () => Promise<Sdk>;
  now: () => number;
  /** How often the watchdog asks the engine for its version (a cheap gRPC call on the dispatcher). */
  probeIntervalMs: number;
  /** No successful contact for this long → the connection is lost. */
  lostAfterMs: number;
  /** Called once when the connection is lost after start; default: ctx.fail (the child exits, the slot restarts). */
  onLost: ((err: Error) => void) | null;
  /** How long start() waits for the worker to register with the engine. */
  readyTimeoutMs: number;
}

/**
 * Phases:
 * - idle: constructed
 * - starting: connecting, registering workflows, waiting for the worker to be listed
 * - running: taking work
 * - draining: warm stop in progress (paused on the server, finishing in-flight runs)
 * - stopped: cold-stopped or drained; connections closed
 */
type Phase = 'idle' | 'starting' | 'running' | 'draining' | 'stopped';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** Bound on the cold stop's pause/unsubscribe calls: a cold stop must not wait on a dead server. */
const COLD_STOP_BOUND_MS = 2000;

const defaultDeps: HatchetBackendDeps = {
  loadSdk: async () => {
    const mod = (await import('@hatchet-dev/typescript-sdk/v1/index.js')) as Sdk & { default?: Sdk };
    return mod.default ?? mod;
  },
  now: () => Date.now(),
  probeIntervalMs: 2000,
  lostAfterMs: 15_000,
  onLost: null,
  readyTimeoutMs: 30_000,
};

function sdkLogLevel(level: LogLevel): 'OFF' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' {
  switch (level) {
    case 'trace':
    case 'debug':
      return 'DEBUG';
    case 'info':
      return 'INFO';
    case 'warn':
      return 'WARN';
    case 'error':
    case 'fatal':
      return 'ERROR';
    case 'silent':
      return 'OFF';
    default: {
      const never: never = level;
      return never;
    }
  }
}

/** Connection trouble in an SDK line: the backend's probe says it, once per attempt (src/log/connection.ts). */
const CONNECTION_TROUBLE = /\b(UNAVAILABLE|DEADLINE_EXCEEDED|E(?:CONNREFUSED|CONNRESET|TIMEDOUT|PIPE|NOTFOUND))\b/;

/**
 * SDK lines this worker says itself, in its own words: a run's failure and its stack (the task's own line,
 * tasks/task-log.ts), connection trouble (the probe's line per attempt) and the listener's reconnects.
 */
export function saidByUs(message: string, error?: Error): boolean {
  return (
    message.startsWith('Task run ') ||
    /\n\s+at /.test(message) ||
    message.startsWith('Connection established using') ||
    CONNECTION_TROUBLE.test(`${message} ${error?.message ?? ''}`)
  );
}

/** The SDK logs through this: its lines become our NDJSON; its chatty per-run info goes to debug. */
function sdkLogger(logger: Logger) {
  return (context: string) => {
    const l = logger.child({ sdk: context });
    const at = (level: 'warn' | 'error', message: string, error?: Error): void =>
      l[saidByUs(message, error) ? 'debug' : level]({ err: error?.message }, message);
    return {
      debug: (message: string) => l.debug(message),
      info: (message: string) => l.debug(message),
      green: (message: string) => (saidByUs(message) ? l.debug(message) : l.info(message)),
      warn: (message: string, error?: Error) => at('warn', message, error),
      error: (message: string, error?: Error) => at('error', message, error),
      util: (key: string, message: string) => l.debug({ key }, message),
    };
  };
}

/** Hatchet names must match ^[a-zA-Z0-9.\-_]+$: "<hostname>-<index>" with anything else (e.g. "@") as "_". */
export function workerName(hostname: string, index: number): string {
  return `${hostname.replace(/[^A-Za-z0-9._-]/g, '_')}-${index}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)).unref());
}

/** gRPC status of an SDK error, when it carries one. */
function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
const GRPC_UNAUTHENTICATED = 16;
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_PERMISSION_DENIED = 7;

export class HatchetBackend implements WorkerBackend {
  readonly name = 'hatchet';
  #phase: Phase = 'idle';
  #hatchet: HatchetClient | null = null;
  #worker: Worker | null = null;
  #logger: Logger | null = null;
  #fail: BackendContext['fail'] | null = null;
  #probe: NodeJS.Timeout | null = null;
  #lost = false;
  #hostPort = '';
  #report: ConnectionReporter | null = null;
  readonly #cold = new AbortController();
  readonly #stats = { active: 0, processed: 0, failed: 0, lastPollAt: null as number | null, slots: 0 };
  readonly #durations = emptyHistogram();
  #stopping: Promise<void> | null = null;

  constructor(private readonly deps: HatchetBackendDeps = defaultDeps) {}

  async start(ctx: BackendContext): Promise<void> {
    if (this.#phase !== 'idle') throw new Error(`hatchet backend: start() in phase ${this.#phase}`);
    this.#phase = 'starting';
    this.#fail = ctx.fail;
    const logger = (this.#logger = ctx.logger.child({ backend: 'hatchet' }));
    ctx.coldSignal.addEventListener('abort', () => this.#cold.abort(ctx.coldSignal.reason), { once: true });
    let settings;
    try {
      settings = clientSettings(ctx.config.hatchet, this.deps.now());
    } catch (e) {
      if (e instanceof HatchetConfigError) throw new BootError(e.message);
      throw e;
    }
    const sdk = await this.deps.loadSdk();
    const hatchet = (this.#hatchet = sdk.HatchetClient.init({
      ...settings,
      log_level: sdkLogLevel(ctx.config.logLevel),
      logger: sdkLogger(logger),
    }));
    const engineVersion = await this.#engineVersion(hatchet, settings.host_port);
    logger.info(
      { engineVersion, hostPort: settings.host_port, namespace: settings.namespace },
      'hatchet engine reached',
    );
    const slots = (this.#stats.slots = ctx.config.childConcurrency);
    const hooks: RunHooks = {
      logger,
      workerName: workerName(ctx.config.hostname || osHostname(), ctx.index),
      coldSignal: this.#cold.signal,
      deliveryLimit: ctx.config.deliveryLimit,
      onStart: () => {
        this.#stats.active++;
        ctx.busy(this.#stats.active);
        this.#stats.lastPollAt = this.deps.now();
      },
      onEnd: (ok, seconds) => {
        this.#stats.active--;
        this.#stats.processed++;
        if (!ok) this.#stats.failed++;
        observe(this.#durations, seconds);
      },
      nonRetryable: (message) => new sdk.NonRetryableError(message),
      lines: taskLines(logger, ctx.config.logTasks !== false),
    };
    const labels = workerLabels(
      ctx.config.queues,
      registryQueues([...ctx.registry.tasks(), ...ctx.registry.workflows()]),
    );
    const before = Object.fromEntries(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
    const worker = (this.#worker = await hatchet.worker(hooks.workerName, {
      slots,
      labels,
      handleKill: false,
      workflows: declarations(hatchet, ctx.registry, hooks),
    }));
    if (!sendPythonStyleFailures(worker)) logger.warn('SDK internals changed: failures keep the SDK JSON format');
    // The SDK adds SIGTERM/SIGINT listeners that start its own shutdown (and may process.exit): drop them.
    for (const s of SIGNALS) {
      for (const l of process.listeners(s)) if (!before[s]?.has(l)) process.removeListener(s, l);
    }
    const running = worker.start();
    running.then(
      () => this.#connectionLost(new Error('hatchet worker stopped listening')),
      (e: unknown) => this.#connectionLost(e instanceof Error ? e : new Error(String(e))),
    );
    try {
      await Promise.race([
        worker.waitUntilReady(this.deps.readyTimeoutMs),
        running.then(() => Promise.reject(new Error('hatchet worker ended before it was ready'))),
      ]);
    } catch (e) {
      // The engine refusing the registration itself (bad names, bad options) will refuse it again on retry.
      const message = e instanceof Error ? e.message : String(e);
      if (/INVALID_ARGUMENT/.test(message)) throw new BootError(`hatchet refused the worker registration: ${message}`);
      throw e;
    }
    if (this.#phase !== 'starting') return;
    this.#phase = 'running';
    this.#stats.lastPollAt = this.deps.now();
    this.#startProbe(logger, settings.host_port);
    logger.info({ worker: hooks.workerName, slots, queues: Object.keys(labels) }, 'hatchet worker ready');
  }

  /**
   * The engine's version; a bad token is a BootError (retrying will not fix it), anything else is retryable: an
   * engine that cannot be reached is ONE error naming its address and the code (the supervisor's retry line).
   */
  async #engineVersion(hatchet: HatchetClient, hostPort: string): Promise<string> {
    try {
      return await hatchet.dispatcher.getVersion();
    } catch (e) {
      const code = grpcCode(e);
      if (code === GRPC_UNAUTHENTICATED || code === GRPC_PERMISSION_DENIED) {
        throw new BootError('the Hatchet engine rejected HATCHET_CLIENT_TOKEN (unauthenticated)');
      }
      if (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) {
        throw new BackendUnavailableError('the Hatchet engine', hostPort, connectionCode(e), 1);
      }
      throw e;
    }
  }

  /** The watchdog: a probe of the engine every probeIntervalMs, its failures said like every connection's. */
  #startProbe(logger: Logger, hostPort: string): void {
    this.#hostPort = hostPort;
    this.#report = new ConnectionReporter(logger, { role: 'hatchet', url: hostPort });
    this.#report.up();
    this.#probe = setInterval(() => void this.#probeOnce(), this.deps.probeIntervalMs);
    this.#probe.unref();
  }

  /** One probe: an attempt of the engine connection, said like every connection's (one line per failure). */
  async #probeOnce(): Promise<void> {
    if (this.#phase !== 'running' || !this.#hatchet) return;
    try {
      await this.#hatchet.dispatcher.getVersion();
      this.#stats.lastPollAt = this.deps.now();
      this.#report?.up();
    } catch (e) {
      if (this.#phase !== 'running' || this.#lost) return;
      this.#report?.failed(e, this.deps.probeIntervalMs);
      const last = this.#stats.lastPollAt ?? 0;
      if (this.deps.now() - last >= this.deps.lostAfterMs) {
        const attempts = this.#report?.failures ?? 1;
        this.#connectionLost(new BackendUnavailableError('the Hatchet engine', this.#hostPort, connectionCode(e), attempts)); // prettier-ignore
      }
    }
  }

  #connectionLost(err: Error): void {
    if (this.#phase !== 'running' || this.#lost) return;
    this.#lost = true;
    if (this.#probe) clearInterval(this.#probe);
    this.#logger?.error({ err: err.message }, 'hatchet connection lost; exiting so the supervisor restarts this child');
    if (this.deps.onLost) this.deps.onLost(err);
    else this.#fail?.(err);
  }

  async drain(deadline: number): Promise<void> {
    if (this.#phase !== 'running') return;
    this.#phase = 'draining';
    if (this.#probe) clearInterval(this.#probe);
    const worker = this.#worker;
    if (!worker) return;
    this.#logger?.info({ active: this.#stats.active, deadline }, 'hatchet worker draining');
    // The SDK's stop path: pause the worker on the server, unsubscribe, wait for every running task.
    const stopped = worker.stop().then(
      () => 'drained' as const,
      (e: unknown) => {
        this.#logger?.warn({ err: String(e) }, 'hatchet worker stop failed');
        return 'drained' as const;
      },
    );
    const outcome = await Promise.race([stopped, sleep(deadline - this.deps.now()).then(() => 'deadline' as const)]);
    if (outcome === 'deadline') {
      this.#logger?.warn({ active: this.#stats.active }, 'drain deadline reached; abandoning running tasks');
      await this.stop();
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#coldStop();
    return this.#stopping;
  }

  async #coldStop(): Promise<void> {
    const wasDraining = this.#phase === 'draining';
    this.#phase = 'stopped';
    if (this.#probe) clearInterval(this.#probe);
    // Running tasks see the abort; their runs stay unreported, so the server reassigns them once we are gone.
    this.#cold.abort(new Error('cold stop'));
    const worker = this.#worker;
    if (worker && !wasDraining) {
      await Promise.race([worker.stop().catch(() => undefined), sleep(COLD_STOP_BOUND_MS)]);
    }
  }

  stats(): BackendStats {
    return { ...this.#stats, durations: this.#durations };
  }
}

export function createBackend(deps: Partial<HatchetBackendDeps> = {}): WorkerBackend {
  return new HatchetBackend({ ...defaultDeps, ...deps });
}
