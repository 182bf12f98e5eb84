// The Celery backend of one child: opens the broker's transport and the result store (each chosen by its URL
// scheme: transports/index.ts, results/index.ts) and runs the consumer. Python Celery clients and workers share the
// same broker: see docs/celery.md for the wire and ack details.
import { queuesOf } from '../registry.js';
import { BootError, type BackendContext, type BackendStats, type WorkerBackend } from '../contract.js';
import { CHILD_EXIT } from '../../exit-codes.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { childControl, taskEventSink } from './control/child.js';
import { ChildCounters } from './control/counters.js';
import { TaskEventRelay } from './events.js';
import { ChildLostRuns } from './lost-ask.js';
import { RunRecordWriter } from './run-record.js';
import { TOPIC_LOST_ANSWER } from './lost-runs.js';
import { ChildLimits, limitsTable, type TaskLimitsTable, TOPIC_LIMITS, TOPIC_RATE } from './limits.js';
import type { ResultStore } from './results.js';
import { databaseSettings, openResultStore, resultStoreProblem } from './results/index.js';
import { AuthenticationError, type Transport } from './transport.js';
import { openTransport, transportProblem } from './transports/index.js';
import { taskLines } from '../../tasks/task-log.js';
import { taskLineSink } from './task-lines.js';
import { pidAlive } from '../../util/pid.js';

export interface CeleryBackendDeps {
  now(): number;
  isAlive(pid: number): boolean;
  pid: number;
  connectTimeoutMs: number;
  tuning: Partial<Pick<ConsumerOptions, 'maxEtaHeld' | 'hardGraceMs'>>;
}

const DEFAULT_DEPS: CeleryBackendDeps = {
  now: () => Date.now(),
  isAlive: pidAlive,
  pid: process.pid,
  connectTimeoutMs: 10_000,
  tuning: {},
};

/** A URL no part can use will not work on a retry either: a BootError naming the setting's role. */
function checkUrl(problem: string | null, what: string): void {
  if (problem !== null) throw new BootError(`${what} ${problem}`);
}

/**
 * Phases: idle → started (consumer running) → stopping/stopped; drain() may end in a stop. The parts it opens
 * (transport, result store) are closed once, by whichever of drain and stop ends the child's work.
 */
class CeleryBackend implements WorkerBackend {
  readonly name = 'celery';
  #consumer: Consumer | null = null;
  #transport: Transport | null = null;
  #results: ResultStore | null = null;
  #limits: ChildLimits | null = null;
  /** Running ids reported to the pool, redeliveries asked about (brokers that count every return: AMQP). */
  #runs: ChildLostRuns | null = null;
  /** A limits table the node sent before start() got this far. */
  #early: TaskLimitsTable | null = null;
  #stopping: Promise<void> | null = null;
  #cleanup: NodeJS.Timeout | undefined;
  #slots = 0;
  #queues: string[] = [];
  #counters: ChildCounters | null = null;
  /** Remote control: answers the supervisor's inspect requests; null until start(). */
  #control: ((what: string, args: Record<string, unknown>) => unknown) | null = null;

  constructor(private readonly deps: CeleryBackendDeps) {}

