// The Temporal backend of a child: one @temporalio/worker Worker per task queue on one NativeConnection, running
// the registry's tasks as activities and the prebuilt generic workflow bundle.
//
// States: idle → starting → running → draining (warm) | stopping (cold) → stopped; a start that throws ends in
// `stopped`. Every change is logged; an illegal one throws.
import { NativeConnection, Worker } from '@temporalio/worker';
import { BootError, type BackendContext, type BackendStats, type WorkerBackend } from '../contract.js';
import { emptyHistogram } from '../../ipc/histogram.js';
import { taskLines } from '../../tasks/task-log.js';
import { createActivities, type ActivityCounters } from './activities.js';
import { loadWorkflowBundle } from './bundle.js';
import { BackendUnavailableError } from '../../client/unavailable.js';
import { connectionCode, ConnectionReporter } from '../../log/connection.js';
import { connectionSettings, describeConnection, type ConnectionSettings } from './connection.js';
import { HEARTBEAT_CADENCE_MS, registryMeta } from './meta.js';
import { taskQueues, workerIdentity } from './names.js';
import { installRuntime, watchCoreRetries } from './runtime.js';
import { ServerWatch, tcpProbe } from './watch.js';

type State = 'idle' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped';
const NEXT: Record<State, readonly State[]> = {
  idle: ['starting'],
  starting: ['running', 'stopped', 'stopping'],
  running: ['draining', 'stopping', 'stopped'],
  draining: ['stopping', 'stopped'],
  stopping: ['stopped'],
  stopped: [],
};

/**
 * How long a workflow task waits for the child that ran the workflow before (its sticky queue) before any child
 * takes it and replays the history. A live child picks it up in milliseconds; 3 s only passes for a dead or
 * overloaded one.
 */
const STICKY_SCHEDULE_TO_START_MS = 3000;

/**
 * The connection, or ONE error naming the server, its address and the code (the child's retryable boot failure,
 * which the supervisor reports once per restart); a refused namespace or credentials stay as they are.
 */
async function connectOrExplain(settings: ConnectionSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(settings);
  } catch (err) {
    if (isPermanent(err)) throw err;
    throw new BackendUnavailableError('the Temporal server', settings.address, connectionCode(err), 1);
  }
}

/** Temporal names errors from a bad namespace/permission; those will not heal by retrying the connect. */
function isPermanent(err: unknown): boolean {
  const name = (err as Error | undefined)?.name ?? '';
  const message = (err as Error | undefined)?.message ?? '';
  if (name === 'NamespaceNotFoundError') return true;
  // Core reports gRPC statuses inside a TransportError message (tonic's `Status { code: NotFound, ... }`).
  return /namespace .* not found|code: (NotFound|PermissionDenied|Unauthenticated)|PERMISSION_DENIED|UNAUTHENTICATED/i.test(
    message,
  );
}

