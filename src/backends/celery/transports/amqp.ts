// Celery's RabbitMQ (AMQP 0-9-1) transport as a Transport, on amqplib: one connection per process with its own
// reconnect loop (amqp-connection.ts), task queues consumed under basic.qos (amqp-consume.ts), deliveries acked
// on the channel they came on, publishes confirmed by the broker (amqp-publish.ts), remote control and events
// through kombu's exchanges (amqp-control.ts). A delivery of a channel that closed is never acked: the broker
// has already given it back (redelivered), so settling it is a no-op and the consumer is told it is lost.
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { BackendUnavailableError } from '../../../client/unavailable.js';
import { redactUrl } from '../../../config/redact.js';
import type { CeleryConfig } from '../../../config/types.js';
import { AuthenticationError, LOST_HEADER } from '../transport.js';
import type {
  ConsumeOptions,
  ControlChannel,
  DeadLetter,
  Delivery,
  EventChannel,
  OutboundMessage,
  SettleableDelivery,
  Subscription,
  Transport,
  TransportOptions,
} from '../transport.js';
import type { Acker } from './amqp-ack.js';
import { AmqpLink, amqpReason, isAccessRefused } from './amqp-connection.js';
import { AmqpSubscription, type ConsumeHost } from './amqp-consume.js';
import { AmqpControlChannel, AmqpEventChannel, listenRevoked, type ControlHost } from './amqp-control.js';
import { RecentIds } from '../recent-ids.js';
import { ChurnMap } from '../../../util/churn-map.js';
import {
  copyOptions,
  deadLetterRecord,
  lostOf,
  needsRecount,
  recount,
  returned,
  runKeyOf,
  type Recount,
} from './amqp-lost.js';
import { BROKER_LOST_REASON, inboundOf, publishOptions } from './amqp-message.js';
import { Publisher } from './amqp-publish.js';
import { Declarer, queueSpec } from './amqp-topology.js';

interface HeldMessage {
  m: ConsumeMessage;
  gen: number;
  ch: Channel;
  acker: Acker;
}

