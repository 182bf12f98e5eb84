// The `status` document: one row per child with live CPU/RSS from pidusage, and its table rendering.
// buildStatus and formatStatusTable are pure; sampleUsage is the only IO.
import { assessHealth, summaryLine, type PoolView } from './view.js';

export interface ChildStatusRow {
  index: number;
  pid: number | null;
  state: string;
  /** Since the child was spawned, ms. */
  uptimeMs: number | null;
  restarts: number;
  rssBytes: number | null;
  cpuPercent: number | null;
  active: number;
  processed: number;
  failed: number;
  lastPollAt: number | null;
}

export interface StatusDocument {
  pid: number;
  backend: string;
  hostname: string;
  phase: string;
  uptimeMs: number;
  target: number;
  summary: string;
  healthy: boolean;
  problems: string[];
  children: ChildStatusRow[];
  at: number;
}

export interface Usage {
  cpu: number;
  memory: number;
}

/** CPU % and RSS of each pid; a pid that vanished meanwhile is simply absent. */
export async function sampleUsage(pids: number[]): Promise<Map<number, Usage>> {
  const out = new Map<number, Usage>();
  // Loaded on the first status request, not at start: pidusage costs the supervisor ~3 MB of RSS.
  const { default: pidusage } = await import('pidusage');
  const results = await Promise.allSettled(pids.map((pid) => pidusage(pid)));
  results.forEach((r, i) => {
    const pid = pids[i];
    if (r.status === 'fulfilled' && pid !== undefined) out.set(pid, { cpu: r.value.cpu, memory: r.value.memory });
  });
  return out;
}

/** Pure: the status document from the pool view and a usage sample. */
export function buildStatus(view: PoolView, usage: Map<number, Usage>, now: number, stallMs: number): StatusDocument {
  const health = assessHealth(view, now, stallMs);
  const children = [...view.children]
    .sort((a, b) => a.index - b.index || (a.spawnedAt ?? 0) - (b.spawnedAt ?? 0))
    .map((c): ChildStatusRow => {
      const u = c.pid === null ? undefined : usage.get(c.pid);
      return {
        index: c.index,
        pid: c.pid,
        state: c.state,
        uptimeMs: c.spawnedAt === null ? null : now - c.spawnedAt,
        restarts: c.restarts,
        rssBytes: u?.memory ?? c.rss,
        cpuPercent: u === undefined ? null : Math.round(u.cpu * 10) / 10,
        active: c.active,
        processed: c.processed,
        failed: c.failed,
        lastPollAt: c.lastPollAt,
      };
    });
  return {
    pid: view.pid,
    backend: view.backend,
    hostname: view.hostname,
    phase: view.phase,
    uptimeMs: now - view.startedAt,
    target: view.target,
    summary: summaryLine(view),
    healthy: health.healthy,
    problems: health.reasons,
    children,
    at: now,
  };
}

/** Pure: 3725000 → "1h2m", 4200 → "4s". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

function formatBytes(b: number | null): string {
  if (b === null) return '-';
  if (b < 1024 * 1024) return `${Math.round(b / 1024)}K`;
  return `${(b / (1024 * 1024)).toFixed(1)}M`;
}

/** Pure: the human table `status` prints. */
export function formatStatusTable(doc: StatusDocument): string {
  const head = ['CHILD', 'PID', 'STATE', 'UPTIME', 'RESTARTS', 'RSS', 'CPU%', 'ACTIVE', 'DONE', 'FAILED', 'LAST POLL'];
  const rows = doc.children.map((c) => [
    String(c.index),
    c.pid === null ? '-' : String(c.pid),
    c.state,
    formatDuration(c.uptimeMs),
    String(c.restarts),
    formatBytes(c.rssBytes),
    c.cpuPercent === null ? '-' : c.cpuPercent.toFixed(1),
    String(c.active),
    String(c.processed),
    String(c.failed),
    c.lastPollAt === null ? 'never' : `${formatDuration(Math.max(0, doc.at - c.lastPollAt))} ago`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const lines = [
    `${doc.hostname} (${doc.backend}) pid ${doc.pid}, up ${formatDuration(doc.uptimeMs)} — ${doc.summary}`,
    ...(doc.healthy ? [] : doc.problems.map((p) => `! ${p}`)),
    line(head),
    ...rows.map(line),
  ];
  return `${lines.join('\n')}\n`;
}
