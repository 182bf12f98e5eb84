// The RabbitMQ subscription's pause and re-subscription (amqp-consume.ts) against recording stand-ins for amqplib's
// channels: what basic.consume / basic.cancel each channel gets when a rerun pauses receiving, when it resumes, and
// when a reconnect lands in between. The real broker's side is in test/e2e/celery-amqp*.test.ts.
import type { Channel, ChannelModel } from 'amqplib';
import { pino } from 'pino';
import t from 'tap';
import type { CeleryConfig } from '../../src/config/types.js';
import type { AmqpLink } from '../../src/backends/celery/transports/amqp-connection.js';
import { AmqpSubscription, type ConsumeHost } from '../../src/backends/celery/transports/amqp-consume.js';

interface FakeChannel {
  /** Consumers live on it now, by tag. */
  live: Set<string>;
  /** When set, basic.cancel waits for this (an RPC in flight while the connection goes). */
  hold: Promise<void> | null;
}

/** A connection whose channels record consumes and cancels; declarations succeed. */
function fakeConnection(name: string, channels: FakeChannel[]): ChannelModel {
  let n = 0;
  const createChannel = (): Promise<Channel> => {
    const fc: FakeChannel = { live: new Set(), hold: null };
    channels.push(fc);
    const ch = {
      on: () => ch,
      prefetch: () => Promise.resolve({}),
      close: () => Promise.resolve(),
      assertExchange: () => Promise.resolve({}),
      assertQueue: (queue: string) => Promise.resolve({ queue, messageCount: 0, consumerCount: 0 }),
      bindQueue: () => Promise.resolve({}),
      consume: (_q: string) => {
        const consumerTag = `${name}.${++n}`;
        fc.live.add(consumerTag);
        return Promise.resolve({ consumerTag });
      },
      cancel: async (tag: string) => {
        if (fc.hold !== null) await fc.hold;
        fc.live.delete(tag);
        return {};
      },
    };
    return Promise.resolve(ch as unknown as Channel);
  };
  return { createChannel } as unknown as ChannelModel;
}

function host(link: { gen: number; state: string; conn: ChannelModel | null }): ConsumeHost {
  const cfg = { queueType: 'classic', queueMaxPriority: null, exchangeType: 'direct' } as unknown as CeleryConfig;
  return {
    link: link as unknown as AmqpLink,
    cfg,
    logger: pino({ level: 'silent' }),
    now: () => Date.now(),
    deliver: () => Promise.resolve(null),
  };
}

/** Let setImmediate callbacks and the promise chains behind them run. */
const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** The consumer channel of a setup: the one that got basic.consume (the declarer's channel gets none). */
const consumerChannel = (channels: FakeChannel[], from: number): FakeChannel | undefined => channels.slice(from).at(-1);

void t.test('pause cancels the consumers, resume subscribes again on the same channel', async (t) => {
  const channels: FakeChannel[] = [];
  const conn = fakeConnection('a', channels);
  const link = { gen: 1, state: 'up', conn };
  const sub = new AmqpSubscription(host(link), { queues: ['celery'], prefetch: 8, onDelivery: () => undefined });
  await sub.setup(conn, 1);
  const ch = consumerChannel(channels, 0)!;
  t.equal(ch.live.size, 1, 'one consumer after setup');
  sub.pause(true);
  await turns();
  t.equal(ch.live.size, 0, 'paused: no consumer');
  sub.pause(false);
  await turns();
  t.equal(ch.live.size, 1, 'resumed: one consumer again');
});

void t.test('a resume that comes while a reconnect replaced the channel is not lost', async (t) => {
  const channels: FakeChannel[] = [];
  const conn1 = fakeConnection('a', channels);
  const link = { gen: 1, state: 'up', conn: conn1 as ChannelModel | null };
  const sub = new AmqpSubscription(host(link), { queues: ['celery'], prefetch: 8, onDelivery: () => undefined });
  await sub.setup(conn1, 1);
  const old = consumerChannel(channels, 0)!;
  // The pause's basic.cancel is in flight when the connection goes.
  let fail: (e: Error) => void = () => undefined;
  old.hold = new Promise<void>((_, reject) => (fail = reject));
  sub.pause(true);
  await turns();
  // The connection dropped: generation 2 is set up while still paused, so it subscribes nothing.
  sub.onDown(1);
  const conn2 = fakeConnection('b', channels);
  Object.assign(link, { gen: 2, conn: conn2 });
  const before = channels.length;
  await sub.setup(conn2, 2);
  const fresh = consumerChannel(channels, before)!;
  t.equal(fresh.live.size, 0, 'set up while paused: no consumer yet');
  // The rerun ended: resume, while the old channel's re-subscription still waits for its cancel.
  sub.pause(false);
  fail(new Error('channel closed'));
  await turns(10);
  t.equal(fresh.live.size, 1, 'the new channel has its consumer: receiving resumed');
  t.equal(old.live.size, 1, 'nothing more happened on the old channel (its consumer went with its connection)');
});
