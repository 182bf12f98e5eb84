// Remote control and events on RabbitMQ, as kombu's pidbox and Celery's event dispatcher do them: control
// messages arrive through the `celery.pidbox` fanout exchange in the queue `<node>.celery.pidbox`, replies go to
// the `reply.celery.pidbox` direct exchange with the caller's routing key, events to the `celeryev` topic
// exchange. Revokes reach this pool's children through the `tbw.revoked` fanout exchange (each child binds an
// exclusive queue to it): Python workers keep their revoked ids in memory the same way.
import type { Channel, ChannelModel, Options } from 'amqplib';
import { eventJson } from '../events.js';
import type { ControlChannel, EventChannel, InboundMessage } from '../transport.js';
import { RecentIds } from '../recent-ids.js';
import { inboundOf } from './amqp-message.js';
import type { Publisher } from './amqp-publish.js';

export const PIDBOX_EXCHANGE = 'celery.pidbox';
export const REPLY_EXCHANGE = 'reply.celery.pidbox';
export const EVENT_EXCHANGE = 'celeryev';
export const REVOKED_EXCHANGE = 'tbw.revoked';

/** kombu Mailbox.get_queue with Celery's control_queue_ttl (300 s) and control_queue_expires (10 s). */
export function pidboxQueue(nodename: string): { name: string; options: Options.AssertQueue } {
  return {
    name: `${nodename}.celery.pidbox`,
    options: { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 300_000, 'x-expires': 10_000 } },
  };
}

/** What the channels need from the transport: run set-up on every connection, publish with confirms. */
export interface ControlHost {
  /** Run `fn` on the live connection now (if up) and on every later one; returns a remover. */
  onEveryConnection(fn: (conn: ChannelModel, gen: number) => Promise<void>): () => void;
  readonly publisher: Publisher;
}

const json = (body: unknown): Buffer => Buffer.from(JSON.stringify(body), 'utf8');
const TRANSIENT = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1 } as const;

/** Open a channel whose errors are reported by the calls that caused them. */
async function sideChannel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  return ch;
}

/** Declare an exchange on the publisher's connection (on a channel of its own: a refusal closes it). */
async function declareExchange(p: Publisher, name: string, type: string, durable: boolean): Promise<void> {
  const conn = await p.connection();
  const ch = await sideChannel(conn);
  try {
    await ch.assertExchange(name, type, { durable, autoDelete: false });
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** A child's subscription to revokes: ids published to tbw.revoked land in `into`. */
export function listenRevoked(host: ControlHost, into: RecentIds, now: () => number): () => void {
  return host.onEveryConnection(async (conn) => {
    const ch = await sideChannel(conn);
    await ch.assertExchange(REVOKED_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(queue, REVOKED_EXCHANGE, '');
    await ch.consume(
      queue,
      (m) => {
        if (m === null) return;
        try {
          const body = JSON.parse(m.content.toString('utf8')) as { ids?: unknown };
          const ids = Array.isArray(body.ids) ? body.ids.filter((x): x is string => typeof x === 'string') : [];
          into.add(ids, now());
        } catch {
          // not ours: ignore
        }
      },
      { noAck: true },
    );
  });
}

/** Publish ids to every child of every pool of ours on this broker. */
export async function publishRevoked(host: ControlHost, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const p = host.publisher;
  await p.publish(REVOKED_EXCHANGE, '', json({ ids }), TRANSIENT, () =>
    p.once(`exchange:${REVOKED_EXCHANGE}`, () => declareExchange(p, REVOKED_EXCHANGE, 'fanout', false)),
  );
}

export class AmqpControlChannel implements ControlChannel {
  #off: (() => void) | null = null;
  #consumer: { ch: Channel; tag: string } | null = null;

  constructor(
    private readonly host: ControlHost,
    private readonly nodename: string,
  ) {}

  async listen(onMessage: (msg: InboundMessage | Error) => void): Promise<void> {
    let first: (() => void) | null = null;
    const subscribed = new Promise<void>((resolve) => (first = resolve));
    this.#off = this.host.onEveryConnection(async (conn, gen) => {
      const ch = await sideChannel(conn);
      const q = pidboxQueue(this.nodename);
      await ch.assertExchange(PIDBOX_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
      await ch.assertQueue(q.name, q.options);
      await ch.bindQueue(q.name, PIDBOX_EXCHANGE, '');
      const { consumerTag } = await ch.consume(
        q.name,
        (m) => {
          if (m !== null) onMessage(inboundOf(m, `${gen}.${m.fields.deliveryTag}`));
        },
        { noAck: true },
      );
      this.#consumer = { ch, tag: consumerTag };
      first?.();
      first = null;
    });
    await subscribed;
  }

  async reply(to: { exchange: string; routingKey: string }, body: unknown, headers: Record<string, unknown>) {
    // kombu declares the (transient, direct) reply exchange before each reply; the caller's queue is bound to it.
    const p = this.host.publisher;
    await p.publish(to.exchange, to.routingKey, json(body), { ...TRANSIENT, headers }, () =>
      p.once(`exchange:${to.exchange}`, () => declareExchange(p, to.exchange, 'direct', false)),
    );
  }

  revoke(ids: readonly string[]): Promise<void> {
    return publishRevoked(this.host, ids);
  }

  async close(): Promise<void> {
    this.#off?.();
    this.#off = null;
    const c = this.#consumer;
    this.#consumer = null;
    if (c) await c.ch.close().catch(() => undefined);
  }
}

export class AmqpEventChannel implements EventChannel {
  constructor(private readonly host: ControlHost) {}

  async publish(routingKey: string, body: Record<string, unknown>, headers: Record<string, unknown>): Promise<void> {
    // celery.events.event_exchange: a durable topic exchange; events are transient messages.
    const p = this.host.publisher;
    const text = Buffer.from(eventJson(body), 'utf8'); // float fields as floats, as Python writes them
    await p.publish(EVENT_EXCHANGE, routingKey, text, { ...TRANSIENT, headers }, () =>
      p.once(`exchange:${EVENT_EXCHANGE}`, () => declareExchange(p, EVENT_EXCHANGE, 'topic', true)),
    );
  }
}
