// Consuming task queues on RabbitMQ as Celery's worker does: declare the queues (amqp-topology.ts), basic.qos, one
// basic.consume per queue, deliveries handed over one at a time in order, raised by one for each held ETA message.
// Channel-wide (global) QoS, Celery's choice, for several classic queues: a raise is one basic.qos. Per consumer
// otherwise (qosMode): there a raise re-subscribes, since RabbitMQ applies a new per-consumer prefetch only to
// consumers started after it (held deliveries stay ours on the channel).
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../../config/types.js';
import type { ConsumeOptions, Delivery, Subscription } from '../transport.js';
import { Acker } from './amqp-ack.js';
import type { AmqpLink } from './amqp-connection.js';
import { Declarer, delayedBindingPlan, delayedDeliveryPlan, queueSpec, type Declared } from './amqp-topology.js';

export type QosMode = 'channel' | 'consumer';

/** What the subscription needs from its transport. */
export interface ConsumeHost {
  readonly link: AmqpLink;
  readonly cfg: CeleryConfig;
  readonly logger: Logger;
  now(): number;
  /**
   * Hold a received message until it is settled and make it the consumer's Delivery; null when the transport
   * replaced it (a counted redelivery, amqp-lost.ts).
   */
  deliver(m: ConsumeMessage, queue: string, gen: number, ch: Channel, acker: Acker): Promise<Delivery | null>;
}

/**
 * Per-consumer QoS where it means the same as Celery's channel-wide one (one queue) or where global QoS is refused
 * (a quorum queue: the broker closes the connection), since RabbitMQ does less work for it (measured here: ~15%
 * less broker CPU per delivery); channel-wide for several classic queues, so their total stays bounded as in Celery.
 */
export function qosMode(declared: readonly Pick<Declared, 'quorum'>[]): QosMode {
  if (declared.length === 1) return 'consumer';
  return declared.every((d) => d.quorum === false) ? 'channel' : 'consumer';
}

export class AmqpSubscription implements Subscription {
  prefetch: number;
  readonly #base: number;
  mode: QosMode = 'channel';
  active = true;
  #ch: Channel | null = null;
  #acker: Acker | null = null;
  #gen = -1;
  readonly #tags = new Map<string, string>();
  /** Deliveries wait until the consumer holds this subscription (release): it may pause it from the first one. */
  #release: () => void = () => undefined;
  #chain: Promise<void> = new Promise<void>((resolve) => (this.#release = resolve));
  #lastUp: number | null = null;
  #resubscribe: Promise<void> | null = null;
  /** Asked to re-subscribe while a re-subscription was running: it runs once more with the newest wishes. */
  #again = false;
  /** Receiving stopped (pause): no consumers until it resumes. */
  #paused = false;
  /** The queues consumed now (add_consumer / cancel_consumer change them in place). */
  #queues: readonly string[];

  constructor(
    private readonly host: ConsumeHost,
    private readonly c: ConsumeOptions,
  ) {
    this.prefetch = this.#base = Math.max(1, c.prefetch);
    this.#queues = [...c.queues];
  }

  /** The consumer holds the subscription now: deliveries received so far are handed over. */
  release(): void {
    this.#release();
  }