type Setup = (conn: ChannelModel, gen: number) => Promise<void>;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The task id a message carries (protocol 2's header, else its correlation id), or null. */
const idOf = (m: ConsumeMessage): string | null =>
  str((m.properties.headers as Record<string, unknown> | undefined)?.id) ?? str(m.properties.correlationId);

export class AmqpTransport implements Transport, ConsumeHost, ControlHost {
  readonly name = 'amqp';
  readonly countsReturns = true;
  readonly link: AmqpLink;
  readonly publisher: Publisher;
  readonly revoked = new RecentIds();
  readonly #held = new ChurnMap<string, HeldMessage>();
  readonly #setups = new Set<Setup>();
  #sub: AmqpSubscription | null = null;
  #events: AmqpEventChannel | null = null;

  constructor(
    readonly url: string,
    private readonly o: TransportOptions,
  ) {
    this.link = new AmqpLink({
      url,
      logger: o.logger,
      role: o.role,
      name: `${o.nodename} ${o.role}${o.index >= 0 ? ` ${o.index}` : ''} (task-backend-worker pid ${o.pid})`,
      heartbeatS: o.cfg.brokerHeartbeatS,
      connectTimeoutS: o.cfg.brokerConnectTimeoutS,
      // Clients' callers report their trouble in their own words; the node's control link defers to the children.
      quiet: o.role === 'control' || o.role === 'client',
      ...(o.role === 'client' ? { giveUpAfter: 3 } : {}),
      // A child's broker: one attempt at boot (its failure is the boot failure the supervisor retries and reports).
      ...(o.connectTimeoutMs !== null ? { silentUntilUp: true, giveUpAfter: 1 } : {}),
      ...(o.onConnectionError ? { onError: o.onConnectionError } : {}),
      onUp: (conn, gen) => this.#up(conn, gen),
      onDown: (gen) => this.#down(gen),
    });
    this.publisher = new Publisher(this.link, o.logger);
  }

  get cfg(): CeleryConfig {
    return this.o.cfg;
  }
  get logger(): Logger {
    return this.o.logger;
  }
  now(): number {
    return this.o.now();
  }

  async #up(conn: ChannelModel, gen: number): Promise<void> {
    for (const s of this.#setups) await s(conn, gen);
    await this.#sub?.setup(conn, gen);
  }

  #down(gen: number): void {
    this.publisher.onDown(gen);
    this.#sub?.onDown(gen);
    const lost: string[] = [];
    for (const [tag, h] of this.#held) {
      if (h.gen !== gen) continue;
      this.#held.delete(tag);
      lost.push(tag);
    }
    if (lost.length > 0) {
      this.o.logger.warn({ lost: lost.length }, 'held deliveries returned to the broker with their channel');
      this.#onLost?.(lost);
    }
  }

  #onLost: ((tags: readonly string[]) => void) | undefined;

  onEveryConnection(fn: Setup): () => void {
    this.#setups.add(fn);
    const conn = this.link.conn;
    if (this.link.state === 'up' && conn !== null) {
      void fn(conn, this.link.gen).catch((err: unknown) => {
        this.o.logger.warn({ err: (err as Error).message }, 'amqp set-up failed; reconnecting');
        void conn.close().catch(() => undefined);
      });
    }
    return () => this.#setups.delete(fn);
  }

  async consume(c: ConsumeOptions): Promise<Subscription> {
    if (this.#sub !== null) throw new Error('amqp transport: one consumer per transport');
    this.#onLost = c.onLost;
    listenRevoked(this, this.revoked, () => this.o.now());
    const sub = (this.#sub = new AmqpSubscription(this, c));
    try {
      const conn = await this.link.whenUp();
      try {
        await sub.setup(conn, this.link.gen);
      } catch (err) {
        // A connection lost meanwhile sets everything up again when it is back; anything else is the caller's.
        if (this.link.conn === conn) throw err;
      }
      return sub;
    } finally {
      // Deliveries are handed over once the caller has the subscription (after its await resumes), so that it can
      // pause it from the very first one (a rerun that must run alone in a restarted child).
      setImmediate(() => sub.release());
    }
  }

  /**
   * A delivery as the consumer sees it, or null when it was replaced by a copy that counts what it says, which
   * arrives later (amqp-lost.ts): a message the broker gave back (a classic queue's `redelivered`, a quorum queue's
   * `x-delivery-count`) is charged a lost worker only when the pool saw it running in a child that died.
   */
  async deliver(m: ConsumeMessage, queue: string, gen: number, ch: Channel, acker: Acker): Promise<Delivery | null> {
    const tag = `${gen}.${m.fields.deliveryTag}`;
    this.#held.set(tag, { m, gen, ch, acker });
    const id = idOf(m);
    const key = this.o.askLost !== undefined ? runKeyOf(m) : null;
    const recount = await this.#recount(m, key);
    if (recount === 'duplicate') {
      this.#drop(tag);
      this.o.logger.debug({ queue, taskId: id }, 'redelivered message acked: its counted copy is out already');
      return null;
    }
    if (recount !== null) {
      try {
        await this.#replace({ tag, queue }, recount.lost, recount.reason);
        this.o.logger.debug({ queue, taskId: id, ...recount }, 'redelivered message replaced by a counted copy');
        return null;
      } catch (err) {
        // Not counted in the message: it runs with the count it would have had.
        this.o.logger.warn({ queue, err: (err as Error).message }, 'could not count a redelivered message');
      }
    }
    const message = inboundOf(m, tag);
    if (key !== null) message.runKey = key;
    if (recount !== null) {
      delete message.lostWorkers;
      delete message.lostReason;
      if (recount.lost > 0) Object.assign(message, { lostWorkers: recount.lost, lostReason: recount.reason });
    }
    return { kind: 'message', tag, queue, message, revoked: id !== null && this.revoked.has(id, this.o.now()) };
  }

  /** A returned message's count (amqp-lost.ts recount), asking the pool when it can; null: read it as it is. */
  async #recount(m: ConsumeMessage, key: string | null): Promise<Recount | null> {
    if (!returned(m)) return null;
    if (key === null || this.o.askLost === undefined) {
      // The broker's word: a classic queue's flag is counted by a copy, a quorum queue's count read as it is.
      return needsRecount(m) ? { lost: lostOf(m) + 1, reason: BROKER_LOST_REASON } : null;
    }
    return recount(m, await this.o.askLost(key));
  }

  /** Ack at once (a duplicate of a copy that is out). */
  #drop(tag: string): void {
    const held = this.#take({ tag } as SettleableDelivery);
    held?.acker.ack(held.m);
    held?.acker.flush();
  }

  /**
   * Replace the held delivery `d` by a copy at the END of its queue that has been lost `lost` times (confirmed),
   * then ack the original. A crash between the two would leave both: the pool is told of the copy first, and a
   * return of the original is then only acked (deliver, 'duplicate').
   */
  async #replace(d: { tag: string; queue: string }, lost: number, reason: string | null): Promise<void> {
    const h = this.#held.get(d.tag);
    if (h === undefined) return;
    await this.#publishTask(d.queue, h.m.content, copyOptions(h.m, lost, reason));
    // The pool hears it before the ack can go out: a return of the original from now on is a duplicate.
    const key = this.o.copied !== undefined ? runKeyOf(h.m) : null;
    if (key !== null) this.o.copied?.(key);
    const held = this.#take(d as SettleableDelivery);
    // Acked at once, not coalesced: the copy is out, the original must not come back as well (a duplicate).
    if (held !== null) {
      held.acker.ack(held.m);
      held.acker.flush();
    }
  }

  /** The held message of `d` if its channel is still the live one (else forget it: the broker took it back). */
  #take(d: SettleableDelivery): HeldMessage | null {
    const h = this.#held.get(d.tag);
    if (h === undefined) return null;
    this.#held.delete(d.tag);
    return h.gen === this.link.gen && this.link.state === 'up' ? h : null;
  }

  get unsettled(): number {
    return this.#held.size;
  }

  /** Acks go out with the next turn of the event loop, coalesced per channel (amqp-ack.ts). */
  async ack(ds: readonly SettleableDelivery[]): Promise<void> {
    for (const d of ds) {
      const h = this.#take(d);
      if (h !== null) h.acker.ack(h.m);
    }
  }

  /**
   * Give it back: a copy at the end of its queue, the original acked, so the broker never counts it as a lost
   * delivery (a requeue would set `redelivered` and a quorum queue's `x-delivery-count`). `lost`: charge it.
   */
  async restore(d: SettleableDelivery, o?: { lost?: string }): Promise<boolean> {
    const h = this.#held.get(d.tag);
    if (h === undefined || h.gen !== this.link.gen || this.link.state !== 'up') {
      this.#take(d);
      return false;
    }
    const lost = lostOf(h.m) + (o?.lost !== undefined ? 1 : 0);
    try {
      await this.#replace(d, lost, o?.lost ?? null);
      return true;
    } catch {
      // Could not publish the copy: requeue the original (the broker counts it, as if its worker was lost).
      const again = this.#take(d);
      if (again === null) return false;
      try {
        again.acker.drop(again.m);
        again.ch.nack(again.m, false, true);
        return true;
      } catch {
        return false;
      }
    }
  }

  /** A copy at the END of its queue (confirmed), then the original acked; its lost deliveries go with it. */
  async requeue(d: SettleableDelivery): Promise<void> {
    const h = this.#held.get(d.tag);
    if (h === undefined) return;
    await this.#replace(d, lostOf(h.m), null);
  }

  /** A retry: the new message keeps the lost deliveries counted so far (a quorum queue's count is not copied). */
  async republish(d: SettleableDelivery, out: OutboundMessage): Promise<void> {
    const h = this.#held.get(d.tag);
    const lost = h === undefined ? 0 : lostOf(h.m);
    await this.publish(lost > 0 ? { ...out, headers: { ...out.headers, [LOST_HEADER]: lost } } : out);
    await this.ack([d]);
  }

  /**
   * Our record in the `CELERY_DEAD_LETTER_KEY` queue (capped at `CELERY_DEAD_LETTER_MAX` entries, the oldest dropped
   * first), then basic.reject without requeue: to the queue's dead-letter exchange when it has one, else dropped.
   */
  async deadLetter(d: SettleableDelivery, why: DeadLetter): Promise<void> {
    const h = this.#held.get(d.tag);
    try {
      await this.#record(deadLetterRecord(h?.m ?? null, d.queue, why));
    } catch (err) {
      this.o.logger.warn(
        { queue: d.queue, taskId: why.taskId, err: (err as Error).message },
        'dead-letter record not written',
      );
    }
    const held = this.#take(d);
    // The consumer logs the rejection with its reason; this says where the message went.
    this.o.logger.debug(
      { queue: d.queue, taskId: why.taskId, reason: why.reason },
      "message rejected without requeue (to the queue's dead-letter exchange, if it has one)",
    );
    try {
      held?.acker.drop(held.m);
      held?.ch.reject(held.m, false);
    } catch {
      // the channel closed in between: the broker redelivers it, and it is rejected again
    }
  }

  async #record(body: Buffer): Promise<void> {
    const key = this.o.cfg.deadLetterKey;
    const max = this.o.cfg.deadLetterMax;
    const options = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 };
    const declare = this.#declareOnce(key, (d) => d.recordQueue(key, max > 0 ? { 'x-max-length': max } : {}));
    await this.publisher.publish('', key, body, options, declare);
  }

  /** A task message: to its exchange, or through the default exchange to the queue, declared first as Celery does. */
  async publish(out: OutboundMessage): Promise<void> {
    const options = publishOptions(out);
    if (out.exchange !== '') {
      await this.publisher.publish(out.exchange, out.routingKey, out.body, options);
      return;
    }
    await this.#publishTask(out.routingKey, out.body, options);
  }

  async #publishTask(queue: string, body: Buffer, options: Parameters<Publisher['publish']>[3]): Promise<void> {
    const declare = this.#declareOnce(queue, (d) => d.taskQueue(queueSpec(queue, this.o.cfg)));
    await this.publisher.publish('', queue, body, options, declare);
  }

  /** Queue `queue` declared once per connection before publishing to it, on a channel of its own. */
  #declareOnce(queue: string, declare: (d: Declarer) => Promise<unknown>): () => Promise<void> {
    return () =>
      this.publisher.once(`queue:${queue}`, async () => {
        const declarer = new Declarer(await this.publisher.connection(), this.o.logger);
        try {
          await declare(declarer);
        } finally {
          await declarer.close();
        }
      });
  }

  control(nodename: string): ControlChannel {
    return new AmqpControlChannel(this, nodename);
  }

  events(): EventChannel {
    return (this.#events ??= new AmqpEventChannel(this));
  }

  async close(): Promise<void> {
    await this.#sub?.cancel().catch(() => undefined);
    this.#sub?.flushAcks();
    await this.link.close();
  }
}

/**
 * Connect (or fail with ONE error: BackendUnavailableError naming the redacted URL and the code, which the child
 * reports as a retryable boot failure; AuthenticationError for ACCESS_REFUSED, a boot error); reconnects are
 * automatic once it was up.
 */
export async function openAmqpTransport(url: string, o: TransportOptions): Promise<AmqpTransport> {
  const t = new AmqpTransport(url, o);
  const opened = t.link.open(o.connectTimeoutMs);
  if (o.connectTimeoutMs === null) {
    // Clients and the node: commands wait until the broker is reachable (a client gives up after a few attempts).
    opened.catch(() => undefined);
    return t;
  }
  try {
    await opened;
  } catch (err) {
    const cause = t.link.lastError ?? err;
    await t.link.close();
    const what = o.role === 'broker' ? 'the Celery broker' : `the Celery ${o.role} broker connection`;
    if (isAccessRefused(cause)) {
      throw new AuthenticationError(`${what} ${redactUrl(url)}: authentication failed (ACCESS_REFUSED)`);
    }
    const timedOut = t.link.lastError === null;
    throw new BackendUnavailableError(what, redactUrl(url), timedOut ? 'ETIMEDOUT' : amqpReason(cause), 1);
  }
  return t;
}
