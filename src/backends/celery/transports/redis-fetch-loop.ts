// The fetch loop of one Redis consumer: fetch-and-hold up to the free prefetch slots, hand each message over, and
// when the queues are empty wait on the doorbell (redis-doorbell.ts) instead of polling.
import type { Fetched } from './redis-broker.js';
import type { Doorbell } from './redis-doorbell.js';
import { consumeKeys } from './redis-envelope.js';
import type { RedisTransport } from './redis.js';
import type { ConsumeOptions, Subscription, TransportOptions } from '../transport.js';

/** Empty-fetch backoff bounds, only while the doorbell is not set up (or the server cannot ring it). */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 50;

/** The fetch loop of one consumer: bounded by the prefetch, woken by every settle and by the doorbell. */
export class RedisSubscription implements Subscription {
  lastPollAt: number | null = null;
  prefetch: number;
  readonly #base: number;
  active = true;
  /** True from a fetch call until its messages are handed over: their tags are in Redis but not yet held here. */
  fetching = false;
  #errors = 0;
  #wake: (() => void) | null = null;
  /** True while the loop sleeps on an armed doorbell. */
  #onBell = false;
  readonly #loop: Promise<void>;

  constructor(
    private readonly t: RedisTransport,
    private readonly c: ConsumeOptions,
    private readonly o: TransportOptions,
    private keys: readonly string[],
    private readonly bell: Doorbell,
  ) {
    this.prefetch = this.#base = Math.max(1, c.prefetch);
    bell.onRing = () => this.wake();
    this.#loop = this.#run();
  }

  wake(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  setPrefetch(n: number): void {
    this.prefetch = Math.max(1, n);
    this.wake();
  }

  /** Consume from these queues from now on (add_consumer / cancel_consumer): the next fetch and wait use them. */
  setQueues(queues: readonly string[]): Promise<void> {
    this.keys = this.bell.keys = consumeKeys(queues);
    this.wake();
    return Promise.resolve();
  }

  async cancel(): Promise<void> {
    this.active = false;
    this.wake();
    await this.#loop;
  }

  #sleep(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === null ? undefined : setTimeout(() => this.wake(), ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /**
   * Nothing to fetch: arm the doorbell and wait until it rings (a push to a queue key), a settle or the upkeep
   * tick wakes us, or the consumer stops. Without a doorbell (not set up yet, or refused), the next poll of the
   * backoff. Returns the next backoff.
   */
  async #idle(backoff: number): Promise<number> {
    const bell = this.bell;
    if (bell.ready) {
      if (bell.rung) return POLL_MIN_MS;
      try {
        const pending = await bell.arm();
        this.lastPollAt = this.o.now();
        // No await between this check and the sleep: a ring cannot slip in unnoticed.
        if (!pending && !bell.rung && bell.ready && this.active) {
          this.#onBell = true;
          await this.#sleep(null);
          this.#onBell = false;
        }
        return POLL_MIN_MS;
      } catch {
        // the doorbell's connection dropped: poll until it is set up again
      }
    }
    await this.#sleep(backoff);
    return Math.min(POLL_MAX_MS, backoff * 2);
  }

  /**
   * The upkeep tick's safety net under the doorbell, and what keeps an idle child's last poll fresh for the
   * health check: one EXISTS (which re-arms too); a fetch only if a queue holds something after all.
   */
  async tick(): Promise<void> {
    if (!this.#onBell) return;
    try {
      const pending = await this.bell.arm();
      this.lastPollAt = this.o.now();
      if (pending) this.wake();
    } catch {
      this.wake();
    }
  }

  async #run(): Promise<void> {
    let idle = POLL_MIN_MS;
    while (this.active) {
      const free = this.prefetch - this.t.unsettled;
      // Refill in batches (a quarter of the base prefetch) while work is in flight: one fetch per finished task
      // would serialise the pool on fetch round trips. In flight = held beyond what the prefetch was raised for.
      const batch = Math.max(1, Math.ceil(this.#base / 4));
      const inFlight = this.t.unsettled - (this.prefetch - this.#base);
      if (free <= 0 || (free < batch && inFlight > 0)) {
        await this.#sleep(null);
        continue;
      }
      let got: Fetched[];
      this.fetching = true;
      // Cleared before the fetch is sent: a push the fetch misses rings afterwards and is not slept through.
      this.bell.rung = false;
      try {
        got = await this.t.broker.fetch(this.keys, free, this.o.now());
        this.lastPollAt = this.o.now();
        this.#errors = 0;
      } catch (err) {
        this.fetching = false;
        if (this.#errors++ === 0) this.o.logger.warn({ err: (err as Error).message }, 'fetch failed, retrying');
        await this.#sleep(Math.min(100 * this.#errors, 2000));
        continue;
      }
      if (got.length === 0) {
        this.fetching = false;
        idle = await this.#idle(idle);
        continue;
      }
      idle = POLL_MIN_MS;
      for (const f of got) await this.c.onDelivery(this.t.delivery(f));
      this.fetching = false;
    }
  }
}
