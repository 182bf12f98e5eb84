// The runtime every child process runs (workers/<backend>.ts is a few lines that call runChild): it obeys only
// the supervisor's IPC, boots one backend, reports ready and heartbeats, and performs warm/cold shutdown.
import type { Logger } from 'pino';
import { BootError, type BackendContext, type WorkerBackend } from '../backends/contract.js';
import { createChildLogger } from '../log/logger.js';
import type { WorkerConfig } from '../config/types.js';
import { CHILD_EXIT } from '../exit-codes.js';
import {
  type ChildMessage,
  type HeartbeatMessage,
  type ParentMessage,
  parseParentMessage,
  serializeError,
  type ShutdownMode,
  UNAVAILABLE_ERROR,
} from '../ipc/messages.js';
import type { Registry } from '../tasks/registry.js';

export interface ChildDeps {
  /** Builds the registry; default: src/tasks/loader.ts `loadRegistry(config)` (imported lazily). */
  loadRegistry: (config: WorkerConfig) => Promise<Registry>;
  /** The child's logger: NDJSON on stdout, which the supervisor relays with {child, pid, backend}. */
  createLogger: (config: WorkerConfig, index: number) => Logger;
  /** How often to check that the supervisor is still our parent (fallback when 'disconnect' is missed). */
  parentCheckMs: number;
}

/**
 * Runtime phases:
 * - waiting: forked, waiting for `init`
 * - booting: loading tasks, backend.start() running
 * - ready: taking work, heartbeating
 * - draining: warm shutdown, finishing in-flight work
 * - stopping: cold shutdown (or shutdown during boot), then exit
 */
type Phase = 'waiting' | 'booting' | 'ready' | 'draining' | 'stopping';

/** Signals the process group receives (Ctrl-C, pm2, systemd KillMode=control-group): the supervisor decides. */
const GROUP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'];
/**
 * How long a child whose supervisor vanished may spend giving work back before it exits anyway. Kept well under the
 * 1 s "no orphans" bound: on a loaded box noticing the loss and exiting take a few hundred ms of their own, and
 * whatever is not given back is restored from the broker's held set by the next pool.
 */
const ORPHAN_STOP_MS = 300;

const defaultDeps: ChildDeps = {
  loadRegistry: async (config) => {
    const { loadRegistry } = await import('../tasks/loader.js');
    return loadRegistry({ taskModules: config.taskModules, builtins: config.builtins });
  },
  // Same redaction as the supervisor's logger, so a task logging a URL or token never prints the secret.
  createLogger: (config) => createChildLogger({ level: config.logLevel }),
  parentCheckMs: 250,
};

export function runChild(load: () => Promise<WorkerBackend>, deps: Partial<ChildDeps> = {}): void {
  for (const sig of GROUP_SIGNALS) process.on(sig, () => undefined);
  if (typeof process.send !== 'function') {
    process.stderr.write('this is a task-backend-worker child; start it through the supervisor\n');
    process.exitCode = 1;
    return;
  }
  new ChildRuntime(load, { ...defaultDeps, ...deps }).install();
}

class ChildRuntime {
  #phase: Phase = 'waiting';
  #logger: Logger | null = null;
  #backend: WorkerBackend | null = null;
  #boot: Promise<void> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #exiting = false;
  /** The backend module, loading since install(): it needs no config, so it loads while `init` is on its way. */
  #backendLoad: Promise<WorkerBackend> | null = null;
  readonly #cold = new AbortController();
  /** The running-task count the supervisor last heard (a `busy` message or a heartbeat). */
  #reportedActive = 0;

  constructor(
    private readonly load: () => Promise<WorkerBackend>,
    private readonly deps: ChildDeps,
  ) {}

