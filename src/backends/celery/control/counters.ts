// Per-node task counters that survive child replacement (`inspect stats` total, worker heartbeats' processed,
// stats.pool.writes). Each child reports its running totals to the node (throttled, and once more when it
// stops); the node keeps the last report of every live child and folds a child's into the node's own when it
// exits. A child that crashes loses at most its last REPORT_MS of counts.

/** IPC topic of a child's counters: {totals: {task name: started}, processed}. */
export const TOPIC_COUNTERS = 'celery.counters';
export const REPORT_MS = 250;

export interface CounterReport {
  totals: Record<string, number>;
  processed: number;
}

/** Outside data to a report (or null). */
export function counterReport(data: unknown): CounterReport | null {
  const d = data as { totals?: unknown; processed?: unknown } | null;
  if (d === null || typeof d !== 'object' || typeof d.processed !== 'number') return null;
  if (d.totals === null || typeof d.totals !== 'object') return null;
  const totals: Record<string, number> = {};
  for (const [k, v] of Object.entries(d.totals as Record<string, unknown>)) if (typeof v === 'number') totals[k] = v;
  return { totals, processed: d.processed };
}

/** The child's half: counts tasks started per name and reports to the node at most every REPORT_MS. */
export class ChildCounters {
  readonly totals = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly processed: () => number,
    private readonly toPool: (topic: string, data: unknown) => void,
  ) {}

  started(task: string): void {
    this.totals.set(task, (this.totals.get(task) ?? 0) + 1);
    this.changed();
  }

  /** Something counted changed (a task ended): report soon. */
  changed(): void {
    this.#timer ??= setTimeout(() => this.flush(), REPORT_MS).unref();
  }

  /** Report now (the child is stopping). */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.toPool(TOPIC_COUNTERS, { totals: Object.fromEntries(this.totals), processed: this.processed() });
  }
}

/** The node's half: the live children's last reports plus what exited children had counted. */
export class NodeCounters {
  readonly #live = new Map<number, CounterReport>();
  readonly #gone: CounterReport = { totals: {}, processed: 0 };

  report(gen: number, r: CounterReport): void {
    this.#live.set(gen, r);
  }

  /** Child `gen` is gone: its counts become the node's. */
  exited(gen: number): void {
    const r = this.#live.get(gen);
    if (!r) return;
    this.#live.delete(gen);
    this.#gone.processed += r.processed;
    for (const [k, v] of Object.entries(r.totals)) this.#gone.totals[k] = (this.#gone.totals[k] ?? 0) + v;
  }

  /** Tasks started per name since the node started (Celery's stats `total`). */
  totals(): Record<string, number> {
    const out = { ...this.#gone.totals };
    for (const r of this.#live.values()) for (const [k, v] of Object.entries(r.totals)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  processed(): number {
    let n = this.#gone.processed;
    for (const r of this.#live.values()) n += r.processed;
    return n;
  }

  /** Tasks started by each live child (stats.pool.writes: what the pool handed each process). */
  writes(gen: number): number {
    const r = this.#live.get(gen);
    return r ? Object.values(r.totals).reduce((a, b) => a + b, 0) : 0;
  }
}
