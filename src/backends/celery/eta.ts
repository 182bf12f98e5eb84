// The ETA/countdown messages one child holds until they are due (Celery holds them in the worker and raises its
// prefetch by one for each). At most `max` at once; one beyond that goes back to the END of its queue and the
// consumer stops fetching for a backoff (100 ms doubling to 2 s; back to 100 ms when a message runs), then looks
// at the next OVER_CAP_BATCH messages. A queue of far-future messages above the cap costs some tens of Redis
// commands a second (measured in test/e2e/celery-poison-broker.test.ts) instead of a pop-and-push-back loop, and
// work queued behind them still gets through. Timers re-arm past setTimeout's range.
import { ChurnMap } from '../../util/churn-map.js';
import { setLongTimeout } from '../../util/timers.js';
import type { Held } from './execute.js';

const PAUSE_MIN_MS = 100;
const PAUSE_MAX_MS = 2000;
/** How many more messages one fetch may take while the child holds its cap (to get past far-future ones). */
export const OVER_CAP_BATCH = 100;

export interface EtaHoldOptions {
  /** Most messages held at once. */
  max: number;
  /** A held message is due (its timer fired). */
  due(held: Held): void;
  /** Put an over-the-cap message back at the end of its queue (settles it). */
  requeue(held: Held): Promise<void>;
  /** Mark a held message as waiting in the broker (not running: a lost worker does not charge it). */
  park(held: Held): void;
  /** The size or the pause changed: the consumer recomputes its prefetch. */
  changed(): void;
}

export class EtaHold {
  readonly #held = new ChurnMap<string, { held: Held; clear: () => void }>();
  #pauseMs = 0;
  #pauseTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: EtaHoldOptions) {}

  get size(): number {
    return this.#held.size;
  }

  /** Over the cap lately: fetching waits until the pause ends. */
  get paused(): boolean {
    return this.#pauseTimer !== null;
  }

  get full(): boolean {
    return this.#held.size >= this.o.max;
  }

  /** A message ran: work flows behind the held ones, so the next pause starts short again. */
  flowing(): void {
    this.#pauseMs = 0;
  }

  list(): Held[] {
    return [...this.#held.values()].map((e) => e.held);
  }

  async hold(held: Held, inMs: number): Promise<void> {
    if (this.#held.size >= this.o.max) {
      await this.o.requeue(held);
      this.#pause();
      return;
    }
    const clear = setLongTimeout(() => {
      this.#held.delete(held.tag);
      this.#pauseMs = 0; // room again: the next over-cap one starts from the shortest pause
      this.o.changed();
      this.o.due(held);
    }, inMs);
    this.#held.set(held.tag, { held, clear });
    this.o.park(held);
    this.o.changed();
  }

  #pause(): void {
    if (this.#pauseTimer !== null) return;
    this.#pauseMs = Math.min(PAUSE_MAX_MS, Math.max(PAUSE_MIN_MS, this.#pauseMs * 2));
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = null;
      this.o.changed();
    }, this.#pauseMs);
    this.o.changed();
  }

  /** The held messages `pick` chooses, timers cleared (a revoke ends them before they are due). */
  take(pick: (held: Held) => boolean): Held[] {
    const out: Held[] = [];
    for (const [tag, { held, clear }] of this.#held) {
      if (!pick(held)) continue;
      clear();
      this.#held.delete(tag);
      out.push(held);
    }
    if (out.length > 0) this.o.changed();
    return out;
  }

  /** Forget the held messages whose tags are in `tags` (their channel closed: the broker has them back). */
  drop(tags: ReadonlySet<string>): number {
    let n = 0;
    for (const [tag, { clear }] of this.#held) {
      if (!tags.has(tag)) continue;
      clear();
      this.#held.delete(tag);
      n++;
    }
    return n;
  }

  /** Everything held, timers cleared (drain and stop give them back). */
  takeAll(): Held[] {
    const out: Held[] = [];
    for (const { held, clear } of this.#held.values()) {
      clear();
      out.push(held);
    }
    this.#held.clear();
    if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = null;
    return out;
  }
}
