// Waiting for work on Redis without polling and without a loss window: the consumer's fetch stays the atomic
// fetch-and-hold script, and between fetches a "doorbell" rings the moment one of its queue lists changes. Redis
// server-assisted client tracking (CLIENT TRACKING, Redis ≥ 6.0) is the bell: a tracker connection reads the
// queue keys (EXISTS), and Redis sends the next write to any of them as an invalidation to a subscriber connection.
// Nothing is popped by the wait itself, so a child killed while waiting cannot lose a message (a BRPOP/BLMPOP
// would pop before the hold, kombu's window). Older servers, or users not allowed CLIENT, make the consumer poll.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeRedis, connectRedis } from './redis-connection.js';

/** Where Redis publishes invalidations for RESP2 clients that redirect their tracking. */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

/**
 * starting: connections or tracking being set up (the consumer polls meanwhile); ready: armed waits are rung;
 * down: a connection dropped, set up again on its next 'ready'; unsupported: the server refused CLIENT TRACKING
 * (the consumer polls for good); closed.
 */
export type DoorbellState = 'starting' | 'ready' | 'down' | 'unsupported' | 'closed';

/** A refusal that no reconnect will change (old server, ACL without CLIENT): stop trying, poll instead. */
const REFUSED = /unknown (sub)?command|NOPERM|no permissions|wrong number of arguments|syntax error/i;

export class Doorbell {
  #state: DoorbellState = 'starting';
  /** Set by every ring; the consumer clears it before each fetch, so a ring during a fetch is not lost. */
  rung = false;
  /** Told of every ring (the consumer wakes its fetch loop). */
  onRing: (() => void) | null = null;
  readonly #sub: Redis;
  readonly #tracker: Redis;
  /** Bumped by every set-up attempt and every drop: an older attempt that finishes late changes nothing. */
  #gen = 0;
  /** The subscriber's client id while it is subscribed (a subscribed RESP2 connection cannot be asked again). */
  #subId: string | null = null;
  /** Set-ups run one after another (two connections' 'ready' events may come close together). */
  #chain: Promise<void> = Promise.resolve();

  constructor(
    url: string,
    private readonly logger: Logger,
    /** The queue keys watched; add_consumer/cancel_consumer replace them (the next arm tracks the new set). */
    public keys: readonly string[],
  ) {
    // Quiet: the broker connection reports this server's trouble already.
    const open = (): Redis => connectRedis(url, logger, 'broker', { lazy: false, quiet: true, setUpByOwner: true });
    this.#sub = open();
    this.#tracker = open();
    this.#sub.on('message', (channel: string) => {
      if (channel === INVALIDATE_CHANNEL) this.#ring();
    });
    this.#sub.on('close', () => (this.#subId = null));
    for (const c of [this.#sub, this.#tracker]) {
      c.on('ready', () => (this.#chain = this.#chain.then(() => this.#setUp())));
      c.on('close', () => this.#lost());
    }
  }

  get state(): DoorbellState {
    return this.#state;
  }

  /** True while an armed wait is sure to be rung by the next write to a queue key. */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /**
   * Start tracking the queue keys (again: Redis forgets a key once it sent its invalidation) and say whether any
   * of them holds messages now. After this returns false, the next push to any of them rings.
   */
  async arm(): Promise<boolean> {
    return (await this.#tracker.exists(...this.keys)) > 0;
  }

  #ring(): void {
    this.rung = true;
    this.onRing?.();
  }

  /** A connection dropped: armed waits will not be rung until it is set up again; wake the consumer to poll. */
  #lost(): void {
    if (this.#state !== 'ready' && this.#state !== 'starting') return;
    this.#state = 'down';
    this.#gen++;
    this.#ring();
  }

  /** Both connections up: subscribe to invalidations, point the tracker's tracking at the subscriber. */
  async #setUp(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'unsupported') return;
    if (this.#sub.status !== 'ready' || this.#tracker.status !== 'ready') return;
    const gen = ++this.#gen;
    this.#state = 'starting';
    try {
      // The subscriber's id first: a subscribed RESP2 connection may only (un)subscribe.
      if (this.#subId === null) {
        const id = String(await this.#sub.client('ID'));
        await this.#sub.subscribe(INVALIDATE_CHANNEL);
        this.#subId = id;
      }
      await this.#tracker.client('TRACKING', 'OFF');
      await this.#tracker.client('TRACKING', 'ON', 'REDIRECT', this.#subId);
      if (gen !== this.#gen) return;
      this.#state = 'ready';
      this.logger.debug({ keys: this.keys.length }, 'waiting for work on the broker (client tracking)');
      // Tracking starts empty: the consumer must fetch and arm again.
      this.#ring();
    } catch (err) {
      if (gen !== this.#gen) return;
      const message = (err as Error).message;
      if (REFUSED.test(message)) {
        this.#state = 'unsupported';
        this.logger.info(
          { err: message },
          'broker refused CLIENT TRACKING (Redis < 6.0 or an ACL without it): polling for work instead',
        );
        await this.close('unsupported');
      } else {
        // A drop in the middle: the connection's next 'ready' tries again.
        this.#state = 'down';
      }
      this.#ring();
    }
  }

  async close(state: 'closed' | 'unsupported' = 'closed'): Promise<void> {
    this.#state = state;
    this.#gen++;
    this.onRing = null;
    await Promise.all([closeRedis(this.#sub), closeRedis(this.#tracker)]);
  }
}