  /** Live consumer contact: the connection is up and the consumers are subscribed (pushes need no polling). */
  get lastPollAt(): number | null {
    if (this.#ch !== null && this.host.link.state === 'up' && this.#gen === this.host.link.gen) {
      return (this.#lastUp = this.host.now());
    }
    return this.#lastUp;
  }

  /** On every connection: declare, set the QoS, subscribe. */
  async setup(conn: ChannelModel, gen: number): Promise<void> {
    if (!this.active) return;
    const { cfg, logger } = this.host;
    const declarer = new Declarer(conn, logger);
    try {
      const declared: Declared[] = [];
      for (const q of this.#queues) declared.push(await declarer.taskQueue(queueSpec(q, cfg)));
      if (declared.some((d) => d.quorum !== false)) await this.#delayedDelivery(declarer, declared);
      this.mode = qosMode(declared);
    } finally {
      await declarer.close();
    }
    const ch = await conn.createChannel();
    ch.on('error', (err: Error) => logger.warn({ err: err.message }, 'amqp consumer channel error'));
    // The broker closed the channel (consumer_timeout, a deleted queue): its deliveries went back; start over.
    ch.on('close', () => {
      if (this.#ch === ch && this.active) void conn.close().catch(() => undefined);
    });
    this.#ch = ch;
    this.#acker = new Acker(ch);
    this.#gen = gen;
    this.#tags.clear();
    if (this.mode === 'channel') await ch.prefetch(this.prefetch, true);
    else await ch.prefetch(this.#base, false);
    if (!this.#paused) await this.#subscribe(ch, gen);
    logger.debug({ queues: this.#queues, prefetch: this.prefetch, qos: this.mode }, 'amqp consumer subscribed');
  }

  /** Quorum queues: Celery's DelayedDelivery step (the levels, then each pattern-routing queue's bindings). */
  async #delayedDelivery(declarer: Declarer, declared: readonly Declared[]): Promise<void> {
    try {
      await declarer.plan(delayedDeliveryPlan('quorum'));
      for (const d of declared) {
        if (d.patternExchange) await declarer.plan(delayedBindingPlan(queueSpec(d.queue, this.host.cfg)));
      }
    } catch (err) {
      // As Celery: without it, native delayed delivery is unavailable, the queues still work.
      this.host.logger.warn({ err: (err as Error).message }, 'native delayed delivery not set up');
    }
  }

  async #subscribe(ch: Channel, gen: number): Promise<void> {
    const acker = this.#acker as Acker;
    for (const q of this.#queues) await this.#consumeOne(ch, gen, acker, q);
  }

  async #consumeOne(ch: Channel, gen: number, acker: Acker, q: string): Promise<void> {
    const { consumerTag } = await ch.consume(q, (m) => this.#onMessage(m, q, gen, ch, acker), { noAck: false });
    this.#tags.set(consumerTag, q);
  }

  /**
   * add_consumer / cancel_consumer in place, as Celery's consumer does: declare and basic.consume the new queues,
   * basic.cancel the dropped ones (their unacked deliveries stay ours until settled). Without a live channel the
   * next setup subscribes to the new list.
   */
  async setQueues(queues: readonly string[]): Promise<void> {
    const added = queues.filter((q) => !this.#queues.includes(q));
    const removed = new Set(this.#queues.filter((q) => !queues.includes(q)));
    this.#queues = [...queues];
    const ch = this.#ch;
    const acker = this.#acker;
    const conn = this.host.link.conn;
    if (ch === null || acker === null || conn === null || !this.active) return;
    if (added.length > 0) {
      const declarer = new Declarer(conn, this.host.logger);
      try {
        for (const q of added) await declarer.taskQueue(queueSpec(q, this.host.cfg));
      } finally {
        await declarer.close();
      }
    }
    for (const [tag, q] of [...this.#tags]) {
      if (!removed.has(q)) continue;
      this.#tags.delete(tag);
      await ch.cancel(tag);
    }
    // Paused (a rerun runs alone): resuming subscribes to every queue in #queues.
    if (!this.#paused) for (const q of added) await this.#consumeOne(ch, this.#gen, acker, q);
  }

  #onMessage(m: ConsumeMessage | null, queue: string, gen: number, ch: Channel, acker: Acker): void {
    if (m === null) {
      // basic.cancel from the broker (queue deleted): set everything up again on a fresh connection.
      this.host.logger.warn({ queue }, 'consumer cancelled by the broker; reconnecting');
      if (this.#ch === ch) void this.host.link.conn?.close().catch(() => undefined);
      return;
    }
    // Outstanding from now on: no coalesced ack may cover it before its own ack.
    acker.hold(m);
    // One delivery at a time, in order; a delivery of a channel that has gone meanwhile is dropped (redelivered).
    this.#chain = this.#chain
      .then(async () => {
        if (this.#gen !== gen || this.host.link.gen !== gen) return;
        const d = await this.host.deliver(m, queue, gen, ch, acker);
        if (d !== null) await this.c.onDelivery(d);
      })
      .catch((err: unknown) => this.host.logger.error({ err: (err as Error).message }, 'delivery handling failed'));
  }

  /** Generation `gen` ended: forget its channel (the next setup subscribes again; its acks are void). */
  onDown(gen: number): void {
    if (this.#gen !== gen) return;
    this.#ch = null;
    this.#acker = null;
    this.#tags.clear();
  }

  /** Send the acks waiting for the next turn now (before closing). */
  flushAcks(): void {
    try {
      this.#acker?.flush();
    } catch {
      // the channel is gone: the broker gives those deliveries out again
    }
  }

  setPrefetch(n: number): void {
    const raise = n > this.prefetch;
    this.prefetch = Math.max(1, n);
    const ch = this.#ch;
    if (ch === null || !this.active) return;
    if (this.mode === 'channel') {
      ch.prefetch(this.prefetch, true).catch(() => undefined);
      return;
    }
    if (raise) this.#renewOn(ch);
  }

  async settled(): Promise<void> {
    await this.#resubscribe;
    let tail: Promise<void>;
    do {
      tail = this.#chain;
      await tail;
    } while (tail !== this.#chain);
  }

  /** Stop receiving while the consumer runs a rerun alone (nothing may be charged for its death), then resume. */
  pause(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    const ch = this.#ch;
    if (ch !== null && this.active) this.#renewOn(ch);
  }

  #renewOn(ch: Channel): void {
    if (this.#resubscribe !== null) this.#again = true;
    else this.#resubscribe = this.#renew(ch);
  }

  /** Per-consumer QoS: new consumers with the base prefetch; what the old ones hold is no longer counted. */
  async #renew(ch: Channel): Promise<void> {
    // Coalesce a burst of raises (many ETA messages at once) into one re-subscription.
    await new Promise((r) => setImmediate(r));
    const gen = this.#gen;
    try {
      do {
        this.#again = false;
        for (const tag of [...this.#tags.keys()]) {
          this.#tags.delete(tag);
          await ch.cancel(tag);
        }
        if (this.active && this.#ch === ch && !this.#paused) await this.#subscribe(ch, gen);
      } while (this.#again && this.active && this.#ch === ch);
    } catch (err) {
      this.host.logger.debug({ err: (err as Error).message }, 're-subscription interrupted');
    } finally {
      this.#resubscribe = null;
      // A wish that came while this ran for a channel that has gone since (a reconnect set up a new one): the new
      // channel was subscribed as things stood at its setup, so it catches up now, or it would never resume.
      const now = this.#ch;
      if (this.#again && now !== null && now !== ch && this.active) this.#renewOn(now);
    }
  }

  async cancel(): Promise<void> {
    this.active = false;
    await this.#resubscribe;
    const ch = this.#ch;
    if (ch !== null) {
      for (const tag of [...this.#tags.keys()]) await ch.cancel(tag).catch(() => undefined);
      this.#tags.clear();
    }
    await this.#chain;
  }

  /** Close the consumer channel (its unacked deliveries go back to their queues). */
  async close(): Promise<void> {
    const ch = this.#ch;
    this.#ch = null;
    await ch?.close().catch(() => undefined);
  }
}
