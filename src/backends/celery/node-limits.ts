// Celery's per-task limits, the node's half (one per pool, in the supervisor): the table remote control changes,
// handed to running children over IPC and to later forks through the child config, and ONE token bucket per rate
// limited task name for the whole node, as a Celery worker has one per task type across its pool. Children ask
// for a token before each run; requests wait in order and are granted as the bucket refills.
import type { TaskLimits } from '../../config/types.js';
import type { PoolHandle } from '../../supervisor/api.js';
import { isObj } from '../../util/json.js';
import { parseRate, type TaskLimitsTable, TokenBucket, TOPIC_LIMITS, TOPIC_RATE } from './limits.js';

type Pool = Pick<PoolHandle, 'send' | 'snapshot' | 'setChildConfig' | 'childConfig' | 'logger'>;

interface Waiter {
  gen: number;
  req: number;
}

interface Limited {
  bucket: TokenBucket;
  waiting: Waiter[];
  timer: NodeJS.Timeout | null;
}

export class NodeLimits {
  #table: TaskLimitsTable;
  readonly #rates = new Map<string, Limited>();

  constructor(
    private readonly pool: Pool,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#table = pool.childConfig().celery.taskLimits ?? {};
    for (const [task, l] of Object.entries(this.#table)) this.#setRate(task, l.rateLimit);
  }

  table(): TaskLimitsTable {
    return this.#table;
  }

  /** Change one task's limits: later runs everywhere in the pool obey them (running children are told now). */
  set(task: string, change: Partial<TaskLimits>): void {
    const cur: TaskLimits = this.#table[task] ?? { rateLimit: null, time: null };
    const next = { ...cur, ...change };
    this.#table = { ...this.#table, [task]: next };
    if ('rateLimit' in change) this.#setRate(task, next.rateLimit);
    const table = this.#table;
    this.pool.setChildConfig((c) => ({ ...c, celery: { ...c.celery, taskLimits: table } }));
    for (const c of this.pool.snapshot().children) this.push(c.gen);
  }

  /** Tell one child the table (running children on a change; a child that just became ready, to close the race). */
  push(gen: number): void {
    if (Object.keys(this.#table).length > 0) {
      this.pool.send(gen, { type: 'extension', topic: TOPIC_LIMITS, data: this.#table });
    }
  }

  /** A child's token request (`{req, task}` on TOPIC_RATE). */
  request(gen: number, data: unknown): void {
    if (!isObj(data) || typeof data.req !== 'number' || typeof data.task !== 'string') return;
    const waiter = { gen, req: data.req };
    const r = this.#rates.get(data.task);
    if (r === undefined) {
      this.#grant(waiter); // no (longer a) limit: run now
      return;
    }
    r.waiting.push(waiter);
    this.#serve(r);
  }

  /** Drop every pending timer (the pool is exiting). */
  close(): void {
    for (const r of this.#rates.values()) if (r.timer) clearTimeout(r.timer);
  }

  #setRate(task: string, rate: string | null): void {
    let perS = 0;
    try {
      perS = parseRate(rate);
    } catch {
      perS = 0; // refused by the command before it got here
    }
    const old = this.#rates.get(task);
    if (old?.timer) clearTimeout(old.timer);
    if (perS <= 0) {
      this.#rates.delete(task);
      for (const w of old?.waiting ?? []) this.#grant(w);
      return;
    }
    // A new bucket (Celery's reset_rate_limits); requests already waiting keep their place in it.
    const r: Limited = { bucket: new TokenBucket(perS, this.now), waiting: old?.waiting ?? [], timer: null };
    this.#rates.set(task, r);
    this.#serve(r);
  }

  /** Grant while there are tokens; then wait for the next one (kombu's expected_time), in request order. */
  #serve(r: Limited): void {
    if (r.timer !== null) return;
    while (r.waiting.length > 0) {
      if (!r.bucket.canConsume()) {
        r.timer = setTimeout(
          () => {
            r.timer = null;
            this.#serve(r);
          },
          Math.max(1, Math.ceil(r.bucket.expectedMs())),
        );
        return;
      }
      const w = r.waiting.shift() as Waiter;
      // A child that is gone cannot use its token: the next request gets it.
      if (!this.#grant(w)) r.bucket.refund();
    }
  }

  #grant(w: Waiter): boolean {
    return this.pool.send(w.gen, { type: 'extension', topic: TOPIC_RATE, data: { req: w.req } });
  }
}
