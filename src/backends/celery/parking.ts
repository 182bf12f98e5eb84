// Which held messages are waiting rather than running, as the broker must know it (Transport.setWaiting): a
// lost worker charges only what was running. Marking a message waiting is sent without waiting for the reply; a
// task starts only once the marks on their way are in (a task may kill its child at once), and a message that
// waited is marked running again — awaited — before its code runs. Brokers that count every redelivery
// themselves (AMQP) have no setWaiting: then this does nothing.
import type { Logger } from 'pino';
import type { Held } from './execute.js';
import type { Transport } from './transport.js';

export class Parking {
  readonly #pending = new Set<Promise<void>>();
  /** Give-backs and arrivals a start must wait for, including ones added while it waits (track). */
  readonly #barriers = new Set<Promise<void>>();

  constructor(
    private readonly transport: Transport,
    private readonly logger: Logger,
  ) {}

  /** Waiting (ETA, rate limit, behind a rerun): no wait for the reply. */
  park(held: Held): void {
    if (held.parked || !this.transport.setWaiting) return;
    held.parked = true;
    const p = this.transport.setWaiting(held.delivery, true).catch((err: unknown) => {
      this.logger.debug({ taskId: held.msg.id, err: (err as Error)?.message }, 'could not mark a message waiting');
    });
    this.#pending.add(p);
    void p.then(() => this.#pending.delete(p));
  }

  /**
   * A give-back or the end of arrivals on its way (brokers without setWaiting): the next task starts only once it
   * and every one tracked while it waits are done.
   */
  track(p: Promise<unknown>): void {
    const q = p.then(
      () => undefined,
      () => undefined,
    );
    this.#barriers.add(q);
    void q.then(() => this.#barriers.delete(q));
  }

  /** Must the start of `held` wait for the broker (it waited, or marks are on their way)? */
  mustWait(held: Held): boolean {
    return held.parked || this.#pending.size > 0 || this.#barriers.size > 0;
  }

  /** Resolves once every mark sent so far is in and `held` is marked running. */
  async ready(held: Held): Promise<void> {
    const unpark = async (): Promise<void> => {
      if (!held.parked) return;
      held.parked = false;
      await this.transport.setWaiting?.(held.delivery, false).catch((err: unknown) => {
        this.logger.debug({ taskId: held.msg.id, err: (err as Error)?.message }, 'could not mark a message running');
      });
    };
    await Promise.all([...this.#pending, unpark()]);
    while (this.#barriers.size > 0) await Promise.all([...this.#barriers]);
  }
}