  async start(ctx: BackendContext): Promise<void> {
    const cfg = ctx.config.celery;
    checkUrl(transportProblem(cfg.brokerUrl), 'broker URL');
    if (cfg.resultBackend !== null) checkUrl(resultStoreProblem(cfg.resultBackend), 'result backend URL');
    this.#limits = new ChildLimits(this.#early ?? cfg.taskLimits, ctx.toPool);
    const record = cfg.runsDir === undefined ? null : RunRecordWriter.open(cfg.runsDir, this.deps.pid);
    this.#runs = new ChildLostRuns(ctx.toPool, undefined, record);
    // Refused credentials will be refused again: a boot error (the pool stops with exit 3), not a retry loop.
    const t = await this.#open(ctx).catch((err: unknown) => {
      throw err instanceof AuthenticationError ? new BootError(err.message) : err;
    });
    const hostname = ctx.config.hostname;
    this.#queues = queuesOf(ctx.config, 'celery');
    this.#slots = Math.max(1, ctx.config.childConcurrency);
    // Task events go to the node, which stamps and publishes them; off unless -E or a remote enable_events.
    const events = new TaskEventRelay(cfg.sendEvents, (topic, data) => ctx.toPool(topic, data));
    const counters = (this.#counters = new ChildCounters(
      () => this.#consumer?.processed ?? 0,
      (topic, data) => ctx.toPool(topic, data),
    ));
    const toEvents = taskEventSink(events, counters);
    const toLines = taskLineSink(
      taskLines(ctx.logger, ctx.config.logTasks !== false),
      this.deps.now,
      taskLines(ctx.logger, false),
    );
    const c = (this.#consumer = this.#consumerFor(ctx, t, (type, held, ex) => {
      toLines(type, held, ex);
      toEvents(type, held, ex);
    }));
    const known = { registry: ctx.registry, events, hostname, pid: this.deps.pid };
    this.#control = (what, args) =>
      childControl(
        {
          ...known,
          view: () => c.snapshot(),
          revoke: (ids, signum) => c.revoke(ids, signum),
          setQueues: async (queues) => {
            const done = await c.setQueues(queues);
            if (done) this.#queues = queues;
            return done;
          },
        },
        what,
        args,
      );
    ctx.coldSignal.addEventListener('abort', () => void this.stop(), { once: true });
    await c.start();
    this.#scheduleCleanup(ctx);
    ctx.logger.info(
      { queues: this.#queues, slots: this.#slots, acksLate: cfg.acksLate, transport: t.name },
      'celery consumer started',
    );
  }

  /**
   * celery.backend_cleanup as a periodic job of the pool (Celery runs it from beat): the first child deletes
   * expired rows of a store that does not expire them itself (database), a minute after start, then every
   * CELERY_RESULT_CLEANUP_INTERVAL. Only one child does it, so N children do not race over the same rows.
   */
  #scheduleCleanup(ctx: BackendContext): void {
    const store = this.#results;
    const every = ctx.config.celery.resultCleanupIntervalS ?? null;
    if (ctx.index !== 0 || !store?.cleanup || every === null) return;
    const run = async (): Promise<void> => {
      try {
        const n = await store.cleanup!();
        ctx.logger.info({ ...n, expiresS: ctx.config.celery.resultExpiresS }, 'expired results deleted');
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'result cleanup failed; next try at the next interval');
      }
      this.#cleanup = setTimeout(() => void run(), every * 1000).unref();
    };
    this.#cleanup = setTimeout(() => void run(), Math.min(every, 60) * 1000).unref();
  }

  /** The broker's transport, then the result store (which may share its connection). Failures are retryable. */
  async #open(ctx: BackendContext): Promise<Transport> {
    const cfg = ctx.config.celery;
    const t = (this.#transport = await openTransport(cfg.brokerUrl, {
      logger: ctx.logger,
      role: 'broker',
      cfg,
      nodename: ctx.config.hostname,
      index: ctx.index,
      pid: this.deps.pid,
      connectTimeoutMs: this.deps.connectTimeoutMs,
      now: this.deps.now,
      isAlive: this.deps.isAlive,
      askLost: (key) => this.#runs?.ask(key) ?? Promise.resolve(undefined),
      copied: (key) => this.#runs?.copied(key),
    }));
    if (cfg.resultBackend === null) return t;
    try {
      this.#results = await openResultStore(cfg.resultBackend, {
        logger: ctx.logger,
        expiresS: cfg.resultExpiresS,
        connectTimeoutMs: this.deps.connectTimeoutMs,
        broker: { url: cfg.brokerUrl, transport: t },
        database: databaseSettings(cfg),
      });
    } catch (err) {
      await t.close().catch(() => undefined);
      throw err; // retryable: the result backend may come up later
    }
    return t;
  }

  #consumerFor(ctx: BackendContext, t: Transport, onTaskEvent: ConsumerOptions['onTaskEvent']): Consumer {
    const results = this.#results;
    return new Consumer(
      t,
      results,
      {
        queues: this.#queues,
        slots: this.#slots,
        worker: ctx.config.hostname,
        cfg: ctx.config.celery,
        registry: ctx.registry,
        logger: ctx.logger,
        coldSignal: ctx.coldSignal,
        now: this.deps.now,
        maxEtaHeld: 1000,
        hardGraceMs: 2000,
        deliveryLimit: ctx.config.deliveryLimit,
        busy: (n) => ctx.busy(n),
        ...(t.countsReturns && this.#runs !== null ? { onRun: this.#onRun(this.#runs) } : {}),
        limits: this.#limits as ChildLimits,
        onHardLimit: (held) => {
          const err = new Error(`task ${held.msg.task} (${held.msg.id}) ignored its hard time limit`);
          ctx.fail(Object.assign(err, { name: 'TimeLimitExceeded' }), { exitCode: CHILD_EXIT.HARD_TIME_LIMIT });
        },
        onTaskEvent,
        ...this.deps.tuning,
      },
      results ? (t.settleWithResult?.(results) ?? null) : null,
    );
  }

  /** What runs, by its message's runKey (set by a transport whose broker counts every return). */
  #onRun(runs: ChildLostRuns): NonNullable<ConsumerOptions['onRun']> {
    return (held, running) => {
      const key = held.delivery.message.runKey;
      if (key === undefined) return undefined;
      if (running) return runs.started(key);
      runs.finished(key);
      return undefined;
    };
  }

  async #close(): Promise<void> {
    clearTimeout(this.#cleanup);
    this.#counters?.flush(); // the node keeps what this child counted
    this.#limits?.release();
    this.#runs?.release();
    await this.#results?.close().catch(() => undefined);
    await this.#transport?.close();
  }

  async drain(deadline: number): Promise<void> {
    const c = this.#consumer;
    if (!c) return;
    await c.drain(deadline);
    if (c.active === 0) {
      await c.stop();
      await this.#close();
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#limits?.release();
      await this.#consumer?.stop();
      await this.#close();
    })();
    return this.#stopping;
  }

  onPoolMessage(topic: string, data: unknown): void {
    if (topic === TOPIC_RATE) this.#limits?.granted(data);
    else if (topic === TOPIC_LOST_ANSWER) this.#runs?.answered(data);
    else if (topic === TOPIC_LIMITS) {
      this.#early = limitsTable(data);
      this.#limits?.set(this.#early);
    }
  }

  control(what: string, args: Record<string, unknown>): unknown {
    return this.#control ? this.#control(what, args) : { error: 'not started' };
  }

  queues(): string[] {
    return this.#queues;
  }

  stats(): BackendStats {
    const c = this.#consumer;
    return {
      active: c?.active ?? 0,
      processed: c?.processed ?? 0,
      ...(c ? { durations: c.durations } : {}),
      failed: c?.failed ?? 0,
      counts: { messages_without_id: c?.withoutId ?? 0 },
      lastPollAt: c?.lastPollAt ?? null,
      slots: this.#slots,
    };
  }
}

export function createBackend(overrides: Partial<CeleryBackendDeps> = {}): WorkerBackend {
  return new CeleryBackend({ ...DEFAULT_DEPS, ...overrides });
}
