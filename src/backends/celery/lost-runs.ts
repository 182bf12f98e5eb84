// Which task ids were RUNNING in a child when it died, pure: the pool's record on brokers that count every return
// of a message, whatever its reason (RabbitMQ: a quorum queue's `x-delivery-count`, a classic queue's
// `redelivered`). Children report the ids they start and finish; a child's death moves the ids it was running into a
// bounded memory with the reason it died; a child that receives a redelivery asks, and is charged only for a death
// the message was running in (docs/reliability.md, Lost workers). An id is reported with the lost-worker count its
// message carried (runKey): the charged copy carries one more, so a later return of the copy is not charged for the
// same death, while the original, however often the broker gives it back, always is.

/** Child → pool: `{start?: string[], done?: string[]}` (runKeys that start, before their code runs; that ended). */
export const TOPIC_RUNNING = 'celery.running';
/** Child → pool: `{req, id}`, was this runKey running in a child that died? `{copied: id}`: its copy is out. */
export const TOPIC_LOST_ASK = 'celery.lost.ask';
/** Pool → child: `{req, reason, copied}`, the reason it died when it was, null when not; copied: drop it. */
export const TOPIC_LOST_ANSWER = 'celery.lost.answer';

/** How many lost ids the pool remembers, and for how long (a redelivery arrives within seconds). */
export const LOST_MEMORY_MAX = 10_000;
export const LOST_MEMORY_TTL_MS = 10 * 60_000;

/**
 * What is reported and asked about: a task id, the lost-worker count of the message it came in and how many times
 * that message was copied (each copy is another message: its return is not charged for the original's deaths).
 */
export function runKey(id: string, lost: number, copy: number): string {
  return `${lost}.${copy}:${id}`;
}

/** The verdict on one redelivered id. */
export type LostVerdict =
  | { kind: 'charged'; reason: string }
  /** Listed as running in a child whose exit the pool has not processed yet: wait for it (or for its finish). */
  | { kind: 'running'; gen: number }
  | { kind: 'unknown' }
  /** A copy of it was published already (the child that made it died before its ack): a duplicate. */
  | { kind: 'copied' };

const ids = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '').slice(0, 10_000) : [];

/** A running report from a child, checked (it is another process's data). */
export function runningReport(data: unknown): { start: string[]; done: string[] } | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  return { start: ids(d.start), done: ids(d.done) };
}

/** A question (`{req, id}`) or a copy report (`{copied: id}`) from a child, checked. */
export function lostQuestion(data: unknown): { req: number; id: string } | { copied: string } | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  if (typeof d.copied === 'string' && d.copied !== '') return { copied: d.copied };
  return typeof d.req === 'number' && typeof d.id === 'string' && d.id !== '' ? { req: d.req, id: d.id } : null;
}

/** An answer from the pool, checked: undefined when it is not one. */
export function lostAnswer(data: unknown): { req: number; reason: string | null; copied: boolean } | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (typeof d.req !== 'number' || (typeof d.reason !== 'string' && d.reason !== null)) return undefined;
  return { req: d.req, reason: d.reason, copied: d.copied === true };
}

/** Ids lost with a dying child and why, forgotten after `ttlMs` (the oldest first beyond `max` of them). */
export class LostMemory {
  readonly #lost = new Map<string, { reason: string; until: number }>();

  constructor(
    private readonly max = LOST_MEMORY_MAX,
    private readonly ttlMs = LOST_MEMORY_TTL_MS,
  ) {}

  add(id: string, reason: string, now: number): void {
    this.#lost.delete(id);
    this.#lost.set(id, { reason, until: now + this.ttlMs });
    while (this.#lost.size > this.max) this.#lost.delete(this.#lost.keys().next().value as string);
  }

  /** The reason `id` was lost; null when not remembered (or no more). */
  get(id: string, now: number): string | null {
    const e = this.#lost.get(id);
    if (e === undefined) return null;
    if (e.until > now) return e.reason;
    this.#lost.delete(id);
    return null;
  }

  has(id: string): boolean {
    return this.#lost.has(id);
  }

  get size(): number {
    return this.#lost.size;
  }
}

/** The pool's view: what each live child runs (by its gen), what died with a child. */
export class LostRuns {
  readonly #running = new Map<number, Set<string>>();
  readonly memory: LostMemory;
  /** Returned messages whose copy is out (same bounds: a duplicate comes back within seconds). */
  readonly copies: LostMemory;

  constructor(memory = new LostMemory(), copies = new LostMemory()) {
    this.memory = memory;
    this.copies = copies;
  }

  /** A child published the copy of returned message `id` (its ack of the original may never arrive). */
  copied(id: string, now: number): void {
    this.copies.add(id, 'copied', now);
  }

  /** Child `gen`'s own record, read whole: what it runs now. */
  replace(gen: number, ids: readonly string[]): void {
    this.#running.set(gen, new Set(ids));
  }

  report(gen: number, r: { start: readonly string[]; done: readonly string[] }): void {
    let set = this.#running.get(gen);
    if (set === undefined) this.#running.set(gen, (set = new Set()));
    for (const id of r.done) set.delete(id);
    for (const id of r.start) set.add(id);
  }

  /** Child `gen` is gone; with a reason (it died) what it ran is remembered as lost, else (planned) forgotten. */
  exited(gen: number, reason: string | null, now: number): string[] {
    const set = this.#running.get(gen);
    this.#running.delete(gen);
    const list = set === undefined ? [] : [...set];
    if (reason !== null) for (const id of list) this.memory.add(id, reason, now);
    return list;
  }

  /** Where `id` stands now. */
  verdict(id: string, now: number): LostVerdict {
    if (this.copies.get(id, now) !== null) return { kind: 'copied' };
    const reason = this.memory.get(id, now);
    if (reason !== null) return { kind: 'charged', reason };
    for (const [gen, set] of this.#running) if (set.has(id)) return { kind: 'running', gen };
    return { kind: 'unknown' };
  }

  isRunning(gen: number, id: string): boolean {
    return this.#running.get(gen)?.has(id) ?? false;
  }
}