export class TemporalBackend implements WorkerBackend {
  readonly name = 'temporal';
  #state: State = 'idle';
  #ctx: BackendContext | undefined;
  #connection: NativeConnection | undefined;
  #workers: Worker[] = [];
  #runs: Promise<void>[] = [];
  readonly #cold = new AbortController();
  readonly #counters: ActivityCounters = { active: 0, processed: 0, failed: 0, durations: emptyHistogram() };
  #lastPollAt: number | null = null;
  #server: ServerWatch | undefined;
  #slots = 0;
  #drained: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  #to(next: State): void {
    if (!NEXT[this.#state].includes(next))
      throw new Error(`temporal backend: illegal transition ${this.#state} → ${next}`);
    this.#ctx?.logger.debug({ from: this.#state, to: next }, 'temporal backend state changed');
    this.#state = next;
  }

  async start(ctx: BackendContext): Promise<void> {
    this.#to('starting');
    this.#ctx = ctx;
    const { config, logger } = ctx;
    try {
      ctx.coldSignal.addEventListener('abort', () => this.#cold.abort(ctx.coldSignal.reason), { once: true });
      const settings = connectionSettings(config.temporal);
      const lostWorker = { deliveryLimit: config.deliveryLimit, heartbeatTimeoutMs: config.heartbeatTimeoutMs };
      const workflowBundle = loadWorkflowBundle(registryMeta(ctx.registry, lostWorker));
      installRuntime(logger);
      const identity = workerIdentity(config.hostname, ctx.index);
      const queues = taskQueues(config);
      logger.debug({ ...describeConnection(config.temporal), identity, queues }, 'temporal connecting');
      this.#connection = await connectOrExplain(settings);
      this.#watchServer(logger, settings.address);
      const activities = createActivities(ctx.registry, {
        logger,
        workerName: identity,
        coldSignal: this.#cold.signal,
        counters: this.#counters,
        busy: ctx.busy,
        lines: taskLines(logger, config.logTasks !== false),
      });
      for (const taskQueue of queues) {
        this.#workers.push(
          await Worker.create({
            connection: this.#connection,
            namespace: config.temporal.namespace,
            taskQueue,
            identity,
            workflowBundle,
            activities,
            // Slots per child: N children never over-commit the machine (the SDK default assumes one worker).
            maxConcurrentActivityTaskExecutions: config.childConcurrency,
            maxConcurrentWorkflowTaskExecutions: config.childConcurrency,
            maxCachedWorkflows: config.temporal.maxCachedWorkflows,
            // Core throttles heartbeats to 80 % of the heartbeat timeout (30 s without one); a cancellation only
            // comes back with a heartbeat, so both bounds are the activities' own cadence (activities.ts).
            maxHeartbeatThrottleInterval: HEARTBEAT_CADENCE_MS,
            defaultHeartbeatThrottleInterval: HEARTBEAT_CADENCE_MS,
            // A workflow task for a child that was just killed waits this long on its sticky queue before any
            // child may take it (SDK default 10 s): it is on the path from a lost worker to the rerun.
            stickyQueueScheduleToStartTimeout: STICKY_SCHEDULE_TO_START_MS,
            workflowThreadPoolSize: 1,
            // drain() enforces the exact deadline itself; this is the SDK's own backstop.
            shutdownGraceTime: config.shutdownTimeoutMs,
            shutdownForceTime: config.shutdownTimeoutMs + 5000,
          }),
        );
      }
      if (this.#cold.signal.aborted) throw new Error('cold stop requested while starting');
      this.#slots = config.childConcurrency * queues.length;
      this.#runs = this.#workers.map((w, i) => this.#watch(w.run(), queues[i] as string));
      this.#lastPollAt = Date.now();
      this.#to('running');
      logger.info(
        { ...describeConnection(config.temporal), queues, slots: this.#slots, identity },
        'temporal worker running',
      );
    } catch (err) {
      await this.#abandonStart();
      if (err instanceof BootError || !isPermanent(err)) throw err;
      throw new BootError(`temporal: ${(err as Error).message}`);
    }
  }

  /** A Worker.create that failed must not leave native workers or the connection keeping the process alive. */
  async #abandonStart(): Promise<void> {
    this.#to('stopped');
    for (const w of this.#workers) {
      try {
        w.shutdown();
        await w.run();
      } catch {
        // A worker that never ran may refuse both; the connection close below still frees the process.
      }
    }
    this.#server?.close();
    watchCoreRetries(null);
    await this.#connection?.close().catch(() => undefined);
  }

  /** worker.run() settles at shutdown; a rejection while running means the worker died: the child must exit. */
  #watch(run: Promise<void>, queue: string): Promise<void> {
    return run.then(
      () => {
        if (this.#state === 'running') this.#fail(new Error(`temporal worker for ${queue} stopped unexpectedly`));
      },
      (err: unknown) => {
        if (this.#state === 'running') this.#fail(err instanceof Error ? err : new Error(String(err)));
        else this.#ctx?.logger.warn({ err, queue }, 'temporal worker ended with an error during shutdown');
      },
    );
  }

  #fail(err: Error): void {
    const ctx = this.#ctx as BackendContext;
    ctx.logger.error({ err }, 'temporal worker failed after start; the child exits to be replaced');
    // Stop the sibling workers too, then hand the failure to the child runtime (it exits, the slot restarts).
    void this.stop().finally(() => ctx.fail(err));
  }

  drain(deadline: number): Promise<void> {
    this.#drained ??= this.#drain(deadline);
    return this.#drained;
  }

  async #drain(deadline: number): Promise<void> {
    if (this.#state !== 'running') return this.#stopped;
    this.#to('draining');
    const logger = (this.#ctx as BackendContext).logger;
    logger.info({ active: this.#counters.active, deadline }, 'temporal draining');
    this.#shutdownWorkers();
    // Past the deadline the in-flight tasks are aborted and handed back to Temporal (cold).
    const timer = setTimeout(() => this.#cold.abort(new Error('drain deadline')), Math.max(0, deadline - Date.now()));
    try {
      await Promise.all(this.#runs);
    } finally {
      clearTimeout(timer);
    }
    // A cold stop may have overtaken the drain; then it closes the connection.
    if ((this.#state as State) === 'draining') {
      await this.#closeConnection();
      this.#to('stopped');
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') return;
    if (this.#state === 'starting') {
      // start() is still connecting: it sees the cold signal and cleans up after itself.
      this.#cold.abort(new Error('cold stop'));
      return;
    }
    this.#to('stopping');
    (this.#ctx as BackendContext).logger.info({ active: this.#counters.active }, 'temporal cold stop');
    this.#cold.abort(new Error('cold stop'));
    this.#shutdownWorkers();
    await Promise.all(this.#runs);
    await this.#closeConnection();
    this.#to('stopped');
  }

  #shutdownWorkers(): void {
    for (const w of this.#workers) {
      if (w.getState() === 'RUNNING') w.shutdown();
    }
  }

  /** Core's retry warnings start a check of the server itself: one line per attempt, "restored" once. */
  #watchServer(logger: BackendContext['logger'], address: string): void {
    const watch = (this.#server = new ServerWatch(
      new ConnectionReporter(logger, { role: 'temporal', url: address }),
      tcpProbe(address),
    ));
    watchCoreRetries(() => watch.trouble());
  }

  async #closeConnection(): Promise<void> {
    this.#server?.close();
    watchCoreRetries(null);
    try {
      await this.#connection?.close();
    } catch (err) {
      this.#ctx?.logger.warn({ err }, 'temporal connection close failed');
    }
  }

  queues(): string[] {
    return this.#ctx ? taskQueues(this.#ctx.config) : [];
  }

  stats(): BackendStats {
    // A worker whose pollers are live has, by definition, just polled: heartbeats report it as fresh.
    if (this.#workers.some((w) => w.getStatus().activityPollerState === 'POLLING')) this.#lastPollAt = Date.now();
    return { ...this.#counters, lastPollAt: this.#lastPollAt, slots: this.#slots };
  }
}

export function createBackend(): WorkerBackend {
  return new TemporalBackend();
}
