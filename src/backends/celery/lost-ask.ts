// The child's half of the pool's record of running ids (lost-runs.ts), on brokers that count every return of a
// message: it records task ids before their code runs (the tasks started in one turn of the event loop in ONE
// write, made before any of them starts, so before a task can kill this child) and each id that ended (sent
// DONE_FLUSH_MS later), and asks the pool about a redelivered id. The record is a file the pool reads when it needs
// it (run-record.ts: no wake-up of the supervisor per task); without one, starts go down the IPC pipe, with the ends
// piggybacked. An unanswered question resolves undefined after a bound (the caller falls back to the broker's count).
import { lostAnswer, TOPIC_LOST_ASK, TOPIC_RUNNING } from './lost-runs.js';
import type { RunRecordWriter } from './run-record.js';
import type { LostAnswer } from './transport.js';

/** How long a question waits for the pool (its own wait is bounded by lost-desk.ts WAIT_MS). */
export const ASK_TIMEOUT_MS = 10_000;
/** Ended ids not carried by a start report go out after this long (one IPC write per interval, not per task). */
export const DONE_FLUSH_MS = 50;

export class ChildLostRuns {
  #req = 0;
  readonly #pending = new Map<number, { resolve: (r: LostAnswer | undefined) => void; timer: NodeJS.Timeout }>();
  #done: string[] = [];
  #flushing = false;
  #starts: string[] = [];
  #sent: Promise<void> | null = null;
  /** What runs now (started, not ended): the record's content. */
  readonly #running = new Set<string>();

  constructor(
    private readonly toPool: (topic: string, data: unknown) => void,
    private readonly askTimeoutMs = ASK_TIMEOUT_MS,
    private record: RunRecordWriter | null = null,
  ) {}

  /**
   * A task is about to start: resolves once its report is written; its code must not run before. Every start of
   * this turn goes in one message (one IPC write per batch of deliveries, not per task), with the ids that ended
   * since the last one.
   */
  started(id: string): Promise<void> {
    this.#starts.push(id);
    this.#running.add(id);
    // setImmediate, not a microtask: amqplib hands over every delivery of one socket read in this I/O phase, each
    // reaching here a few microtasks apart; all of them share the one write.
    this.#sent ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#sent = null;
        this.#record(this.#starts.splice(0));
        resolve();
      }),
    );
    return this.#sent;
  }

  /**
   * What runs now, in the record; without one, `start` (the starts since the last report) down the pipe, with the
   * ends so far. A write that fails gives the record up for good: the pool hears everything that runs by IPC then.
   */
  #record(start: string[]): void {
    if (this.record !== null) {
      try {
        this.record.write([...this.#running]);
        return;
      } catch {
        this.record.close();
        this.record = null;
        start = [...this.#running];
      }
    }
    this.toPool(TOPIC_RUNNING, this.#done.length === 0 ? { start } : { start, done: this.#done.splice(0) });
  }

  /** Ended (settled or abandoned): sent DONE_FLUSH_MS later (without a record, with the next start if sooner). */
  finished(id: string): void {
    this.#done.push(id);
    this.#running.delete(id);
    if (this.#flushing) return;
    this.#flushing = true;
    // Not at once: the pool only needs them to answer about a returned id whose child lives on, which waits up to
    // seconds anyway. The record drops them first, so the pool never reads an id back after its end was reported.
    setTimeout(() => {
      this.#flushing = false;
      if (this.#done.length === 0) return;
      if (this.record !== null) this.#record([]);
      if (this.#done.length > 0) this.toPool(TOPIC_RUNNING, { done: this.#done.splice(0) });
    }, DONE_FLUSH_MS).unref();
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
    this.record?.close();
    this.record = null;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.#pending.clear();
  }
}
