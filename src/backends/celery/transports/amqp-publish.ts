// Publishing on RabbitMQ with publisher confirms: a publish resolves only once the broker has taken the message
// (routed and, for a durable queue, written), so a retry, a requeue or an rpc result is never lost silently.
// One confirm channel per connection generation, opened on first use; a publish interrupted by a lost
// connection is sent again on the next one (at least once, like kombu's publish with retry).
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { Logger } from 'pino';
import type { AmqpLink } from './amqp-connection.js';

const ATTEMPTS = 5;

export class Publisher {
  #ch: ConfirmChannel | null = null;
  #opening: Promise<ConfirmChannel> | null = null;
  #gen = -1;

  constructor(
    private readonly link: AmqpLink,
    private readonly logger: Logger,
  ) {}

  /** Declarations already made on this connection generation (exchanges, queues), by key. */
  readonly #done = new Map<string, Promise<void>>();
  #doneGen = -1;

  /** Generation `gen` ended: its channel is gone. */
  onDown(gen: number): void {
    if (gen === this.#gen) {
      this.#ch = null;
      this.#opening = null;
    }
  }

  /**
   * Run `declare` once per connection generation for `key` (an exchange or queue to exist before publishing to
   * it); a failed one is tried again next time.
   */
  async once(key: string, declare: () => Promise<void>): Promise<void> {
    if (this.#doneGen !== this.link.gen) {
      this.#done.clear();
      this.#doneGen = this.link.gen;
    }
    let p = this.#done.get(key);
    if (p === undefined) {
      p = declare();
      this.#done.set(key, p);
      p.catch(() => this.#done.delete(key));
    }
    await p;
  }

  /** The live connection (for declarations on channels of their own). */
  connection(): Promise<ChannelModel> {
    return this.link.whenUp();
  }

  async channel(): Promise<ConfirmChannel> {
    const conn = await this.link.whenUp();
    const gen = this.link.gen;
    if (this.#ch !== null && this.#gen === gen) return this.#ch;
    if (this.#opening !== null && this.#gen === gen) return this.#opening;
    this.#gen = gen;
    this.#opening = (async () => {
      const ch = await conn.createConfirmChannel();
      // A channel error (publishing to an exchange that does not exist) fails that publish; the next one reopens.
      ch.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'amqp publish channel error'));
      ch.on('close', () => {
        if (this.#ch === ch) this.#ch = null;
      });
      if (this.#gen === gen) this.#ch = ch;
      return ch;
    })();
    try {
      return await this.#opening;
    } finally {
      this.#opening = null;
    }
  }

  /**
   * Publish and wait for the broker's confirm. `before` runs on the connection first (declare the target queue).
   * A nack (the broker refused it) rejects at once; a channel lost before the confirm is retried.
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: Options.Publish,
    before?: () => Promise<void>,
  ): Promise<void> {
    let last: unknown = null;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const ch = await this.channel();
      try {
        await before?.();
        await new Promise<void>((resolve, reject) => {
          ch.publish(exchange, routingKey, body, options, (err: unknown) =>
            err ? reject(err instanceof Error ? err : new Error(`message nacked by the broker`)) : resolve(),
          );
        });
        return;
      } catch (err) {
        last = err;
        // Let a closing channel's 'close' event land first: its pending confirms fail before it is emitted.
        await new Promise((r) => setImmediate(r));
        // The channel survived: the broker refused this very message (nack); sending it again changes nothing.
        if (this.#ch === ch) throw err;
        if (this.link.state === 'closed') throw err;
      }
    }
    throw last instanceof Error ? last : new Error('publish failed');
  }
}
