// The child's half of the pool's record of running ids (lost-runs.ts), on brokers that count every return of a
// message: it reports each task id before the task's code runs (so the report is written before the task can kill
// this child) and each id that ended (piggybacked on the next start, or sent at the end of the turn), and asks the
// pool about a redelivered id. An unanswered question resolves undefined after a bound (the caller falls back to
// the broker's count).
import { lostAnswer, TOPIC_LOST_ASK, TOPIC_RUNNING } from './lost-runs.js';
import type { LostAnswer } from './transport.js';

/** How long a question waits for the pool (its own wait is bounded by lost-desk.ts WAIT_MS). */
export const ASK_TIMEOUT_MS = 10_000;

export class ChildLostRuns {
  #req = 0;
  readonly #pending = new Map<number, { resolve: (r: LostAnswer | undefined) => void; timer: NodeJS.Timeout }>();
  #done: string[] = [];
  #flushing = false;

  constructor(
    private readonly toPool: (topic: string, data: unknown) => void,
    private readonly askTimeoutMs = ASK_TIMEOUT_MS,
  ) {}

  /** Before the task's code runs: one message, carrying the ids that ended since the last one. */
  started(id: string): void {
    if (this.#done.length === 0) return this.toPool(TOPIC_RUNNING, { start: [id] });
    this.toPool(TOPIC_RUNNING, { start: [id], done: this.#done.splice(0) });
  }

  /** Ended (settled or abandoned): reported with the next start, or at the end of this turn. */
  finished(id: string): void {
    this.#done.push(id);
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      if (this.#done.length > 0) this.toPool(TOPIC_RUNNING, { done: this.#done.splice(0) });
    });
  }

  /** Was `id` running in a child that died? The pool's answer (lost-runs.ts), undefined when none came. */
  ask(id: string): Promise<LostAnswer | undefined> {
    const req = ++this.#req;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(req);
        resolve(undefined);
      }, this.askTimeoutMs);
      this.#pending.set(req, { resolve, timer });
      this.toPool(TOPIC_LOST_ASK, { req, id });
    });
  }

  /** A TOPIC_LOST_ANSWER from the pool. */
  answered(data: unknown): void {
    const a = lostAnswer(data);
    const p = a === undefined ? undefined : this.#pending.get(a.req);
    if (a === undefined || p === undefined) return;
    this.#pending.delete(a.req);
    clearTimeout(p.timer);
    p.resolve({ reason: a.reason, copied: a.copied });
  }

  /** The copy of returned message `id` is published: a return of the original is a duplicate from now on. */
  copied(id: string): void {
    this.toPool(TOPIC_LOST_ASK, { copied: id });
  }

  /** Stopping: questions still open resolve undefined. */
  release(): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.#pending.clear();
  }
}