  install(): void {
    this.#backendLoad = this.load();
    this.#backendLoad.catch(() => undefined); // reported by #start as a boot failure, never as an unhandled rejection
    process.on('message', (raw) => this.#onMessage(raw));
    process.on('disconnect', () => this.#orphaned('ipc channel closed'));
    const ppid = process.ppid;
    setInterval(() => {
      if (process.ppid !== ppid) this.#orphaned('parent process changed');
    }, this.deps.parentCheckMs).unref();
    process.on('uncaughtException', (err) => this.#crash(err, 'uncaught exception'));
    process.on('unhandledRejection', (err) => this.#crash(err, 'unhandled rejection'));
  }

  #onMessage(raw: unknown): void {
    const msg = parseParentMessage(raw);
    if (msg instanceof Error) {
      this.#log('warn', { err: serializeError(msg) }, 'invalid message from supervisor ignored');
      return;
    }
    this.#handle(msg);
  }

  #handle(msg: ParentMessage): void {
    switch (msg.type) {
      case 'init':
        if (this.#phase !== 'waiting') {
          this.#log('warn', { phase: this.#phase }, 'duplicate init ignored');
          return;
        }
        this.#phase = 'booting';
        this.#boot = this.#start(msg.index, msg.config);
        return;
      case 'shutdown':
        void this.#shutdown(msg.mode, msg.deadlineMs);
        return;
      case 'inspect':
        // Remote control (celery inspect/control) asks the backend; plain stats otherwise. An answer may take a
        // moment (add_consumer subscribes first); a failure answers {error}.
        void Promise.resolve()
          .then(() => this.#inspect(msg.what, msg.args ?? {}))
          .catch((e: unknown) => ({ error: (e as Error).message }))
          .then((data) => this.#send({ type: 'inspectReply', requestId: msg.requestId, data }));
        return;
      case 'extension':
        try {
          this.#backend?.onPoolMessage?.(msg.topic, msg.data);
        } catch (e) {
          this.#log('warn', { topic: msg.topic, err: serializeError(e) }, 'pool message not handled');
        }
        return;
      default: {
        const never: never = msg;
        this.#log('warn', { msg: never }, 'unknown message from supervisor ignored');
      }
    }
  }

  async #start(index: number, config: WorkerConfig): Promise<void> {
    const logger = (this.#logger = this.deps.createLogger(config, index));
    let registry: Registry;
    let backend: WorkerBackend;
    try {
      // Task modules and the backend module load side by side (file reads overlap; neither needs the other).
      [registry, backend] = await Promise.all([this.deps.loadRegistry(config), this.#backendLoad ?? this.load()]);
      this.#backend = backend;
    } catch (e) {
      // Task modules or the backend module cannot load: retrying the same code will not help.
      return this.#bootFailed(e, false);
    }
    if (this.#phase !== 'booting') return;
    const ctx: BackendContext = {
      index,
      config,
      registry,
      logger,
      coldSignal: this.#cold.signal,
      // A backend whose worker dies after start: exit with its code so the supervisor replaces this child.
      fail: (err, opts) => this.#crash(err, 'backend failed', opts?.exitCode ?? CHILD_EXIT.CRASH),
      toPool: (topic, data) => void this.#send({ type: 'extension', topic, data }),
      busy: (active) => this.#busy(active),
    };
    try {
      await backend.start(ctx);
    } catch (e) {
      if (this.#phase !== 'booting') return; // a shutdown during boot owns the exit now
      return this.#bootFailed(e, !(e instanceof BootError));
    }
    if (this.#phase !== 'booting') return;
    this.#phase = 'ready';
    const stats = this.#stats();
    await this.#send({
      type: 'ready',
      backend: backend.name,
      queues: backend.queues?.() ?? config.queues ?? [],
      concurrency: stats?.slots ?? config.childConcurrency,
    });
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(10, config.heartbeatIntervalMs));
  }

  async #bootFailed(e: unknown, retryable: boolean): Promise<void> {
    const error = serializeError(e);
    // An unreachable broker/server: the supervisor says it in one line per restart; the details at debug.
    const unreachable = retryable && error.name === UNAVAILABLE_ERROR;
    this.#log(unreachable ? 'debug' : 'error', { err: error, retryable }, 'backend failed to start');
    await this.#send({ type: 'fatal', error, retryable });
    await this.#exit(retryable ? CHILD_EXIT.RETRYABLE_BOOT : CHILD_EXIT.BOOT_ERROR);
  }

  #stats(): ReturnType<WorkerBackend['stats']> | null {
    try {
      return this.#backend?.stats() ?? null;
    } catch (e) {
      this.#log('warn', { err: serializeError(e) }, 'backend stats failed');
      return null;
    }
  }

  #inspect(what: string, args: Record<string, unknown>): unknown {
    if (what === 'stats' || !this.#backend?.control) return this.#stats();
    try {
      return this.#backend.control(what, args);
    } catch (e) {
      return { error: serializeError(e).message };
    }
  }

  /**
   * Idle → busy goes out at once, before the task's code runs (libuv writes an IPC message to the socket
   * synchronously when nothing is queued, so it is in the kernel even if the task kills this process next); the
   * heartbeat reports every other change. Under load that is one message per busy period, not one per task.
   */
  #busy(active: number): void {
    if (active <= 0 || this.#reportedActive > 0) return;
    this.#reportedActive = active;
    void this.#send({ type: 'busy', active });
  }

  #beat(): void {
    const s = this.#stats();
    if (s === null) return; // no heartbeat without stats: the supervisor's timeout will notice a broken backend
    this.#reportedActive = s.active;
    const beat: HeartbeatMessage = {
      type: 'heartbeat',
      active: s.active,
      processed: s.processed,
      failed: s.failed,
      lastPollAt: s.lastPollAt,
      rss: process.memoryUsage.rss(),
    };
    if (s.durations) beat.durations = s.durations;
    if (s.counts) beat.counts = s.counts;
    void this.#send(beat);
  }

  async #shutdown(mode: ShutdownMode, deadlineMs: number): Promise<void> {
    this.#log('info', { mode, phase: this.#phase, deadlineMs }, 'shutdown requested');
    if (mode === 'warm' && this.#phase === 'ready') {
      this.#phase = 'draining';
      try {
        await this.#backend?.drain(deadlineMs);
        await this.#send({ type: 'drained' });
        if (this.#phase === 'draining') await this.#backend?.stop();
      } catch (e) {
        this.#log('error', { err: serializeError(e) }, 'drain failed');
      }
      if (this.#phase === 'draining') await this.#exit(CHILD_EXIT.OK);
      return;
    }
    if (this.#phase === 'stopping') return;
    // Cold, or any shutdown before ready: cancel work, hand it back, exit.
    const wasBooting = this.#phase === 'booting' || this.#phase === 'waiting';
    this.#phase = 'stopping';
    this.#cold.abort(new Error(`${mode} shutdown`));
    if (wasBooting) await this.#boot?.catch(() => undefined);
    try {
      await this.#backend?.stop();
    } catch (e) {
      this.#log('error', { err: serializeError(e) }, 'backend stop failed');
    }
    await this.#exit(CHILD_EXIT.OK);
  }

  #orphaned(why: string): void {
    if (this.#exiting) return;
    this.#log('warn', { why }, 'supervisor gone, exiting');
    this.#cold.abort(new Error('supervisor gone'));
    const stop = this.#backend?.stop().catch(() => undefined) ?? Promise.resolve();
    const bound = new Promise((r) => setTimeout(r, ORPHAN_STOP_MS).unref());
    void Promise.race([stop, bound]).then(() => this.#exit(CHILD_EXIT.OK));
  }

  #crash(err: unknown, what: string, code: number = CHILD_EXIT.CRASH): void {
    const error = serializeError(err);
    // A lost broker/server is not a bug: its one line names it; the stack is for debugging only.
    if (error.name === UNAVAILABLE_ERROR) {
      this.#log('fatal', { err: error.message, code }, what);
      this.#log('debug', { err: error }, 'connection error detail');
    } else this.#log('fatal', { err: error, code }, what);
    const booting = this.#phase === 'booting' || this.#phase === 'waiting';
    const told = booting ? this.#send({ type: 'fatal', error, retryable: true }) : Promise.resolve();
    // A crash: exit non-zero so the supervisor replaces this child (with backoff).
    void told.then(() => this.#exit(code));
  }

  #send(msg: ChildMessage): Promise<void> {
    return new Promise((resolve) => {
      if (!process.connected || typeof process.send !== 'function') return resolve();
      try {
        process.send(msg, undefined, {}, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  async #exit(code: number): Promise<void> {
    if (this.#exiting) return;
    this.#exiting = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#log(code === CHILD_EXIT.RETRYABLE_BOOT ? 'debug' : 'info', { code }, 'child exiting');
    process.exit(code);
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error' | 'fatal', fields: Record<string, unknown>, msg: string): void {
    if (this.#logger) this.#logger[level](fields, msg);
    else process.stderr.write(`${JSON.stringify({ level, ...fields, msg })}\n`);
  }
}
