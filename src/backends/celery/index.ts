// The Celery (Redis) backend of one child: connects the broker and the result backend, and runs the consumer.
// Python Celery clients and workers share the same Redis: see docs/celery.md for the wire and ack details.
import type { Redis } from 'ioredis';
import { BootError, type BackendContext, type BackendStats, type WorkerBackend } from '../contract.js';
import { Consumer, type ConsumerDeps, type ConsumerOptions } from './consumer.js';
import { childControl, taskEventSink } from './control/child.js';
import { dbOf } from './control/wire.js';
import { EventPublisher } from './events.js';
import { ResultStore } from './results.js';
import { Settler } from './settle.js';
import { redisUrlProblem } from './redis-url.js';
import { Broker, connectRedis, openRedis } from './transport.js';

export interface CeleryBackendDeps extends ConsumerDeps {
  pid: number;
  connectTimeoutMs: number;
  tuning: Partial<Pick<ConsumerOptions, 'maxEtaHeld' | 'pollMinMs' | 'pollMaxMs' | 'hardGraceMs' | 'maintenanceMs'>>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const DEFAULT_DEPS: CeleryBackendDeps = {
  now: () => Date.now(),
  isAlive,
  exit: (code) => process.exit(code),
  pid: process.pid,
  connectTimeoutMs: 10_000,
  tuning: {},
};

function checkUrl(url: string, what: string): void {
  const problem = redisUrlProblem(url);
  if (problem !== null) throw new BootError(`${what} ${problem}`);
}

export function createBackend(overrides: Partial<CeleryBackendDeps> = {}): WorkerBackend {
  const deps = { ...DEFAULT_DEPS, ...overrides };
  let consumer: Consumer | null = null;
  const conns: Redis[] = [];
  let stopping: Promise<void> | null = null;
  let slots = 0;
  let consumerQueues: string[] = [];
  // Remote control (issue 5): answers the supervisor's inspect requests; null until start().
  let control: ((what: string, args: Record<string, unknown>) => unknown) | null = null;

  const close = async (): Promise<void> => {
    // Closing on purpose is not "connection lost": drop the state-change loggers first.
    for (const c of conns) {
      c.removeAllListeners('close');
      c.removeAllListeners('error');
      c.on('error', () => undefined);
    }
    await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
  };

  return {
    name: 'celery',
    async start(ctx: BackendContext): Promise<void> {
      const cfg = ctx.config.celery;
      checkUrl(cfg.brokerUrl, 'broker URL');
      const log = ctx.logger;
      const brokerConn = connectRedis(cfg.brokerUrl, log, 'broker');
      conns.push(brokerConn);
      let results: ResultStore | null = null;
      if (cfg.resultBackend !== null) {
        checkUrl(cfg.resultBackend, 'result backend URL');
        const same = cfg.resultBackend === cfg.brokerUrl;
        const conn = same ? brokerConn : connectRedis(cfg.resultBackend, log, 'results');
        if (!same) conns.push(conn);
        results = new ResultStore(conn, cfg.resultExpiresS);
      }
      try {
        await Promise.all(conns.map((c) => openRedis(c, deps.connectTimeoutMs)));
      } catch (err) {
        brokerConn.disconnect();
        for (const c of conns) c.disconnect();
        throw err; // retryable: the broker may come up later
      }
      const hostname = ctx.config.hostname;
      const broker = new Broker(brokerConn, {
        hostname,
        index: ctx.index,
        pid: deps.pid,
        deadLetterKey: cfg.deadLetterKey,
        visibilityTimeoutS: cfg.visibilityTimeoutS,
      });
      const queues = ctx.config.queues && ctx.config.queues.length > 0 ? ctx.config.queues : ['celery'];
      consumerQueues = queues;
      const vtMs = cfg.visibilityTimeoutS * 1000;
      slots = Math.max(1, ctx.config.childConcurrency);
      // Task events go out on the broker connection (PUBLISH); off unless -E or a remote enable_events.
      const totals = new Map<string, number>();
      const events = new EventPublisher({
        redis: brokerConn,
        db: dbOf(cfg.brokerUrl),
        hostname,
        enabled: cfg.sendEvents,
        pid: deps.pid,
        onError: (err) => log.warn({ err: err.message }, 'celery event not published'),
      });
      // Results on the broker's own connection: plain successes store + ack in one batched script.
      const settler =
        results && cfg.resultBackend === cfg.brokerUrl
          ? new Settler(brokerConn, broker.heldKey, cfg.resultExpiresS)
          : null;
      consumer = new Consumer(
        broker,
        results,
        {
          queues,
          slots,
          worker: hostname,
          cfg,
          registry: ctx.registry,
          logger: log,
          coldSignal: ctx.coldSignal,
          maxEtaHeld: 1000,
          pollMinMs: 1,
          pollMaxMs: 50,
          hardGraceMs: 2000,
          maintenanceMs: Math.max(250, Math.min(vtMs / 4, 10_000)),
          settler,
          onTaskEvent: taskEventSink(events, deps.pid, totals),
          ...deps.tuning,
        },
        deps,
      );
      const c = consumer;
      control = (what, args) =>
        childControl(
          {
            view: () => c.snapshot(),
            terminate: (ids) => c.terminate(ids),
            registry: ctx.registry,
            events,
            hostname,
            pid: deps.pid,
            totals,
          },
          what,
          args,
        );
      ctx.coldSignal.addEventListener('abort', () => void this.stop(), { once: true });
      await consumer.start();
      log.info({ queues, slots: ctx.config.childConcurrency, acksLate: cfg.acksLate }, 'celery consumer started');
    },
    async drain(deadline: number): Promise<void> {
      if (!consumer) return;
      await consumer.drain(deadline);
      if (consumer.active === 0) {
        await consumer.stop();
        await close();
      }
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        await consumer?.stop();
        await close();
      })();
      return stopping;
    },
    control(what: string, args: Record<string, unknown>): unknown {
      return control ? control(what, args) : { error: 'not started' };
    },
    queues(): string[] {
      return consumerQueues;
    },
    stats(): BackendStats {
      return {
        active: consumer?.active ?? 0,
        processed: consumer?.processed ?? 0,
        ...(consumer ? { durations: consumer.durations } : {}),
        failed: consumer?.failed ?? 0,
        lastPollAt: consumer?.lastPollAt ?? null,
        slots,
      };
    },
  };
}
