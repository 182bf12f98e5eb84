// Prometheus metrics and /healthz over an opt-in HTTP server bound to loopback by default.
// MetricsCollector folds pool events into counters; renderMetrics is pure; startMetricsServer is the IO.
import type { Server } from 'node:http';
import { addHistograms, isHistogram, type DurationHistogram } from '../ipc/histogram.js';
import { assessHealth, type PoolView } from './view.js';

/** What the collector needs to hear from the supervisor (from-pool.ts translates the pool's events). */
export type OpsEvent =
  /** A replacement child was started for a slot; `reason` says why the previous one went. */
  | { type: 'restart'; slot: number; reason: string }
  | { type: 'exit'; childId: number; code: number | null; signal: string | null; reason: string }
  | {
      type: 'heartbeat';
      childId: number;
      processed: number;
      failed: number;
      durations?: DurationHistogram | undefined;
      counts?: Record<string, number> | undefined;
    };

interface ChildCounters {
  processed: number;
  failed: number;
  durations: DurationHistogram | null;
  /** Backend-specific event counts (BackendStats.counts). */
  counts: Record<string, number>;
}

export class MetricsCollector {
  readonly restarts = new Map<string, number>();
  /** Key: JSON [code, signal, reason]. */
  readonly exits = new Map<string, number>();
  /** Totals of children that are gone, so counters never go down when a child is replaced. */
  private retired: ChildCounters = { processed: 0, failed: 0, durations: null, counts: {} };
  private readonly live = new Map<number, ChildCounters>();

  record(ev: OpsEvent): void {
    switch (ev.type) {
      case 'restart':
        this.restarts.set(ev.reason, (this.restarts.get(ev.reason) ?? 0) + 1);
        return;
      case 'exit': {
        const key = JSON.stringify([ev.code, ev.signal, ev.reason]);
        this.exits.set(key, (this.exits.get(key) ?? 0) + 1);
        const last = this.live.get(ev.childId);
        if (last !== undefined) {
          this.retired = merge(this.retired, last);
          this.live.delete(ev.childId);
        }
        return;
      }
      case 'heartbeat':
        this.live.set(ev.childId, {
          processed: ev.processed,
          failed: ev.failed,
          durations: isHistogram(ev.durations) ? ev.durations : null,
          counts: ev.counts ?? {},
        });
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown ops event ${JSON.stringify(never)}`);
      }
    }
  }

  /** Totals across every child this pool ever ran. */
  totals(): ChildCounters {
    let acc = this.retired;
    for (const c of this.live.values()) acc = merge(acc, c);
    return acc;
  }
}

function merge(a: ChildCounters, b: ChildCounters): ChildCounters {
  let durations = a.durations ?? b.durations;
  if (a.durations !== null && b.durations !== null) durations = addHistograms(a.durations, b.durations) ?? a.durations;
  const counts = { ...a.counts };
  for (const [k, n] of Object.entries(b.counts)) counts[k] = (counts[k] ?? 0) + n;
  return { processed: a.processed + b.processed, failed: a.failed + b.failed, durations, counts };
}

/** Pure: a Prometheus label value, escaped per the text exposition format. */
export function labelValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}=${labelValue(v)}`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Pure: the /metrics body (Prometheus text format 0.0.4). */
export function renderMetrics(view: PoolView, c: MetricsCollector, now: number, stallMs: number): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of rows) out.push(`${name}${labels(l)} ${v}`);
  };
  const backend = view.backend;
  const ready = view.children.filter((ch) => ch.state === 'ready').length;
  const health = assessHealth(view, now, stallMs);
  metric('tbw_children_up', 'gauge', 'Children that are ready and taking work.', [[{ backend }, ready]]);
  metric('tbw_children_target', 'gauge', 'Wanted number of children.', [[{ backend }, view.target]]);
  metric('tbw_healthy', 'gauge', '1 when every child is ready and polling (see /healthz).', [
    [{ backend }, health.healthy ? 1 : 0],
  ]);
  metric(
    'tbw_child_restarts_total',
    'counter',
    'Children replaced, by why the previous one went.',
    [...c.restarts].map(([reason, n]) => [{ backend, reason }, n]),
  );
  metric(
    'tbw_child_exits_total',
    'counter',
    'Child process exits by exit code, signal and reason.',
    [...c.exits].map(([key, n]) => {
      const [code, signal, reason] = JSON.parse(key) as [number | null, string | null, string];
      return [{ backend, code: code === null ? '' : String(code), signal: signal ?? '', reason }, n];
    }),
  );
  const t = c.totals();
  let active = 0;
  for (const ch of view.children) active += ch.active;
  metric('tbw_tasks_total', 'counter', 'Tasks finished, by outcome.', [
    [{ backend, state: 'succeeded' }, Math.max(0, t.processed - t.failed)],
    [{ backend, state: 'failed' }, t.failed],
  ]);
  metric('tbw_tasks_active', 'gauge', 'Tasks running now.', [[{ backend }, active]]);
  metric(
    'tbw_backend_events_total',
    'counter',
    'Backend-specific events (Celery: messages_without_id, messages that carried no task id).',
    Object.entries(t.counts).map(([event, n]) => [{ backend, event }, n]),
  );
  out.push(
    '# HELP tbw_task_duration_seconds Task run time, as reported by the children.',
    '# TYPE tbw_task_duration_seconds histogram',
  );
  const h = t.durations;
  if (h !== null) {
    let cum = 0;
    h.le.forEach((le, i) => {
      cum += h.counts[i] ?? 0;
      out.push(`tbw_task_duration_seconds_bucket${labels({ backend, le: String(le) })} ${cum}`);
    });
    out.push(`tbw_task_duration_seconds_bucket${labels({ backend, le: '+Inf' })} ${h.count}`);
    out.push(`tbw_task_duration_seconds_sum${labels({ backend })} ${h.sum}`);
    out.push(`tbw_task_duration_seconds_count${labels({ backend })} ${h.count}`);
  }
  return `${out.join('\n')}\n`;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  view: () => PoolView;
  collector: MetricsCollector;
  stallMs: number;
  now?: () => number;
}

/** Serve GET /metrics and GET /healthz. Resolves once listening, with the bound port and a close function. */
export async function startMetricsServer(
  opts: MetricsServerOptions,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const now = opts.now ?? Date.now;
  // Loaded only when metrics are on: node:http costs the supervisor ~2 MB of RSS.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/metrics') {
        const body = renderMetrics(opts.view(), opts.collector, now(), opts.stallMs);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
      } else if (path === '/healthz') {
        const h = assessHealth(opts.view(), now(), opts.stallMs);
        res
          .writeHead(h.healthy ? 200 : 503, { 'content-type': 'application/json' })
          .end(`${JSON.stringify({ healthy: h.healthy, problems: h.reasons })}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  let closing: Promise<void> | null = null;
  return {
    server,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
