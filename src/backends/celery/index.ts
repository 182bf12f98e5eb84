// The Celery backend of one child: opens the broker's transport and the result store (each chosen by its URL
// scheme: transports/index.ts, results/index.ts) and runs the consumer. Python Celery clients and workers share the
// same broker: see docs/celery.md for the wire and ack details.
import { queuesOf } from '../registry.js';
import { BootError, type BackendContext, type BackendStats, type WorkerBackend } from '../contract.js';
import { CHILD_EXIT } from '../../exit-codes.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { childControl, taskEventSink } from './control/child.js';
import { EventPublisher } from './events.js';
import { ChildLimits, limitsTable, type TaskLimitsTable, TOPIC_LIMITS, TOPIC_RATE } from './limits.js';
import type { ResultStore } from './results.js';
import { openResultStore, resultStoreProblem } from './results/index.js';
import type { Transport } from './transport.js';
import { openTransport, transportProblem } from './transports/index.js';

export interface CeleryBackendDeps {
  now(): number;
  isAlive(pid: number): boolean;
  pid: number;
  connectTimeoutMs: number;
  tuning: Partial<Pick<ConsumerOptions, 'maxEtaHeld' | 'hardGraceMs'>>;
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
  pid: process.pid,
  connectTimeoutMs: 10_000,
  tuning: {},
};

/** A URL no part can use will not work on a retry either: a BootError naming the setting's role. */
function checkUrl(problem: string | null, what: string): void {
  if (problem !== null) throw new BootError(`${what} ${problem}`);
}

export function createBackend(overrides: Partial<CeleryBackendDeps> = {}): WorkerBackend {
  const deps = { ...DEFAULT_DEPS, ...overrides };
  let consumer: Consumer | null = null;
  let transport: Transport | null = null;
  let results: ResultStore | null = null;
  let limits: ChildLimits | null = null;
  /** A limits table the node sent before start() got this far. */
  let early: TaskLimitsTable | null = null;
  let stopping: Promise<void> | null = null;
  let slots = 0;
  let consumerQueues: string[] = [];
  // Remote control: answers the supervisor's inspect requests; null until start().
  let control: ((what: string, args: Record<string, unknown>) => unknown) | null = null;

  const close = async (): Promise<void> => {
    limits?.release();
    await results?.close().catch(() => undefined);
    await transport?.close();
  };

  return {
    name: 'celery',
    async start(ctx: BackendContext): Promise<void> {
      const cfg = ctx.config.celery;
      checkUrl(transportProblem(cfg.brokerUrl), 'broker URL');
      if (cfg.resultBackend !== null) checkUrl(resultStoreProblem(cfg.resultBackend), 'result backend URL');
      const log = ctx.logger;
      const hostname = ctx.config.hostname;
      limits = new ChildLimits(early ?? cfg.taskLimits, ctx.toPool);
      const t = (transport = await openTransport(cfg.brokerUrl, {
        logger: log,
        role: 'broker',
        cfg,
        nodename: hostname,
        index: ctx.index,
        pid: deps.pid,
        connectTimeoutMs: deps.connectTimeoutMs,
        now: deps.now,
        isAlive: deps.isAlive,
      }));
      if (cfg.resultBackend !== null) {
        try {
          results = await openResultStore(cfg.resultBackend, {
            logger: log,
            expiresS: cfg.resultExpiresS,
            connectTimeoutMs: deps.connectTimeoutMs,
            broker: { url: cfg.brokerUrl, transport: t },
          });
        } catch (err) {
          await t.close().catch(() => undefined);
          throw err; // retryable: the result backend may come up later
        }
      }
      const queues = (consumerQueues = queuesOf(ctx.config, 'celery'));
      slots = Math.max(1, ctx.config.childConcurrency);
      // Task events go out on the broker's event channel; off unless -E or a remote enable_events.
      const totals = new Map<string, number>();
      const events = new EventPublisher({
        channel: t.events(),
        hostname,
        enabled: cfg.sendEvents,
        pid: deps.pid,
        onError: (err) => log.warn({ err: err.message }, 'celery event not published'),
      });
      const c = (consumer = new Consumer(
        t,
        results,
        {
          queues,
          slots,
          worker: hostname,
          cfg,
          registry: ctx.registry,
          logger: log,
          coldSignal: ctx.coldSignal,
          now: deps.now,
          maxEtaHeld: 1000,
          hardGraceMs: 2000,
          limits,
          onHardLimit: (held) => {
            const err = new Error(`task ${held.msg.task} (${held.msg.id}) ignored its hard time limit`);
            ctx.fail(Object.assign(err, { name: 'TimeLimitExceeded' }), { exitCode: CHILD_EXIT.HARD_TIME_LIMIT });
          },
          onTaskEvent: taskEventSink(events, deps.pid, totals),
          ...deps.tuning,
        },
        results ? (t.settleWithResult?.(results) ?? null) : null,
      ));
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
      await c.start();
      log.info(
        { queues, slots: ctx.config.childConcurrency, acksLate: cfg.acksLate, transport: t.name },
        'celery consumer started',
      );
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
        limits?.release();
        await consumer?.stop();
        await close();
      })();
      return stopping;
    },
    onPoolMessage(topic: string, data: unknown): void {
      if (topic === TOPIC_RATE) limits?.granted(data);
      else if (topic === TOPIC_LIMITS) {
        early = limitsTable(data);
        limits?.set(early);
      }
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
