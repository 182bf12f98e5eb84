// The consumer over an in-memory transport: the prefetch it asks for (slots × Celery's prefetch multiplier), the
// raise for a held ETA message, and deliveries the transport loses (an AMQP channel that closed: the broker gives
// them out again) being forgotten, never run or settled twice; a rerun recorded as running only when it starts.
import { pino } from 'pino';
import t from 'tap';
import { Consumer, type ConsumerOptions } from '../../src/backends/celery/consumer.js';
import { buildTask } from '../../src/backends/celery/protocol.js';
import type {
  ConsumeOptions,
  Delivery,
  InboundMessage,
  SettleableDelivery,
  Subscription,
  Transport,
} from '../../src/backends/celery/transport.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { defineTask } from '../../src/tasks/define.js';
import { Registry } from '../../src/tasks/registry.js';

class FakeTransport implements Transport {
  readonly name = 'fake';
  opts: ConsumeOptions | null = null;
  prefetches: number[] = [];
  acked: string[] = [];
  async consume(c: ConsumeOptions): Promise<Subscription> {
    this.opts = c;
    const prefetches = this.prefetches;
    prefetches.push(c.prefetch);
    return {
      lastPollAt: null,
      get prefetch() {
        return prefetches[prefetches.length - 1] as number;
      },
      setPrefetch: (n: number) => void prefetches.push(n),
      cancel: async () => undefined,
    };
  }
  async ack(ds: readonly SettleableDelivery[]): Promise<void> {
    for (const d of ds) this.acked.push(d.tag);
  }
  restore = async (): Promise<boolean> => true;
  requeue = async (): Promise<void> => undefined;
  republish = async (): Promise<void> => undefined;
  deadLetter = async (): Promise<void> => undefined;
  publish = async (): Promise<void> => undefined;
  control(): never {
    throw new Error('not here');
  }
  events(): never {
    throw new Error('not here');
  }
  close = async (): Promise<void> => undefined;
}

function delivery(tag: string, etaMs: number | null, extra: Partial<InboundMessage> = {}): Delivery {
  const { message: out } = buildTask({ task: 'count', args: [tag], etaMs });
  const message: InboundMessage = {
    headers: out.headers,
    properties: out.properties,
    body: out.body,
    contentType: out.contentType,
    contentEncoding: out.contentEncoding,
    deliveryInfo: { exchange: '', routingKey: 'celery', deliveryTag: tag },
    redelivered: false,
    size: out.body.length,
    ...extra,
  };
  return { kind: 'message', tag, queue: 'celery', message, revoked: false };
}

/** A consumer of two slots over `tr` (options beyond the usual ones in `extra`). */
function consumer(
  tr: FakeTransport,
  cfg: ConsumerOptions['cfg'],
  registry: Registry,
  extra: Partial<ConsumerOptions> = {},
): Consumer {
  return new Consumer(
    tr,
    null,
    {
      queues: ['celery'],
      slots: 2,
      worker: 'celery@test',
      cfg,
      registry,
      logger: pino({ level: 'silent' }),
      coldSignal: new AbortController().signal,
      now: Date.now,
      maxEtaHeld: 10,
      deliveryLimit: 3,
      busy: () => undefined,
      hardGraceMs: 100,
      limits: { token: () => null, timeLimits: () => null },
      onHardLimit: () => undefined,
      ...extra,
    },
    null,
  );
}

void t.test('prefetch = slots × multiplier; a lost ETA message is dropped and the raise undone', async (t) => {
  const env = { CELERY_PREFETCH_MULTIPLIER: '3' };
  const cfg = compileConfig({ env, host: currentHost(env) }).celery;
  const ran: string[] = [];
  const registry = new Registry().add(defineTask({ name: 'count', run: (args) => void ran.push(String(args[0])) }));
  const tr = new FakeTransport();
  const c = consumer(tr, cfg, registry);
  await c.start();
  t.equal(tr.prefetches[0], 6, 'two slots × multiplier 3');
  const o = tr.opts!;
  await o.onDelivery(delivery('1.1', Date.now() + 300));
  t.equal(tr.prefetches.at(-1), 7, 'a held ETA message raises the prefetch by one');
  await o.onDelivery(delivery('1.2', null));
  // The channel of both closed: the running one finishes (its ack is the transport's no-op), the ETA one is gone.
  o.onLost?.(['1.1', '1.2']);
  t.equal(tr.prefetches.at(-1), 6, 'the raise is undone with the lost ETA message');
  await new Promise((r) => setTimeout(r, 500));
  t.same(ran, ['1.2'], 'the lost ETA message never runs here (the broker redelivers it)');
  t.same(tr.acked, [], 'nothing of a lost channel is acked');
  await c.stop();
});

void t.test('a rerun is recorded as running only once what was set aside behind it is back', async (t) => {
  const cfg = compileConfig({ env: {}, host: currentHost({}) }).celery;
  const events: string[] = [];
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((r) => (release = r));
  const registry = new Registry().add(
    defineTask({
      name: 'count',
      run: async (args) => {
        events.push(`run ${String(args[0])}`);
        if (String(args[0]).startsWith('busy')) await blocked;
      },
    }),
  );
  const tr = new FakeTransport();
  let giveBackDone: () => void = () => undefined;
  tr.restore = (): Promise<boolean> => {
    events.push('give back');
    return new Promise((r) => (giveBackDone = () => r(true)));
  };
  const c = consumer(tr, cfg, registry, {
    onRun: (held, running) => {
      events.push(`${running ? 'start' : 'end'} ${String(held.msg.args[0])}`);
      return Promise.resolve();
    },
  });
  await c.start();
  const o = tr.opts!;
  await o.onDelivery(delivery('busy1', null));
  await o.onDelivery(delivery('busy2', null));
  // A rerun after a lost worker, then a message behind it: both slots are busy, so the one behind is set aside.
  await o.onDelivery(delivery('rerun', null, { lostWorkers: 1, lostReason: 'killed by SIGKILL' }));
  await o.onDelivery(delivery('behind', null));
  await new Promise((r) => setTimeout(r, 20));
  t.ok(events.includes('give back'), 'what came behind the rerun is given back');
  release(); // the two busy tasks end: the rerun may launch, alone, once the give-back is done
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(events.includes('start rerun'), 'not recorded as running while the give-back is on its way');
  t.notOk(events.includes('run rerun'), 'and its code has not run');
  giveBackDone();
  await new Promise((r) => setTimeout(r, 50));
  const start = events.indexOf('start rerun');
  t.ok(start >= 0, 'recorded once the give-back is done');
  t.ok(start < events.indexOf('run rerun'), 'and before its code runs');
  await c.stop();
});
