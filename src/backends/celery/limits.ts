// Celery's per-task limits set by remote control, the child's half: which task names have a rate limit (each run
// then waits for a token from the node, which holds one bucket per task name for the whole pool) and which have
// time limits. The table arrives in the child's config at fork and over IPC when it changes.
import type { TaskLimits } from '../../config/types.js';
import { pyStringRepr } from '../../tasks/pyfmt.js';
import { isObj } from '../../util/json.js';

/** IPC topics between the children and the node (src/backends/celery/extension.ts). */
export const TOPIC_RATE = 'celery.rate';
export const TOPIC_LIMITS = 'celery.limits';

export type TaskLimitsTable = Readonly<Record<string, TaskLimits>>;

/** A Python exception as Celery's control replies name it (`ValueError("...")`), for pidbox error replies. */
export class PyError extends Error {
  constructor(
    readonly pyType: 'ValueError' | 'KeyError' | 'TypeError' | 'AttributeError',
    message: string,
  ) {
    super(message);
  }
  /** repr(exc) as kombu's pidbox puts it in {'error': repr(exc)}. */
  get repr(): string {
    return `${this.pyType}(${pyStringRepr(this.message)})`;
  }
}

const PER: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * celery.utils.time.rate: `"100/m"`, `"2/h"`, `"0.5/s"` or a bare number (per second) → tokens per second; a
 * falsy value or 0 → 0 (no limit). Throws PyError ValueError for a bad number, KeyError for an unknown unit.
 */
export function parseRate(r: unknown): number {
  if (r === null || r === undefined || r === '' || r === 0 || r === false) return 0;
  if (typeof r === 'number') return Number.isFinite(r) && r > 0 ? r : 0;
  const s = String(r);
  const slash = s.indexOf('/');
  const ops = slash < 0 ? s : s.slice(0, slash);
  const unit = slash < 0 ? 's' : s.slice(slash + 1) || 's';
  const per = PER[unit];
  if (per === undefined) throw new PyError('KeyError', unit);
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(ops)) {
    throw new PyError('ValueError', `could not convert string to float: ${pyStringRepr(ops)}`);
  }
  return Number(ops) / per || 0;
}

/** kombu.utils.limits.TokenBucket with Celery's capacity of 1: starts full, refills at `fillRate` per second. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly fillRate: number,
    private readonly now: () => number,
    readonly capacity = 1,
  ) {
    this.#tokens = capacity;
    this.#at = now();
  }

  #fill(): number {
    if (this.#tokens < this.capacity) {
      const t = this.now();
      this.#tokens = Math.min(this.capacity, this.#tokens + (this.fillRate * (t - this.#at)) / 1000);
      this.#at = t;
    }
    return this.#tokens;
  }

  /** Take one token if there is one. */
  canConsume(): boolean {
    if (this.#fill() < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Put back a token taken for a child that is gone. */
  refund(): void {
    this.#tokens = Math.min(this.capacity, this.#tokens + 1);
  }

  /** Milliseconds until a token is there (kombu's expected_time). */
  expectedMs(): number {
    return (Math.max(0, 1 - this.#fill()) / this.fillRate) * 1000;
  }
}

/** What the consumer and executions ask about a task name. */
export interface TaskLimitsView {
  /** null: no rate limit, run now. Else resolves true once the node granted a token (false: stopped waiting). */
  token(task: string): Promise<boolean> | null;
  /** Time limits set by remote control (seconds, null = none), or null when none were set for this task. */
  timeLimits(task: string): { softS: number | null; hardS: number | null } | null;
}

/** Pure: a table received over IPC, checked (a bad entry is dropped). */
export function limitsTable(v: unknown): TaskLimitsTable {
  const out: Record<string, TaskLimits> = {};
  if (!isObj(v)) return out;
  const n = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : null);
  for (const [task, l] of Object.entries(v)) {
    if (!isObj(l)) continue;
    const time = isObj(l.time) ? { softS: n(l.time.softS), hardS: n(l.time.hardS) } : null;
    out[task] = { rateLimit: typeof l.rateLimit === 'string' ? l.rateLimit : null, time };
  }
  return out;
}

/** The child's table and its token requests to the node. */
export class ChildLimits implements TaskLimitsView {
  #table: TaskLimitsTable;
  #next = 0;
  readonly #pending = new Map<number, (granted: boolean) => void>();

  constructor(
    table: TaskLimitsTable | undefined,
    private readonly toPool: (topic: string, data: unknown) => void,
  ) {
    this.#table = table ?? {};
  }

  set(table: TaskLimitsTable): void {
    this.#table = table;
  }

  token(task: string): Promise<boolean> | null {
    let limited = false;
    try {
      limited = parseRate(this.#table[task]?.rateLimit) > 0;
    } catch {
      limited = false; // the node refused such a rate; nothing to wait for
    }
    if (!limited) return null;
    const req = ++this.#next;
    return new Promise<boolean>((resolve) => {
      this.#pending.set(req, resolve);
      this.toPool(TOPIC_RATE, { req, task });
    });
  }

  /** The node's answer to token request `req`. */
  granted(data: unknown): void {
    const req = isObj(data) && typeof data.req === 'number' ? data.req : null;
    if (req === null) return;
    this.#pending.get(req)?.(true);
    this.#pending.delete(req);
  }

  /** Stop waiting (cold stop): every pending request resolves false. */
  release(): void {
    for (const r of this.#pending.values()) r(false);
    this.#pending.clear();
  }

  timeLimits(task: string): { softS: number | null; hardS: number | null } | null {
    return this.#table[task]?.time ?? null;
  }
}
