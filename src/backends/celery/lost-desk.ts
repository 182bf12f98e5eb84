// The pool's answers to "was this redelivered id running in a child that died?" (lost-runs.ts). The broker gives a
// dead child's messages back the moment its connection closes, possibly before the pool has read that child's last
// messages or processed its exit: an id still listed as running in a child waits for that child's exit (charged)
// or its finish report (not charged), bounded; an id nobody lists waits a moment (another child's pipe may still
// hold its start report) and is then not charged. Children that keep their record in a file (run-record.ts) send no
// start reports: the desk reads their records when a question comes and when one of them exits.
import { LostRuns, lostQuestion, runningReport, TOPIC_LOST_ANSWER, type LostVerdict } from './lost-runs.js';

/**
 * An unknown id is answered after this long. Enough: a dead child's start report was written before it died, so
 * before the broker gave its message back to another child, which then asked; the poll that read the question saw
 * the report's pipe readable too, and Node emits what it read there before any timer runs. Kept short because a
 * child checks the messages it gets back one at a time (after a broker restart, every held one).
 */
export const SETTLE_MS = 2;
/** An id still running in a live child is answered "not charged" after this long (its child lost a connection). */
export const WAIT_MS = 3000;

export interface DeskIo {
  send(gen: number, topic: string, data: unknown): void;
  now(): number;
  /** Each answer, for the pool's debug log. */
  answered?(id: string, reason: string | null, copied: boolean): void;
  /** The file records of the live children, read now, by gen (null: not readable whole). */
  records?(): Iterable<readonly [number, readonly string[] | null]>;
}

interface Waiter {
  asker: number;
  req: number;
  id: string;
  /** The child listed as running it, or null while settling. */
  on: number | null;
  timer: NodeJS.Timeout;
}

export class LostDesk {
  readonly #waiting = new Set<Waiter>();
  /** Children that report their starts over IPC (no record, or its write failed): their files are not read. */
  readonly #piped = new Set<number>();

  constructor(
    readonly runs: LostRuns,
    private readonly io: DeskIo,
    private readonly o = { settleMs: SETTLE_MS, waitMs: WAIT_MS },
  ) {}

  /** A child's TOPIC_RUNNING report; waiters on an id that child finished are answered "not charged". */
  report(gen: number, data: unknown): void {
    const r = runningReport(data);
    if (r === null) return;
    if (r.start.length > 0) this.#piped.add(gen);
    this.runs.report(gen, r);
    if (r.done.length > 0 && this.#waiting.size > 0) this.#recheck();
  }

  /** A child's TOPIC_LOST_ASK. */
  ask(gen: number, data: unknown): void {
    const q = lostQuestion(data);
    if (q === null) return;
    if ('copied' in q) return this.runs.copied(q.copied, this.io.now());
    this.#read();
    const v = this.runs.verdict(q.id, this.io.now());
    if (v.kind === 'charged' || v.kind === 'copied') return this.#answer(gen, q.req, q.id, v);
    const w: Waiter = { asker: gen, req: q.req, id: q.id, on: null, timer: undefined as unknown as NodeJS.Timeout };
    if (v.kind === 'running') this.#wait(w, v.gen);
    else w.timer = setTimeout(() => this.#settled(w), this.o.settleMs).unref();
    this.#waiting.add(w);
  }

  /**
   * Child `gen` is gone (`reason`: it died, what it ran is charged); waiters on it get their answer. `record`: its
   * file record, read after its exit (null: unreadable, what the desk last read counts).
   */
  exited(gen: number, reason: string | null, record?: readonly string[] | null): void {
    if (record != null && !this.#piped.has(gen)) this.runs.replace(gen, record);
    this.#piped.delete(gen);
    this.runs.exited(gen, reason, this.io.now());
    if (this.#waiting.size > 0) this.#recheck();
  }

  close(): void {
    for (const w of this.#waiting) clearTimeout(w.timer);
    this.#waiting.clear();
  }

  /** The live children's file records, as they are now. */
  #read(): void {
    for (const [gen, ids] of this.io.records?.() ?? [])
      if (ids !== null && !this.#piped.has(gen)) this.runs.replace(gen, ids);
  }

  #wait(w: Waiter, gen: number): void {
    w.on = gen;
    w.timer = setTimeout(() => this.#finish(w), this.o.waitMs).unref();
  }

  /** Settled: its start report (if any) has been read. */
  #settled(w: Waiter): void {
    this.#read();
    const v = this.runs.verdict(w.id, this.io.now());
    if (v.kind === 'running') return this.#wait(w, v.gen);
    this.#waiting.delete(w);
    this.#answer(w.asker, w.req, w.id, v);
  }

  #recheck(): void {
    for (const w of [...this.#waiting]) if (w.on !== null && !this.runs.isRunning(w.on, w.id)) this.#finish(w);
  }

  /** No longer running where it was (exited: charged if it died; finished: not), or the wait ran out. */
  #finish(w: Waiter): void {
    clearTimeout(w.timer);
    if (!this.#waiting.delete(w)) return;
    this.#answer(w.asker, w.req, w.id, this.runs.verdict(w.id, this.io.now()));
  }

  /** Charged with its reason, a duplicate of a copy, or (still running in a live child, unknown) not charged. */
  #answer(gen: number, req: number, id: string, v: LostVerdict): void {
    const reason = v.kind === 'charged' ? v.reason : null;
    const copied = v.kind === 'copied';
    this.io.answered?.(id, reason, copied);
    this.io.send(gen, TOPIC_LOST_ANSWER, { req, reason, copied });
  }
}
