// Heartbeat wire format: a cumulative task-duration histogram a child keeps and ships in its heartbeats (optional
// `durations` field); the supervisor sums them across children for the Prometheus `tbw_task_duration_seconds`.

/** Upper bounds in seconds (Prometheus client defaults, stretched for long tasks). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

export interface DurationHistogram {
  /** Upper bounds, seconds, ascending. */
  le: number[];
  /** Observations per bucket (NOT cumulative); one more entry than `le` for the overflow (+Inf) bucket. */
  counts: number[];
  /** Sum of all observations, seconds. */
  sum: number;
  count: number;
}

export function emptyHistogram(le: readonly number[] = DEFAULT_BUCKETS): DurationHistogram {
  return { le: [...le], counts: new Array<number>(le.length + 1).fill(0), sum: 0, count: 0 };
}

/** Record one duration (mutates `h`; a child owns its histogram). Allocation-free: it runs once per task. */
export function observe(h: DurationHistogram, seconds: number): void {
  const le = h.le;
  let i = 0;
  while (i < le.length && !(seconds <= (le[i] as number))) i++;
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.sum += seconds;
  h.count += 1;
}

/** Pure: the sum of two histograms; null when their buckets differ (then the caller keeps the first). */
export function addHistograms(a: DurationHistogram, b: DurationHistogram): DurationHistogram | null {
  if (a.le.length !== b.le.length || a.le.some((v, i) => v !== b.le[i])) return null;
  return {
    le: [...a.le],
    counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)),
    sum: a.sum + b.sum,
    count: a.count + b.count,
  };
}

/** Pure: a structural check for a histogram received over IPC. */
export function isHistogram(v: unknown): v is DurationHistogram {
  const h = v as Partial<DurationHistogram> | null;
  return (
    typeof h === 'object' &&
    h !== null &&
    Array.isArray(h.le) &&
    Array.isArray(h.counts) &&
    h.counts.length === h.le.length + 1 &&
    h.le.every((b) => typeof b === 'number' && Number.isFinite(b)) &&
    h.counts.every((c) => typeof c === 'number' && Number.isFinite(c) && c >= 0) &&
    typeof h.sum === 'number' &&
    Number.isFinite(h.sum) &&
    typeof h.count === 'number' &&
    Number.isFinite(h.count)
  );
}
