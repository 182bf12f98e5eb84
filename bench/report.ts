// The one result format every benchmark writes, plus the hand-written SVG bar chart of ratios vs targets.
// Each bench script ends with `await writeResult('<name>', { metrics })`; bench/run.ts merges the files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Anchor {
  /** What the figure is compared with, measured in the same run (e.g. "python celery prefork -c 2"). */
  name: string;
  value: number;
}

export interface Metric {
  name: string;
  /** "tasks/s", "ms", "MB", "%", "lines/s"... */
  unit: string;
  /** Median of several runs. */
  value: number;
  /** Every run's value, when the bench keeps them (the median above comes from these). */
  runs?: number[];
  anchor?: Anchor;
  /** value / anchor.value (or anchor.value / value for lower-is-better units); computed when omitted. */
  ratio?: number;
  /** The target from the issue: a ratio when an anchor exists, else an absolute bound in `unit`. */
  target?: number;
  /** true when smaller is better (latency, memory, CPU); decides how ratio and target compare. */
  lowerIsBetter?: boolean;
}

export interface Machine {
  cores: number;
  ramMB: number;
  cpuModel: string;
  node: string;
  platform: string;
}

export interface BenchResult {
  name: string;
  at: string;
  metrics: Metric[];
  machine: Machine;
  versions: Record<string, string>;
  /** Set by bench/run.ts when the script failed or was not present. */
  error?: string;
  /** Anything else the bench wants kept next to its figures (per-run raw data, CPU accounting...). */
  details?: Record<string, unknown>;
}

// bench/report.ts runs from bench/ (tsx) or dist/bench/ (built): find the project root either way.
const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_ROOT = join(HERE, '..', ...(dirname(HERE).endsWith('dist') ? ['..'] : []));

/** Where bench/run.ts wants the per-bench JSON files (it sets TBW_BENCH_OUT); default bench/results/. */
export function resultsDir(): string {
  return process.env.TBW_BENCH_OUT ?? join(SOURCE_ROOT, 'bench', 'results');
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function machine(): Machine {
  return {
    cores: cpus().length,
    ramMB: Math.round(totalmem() / 1024 / 1024),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function tryRun(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

function pkgVersion(name: string): string | null {
  try {
    const raw = readFileSync(join(SOURCE_ROOT, 'node_modules', name, 'package.json'), 'utf8');
    return (JSON.parse(raw) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Versions of everything the benchmarks touch; missing tools are left out rather than guessed. */
export function versions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  try {
    out['task-backend-worker'] = (
      JSON.parse(readFileSync(join(SOURCE_ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version;
  } catch {
    // not fatal: the other versions still identify the run
  }
  for (const p of ['ioredis', 'celery-node', '@temporalio/worker', '@hatchet-dev/typescript-sdk', 'pino']) {
    const v = pkgVersion(p);
    if (v) out[p] = v;
  }
  const redis = tryRun('redis-server', ['--version']);
  const m = redis?.match(/v=(\S+)/);
  if (m?.[1]) out['redis-server'] = m[1];
  const py = join(SOURCE_ROOT, '.tbw', 'venv', 'bin', 'python');
  const pyOut = tryRun(py, [
    '-c',
    'import sys,importlib.metadata as m;print(sys.version.split()[0]);print(m.version("celery"))',
  ]);
  if (pyOut) {
    const [pv, cv] = pyOut.split('\n');
    if (pv) out.python = pv;
    if (cv) out.celery = cv;
  }
  return out;
}

/** The unrounded ratio of value and anchor (better than the anchor: above 1); undefined without one. */
export function exactRatio(m: Metric): number | undefined {
  if (!m.anchor || m.anchor.value === 0 || m.value === 0) return undefined;
  return m.lowerIsBetter ? m.anchor.value / m.value : m.value / m.anchor.value;
}

/** Fill in ratio from the anchor when the bench did not compute one. */
export function withRatio(m: Metric): Metric {
  const ratio = exactRatio(m);
  if (m.ratio !== undefined || ratio === undefined) return m;
  return { ...m, ratio: Math.round(ratio * 100) / 100 };
}

/**
 * Does the figure meet its target? null when there is no target. A ratio of value and anchor is judged unrounded,
 * not as the table shows it: 4.32 ms against an anchor's 4.30 (0.995×) is shown as 1× but does not meet "≥ 1×".
 */
export function meetsTarget(m: Metric): boolean | null {
  if (m.target === undefined) return null;
  const exact = exactRatio(m);
  const shown = withRatio(m).ratio;
  // A ratio the bench computed itself (a median of per-run ratios) stands; one derived from value ÷ anchor is
  // judged unrounded.
  const derived = exact !== undefined && (shown === undefined || Math.round(exact * 100) / 100 === shown);
  const v = m.anchor ? (derived && exact !== undefined ? exact : (shown ?? Number.NaN)) : m.value;
  return m.anchor || !m.lowerIsBetter ? v >= m.target : v <= m.target;
}

/** Write `<resultsDir>/<name>.json`; returns the path. */
export function writeResult(
  name: string,
  r: { metrics: Metric[]; machine?: Machine; versions?: Record<string, string>; details?: Record<string, unknown> },
): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const result: BenchResult = {
    name,
    at: new Date().toISOString(),
    metrics: r.metrics.map(withRatio),
    machine: r.machine ?? machine(),
    versions: r.versions ?? versions(),
    ...(r.details ? { details: r.details } : {}),
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart: one bar per metric that has a target, drawn as "fraction of target met"
 * (anchored: ratio/target; absolute: value vs bound), with a line at 1.0 = target. No dependencies.
 */
export function renderChart(results: BenchResult[], title: string, subtitle: string): string {
  const rows: { label: string; score: number; text: string; ok: boolean }[] = [];
  for (const r of results) {
    for (const raw of r.metrics) {
      const m = withRatio(raw);
      if (m.target === undefined) continue;
      let score: number;
      let text: string;
      if (m.anchor && m.ratio !== undefined) {
        score = m.ratio / m.target;
        text = `${m.ratio}× vs ${m.anchor.name} (target ${m.target}×)`;
      } else if (m.lowerIsBetter) {
        score = m.value === 0 ? 10 : m.target / m.value;
        text = `${fmt(m.value)} ${m.unit} (target ≤ ${m.target})`;
      } else {
        score = m.value / m.target;
        text = `${fmt(m.value)} ${m.unit} (target ≥ ${m.target})`;
      }
      rows.push({ label: `${r.name}: ${m.name}`, score, text, ok: meetsTarget(m) === true });
    }
  }
  const W = 1120;
  const labelW = 330;
  const barMax = 330;
  const rowH = 26;
  const top = 64;
  const H = top + Math.max(1, rows.length) * rowH + 40;
  const cap = 3; // scores above 3× the target are drawn at 3×, the text still says the real figure
  const x1 = labelW + barMax / cap; // where "target met" is
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="42" fill="#555">${esc(subtitle)}</text>`,
  ];
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const w = Math.max(2, (Math.min(cap, Number.isFinite(row.score) ? row.score : 0) / cap) * barMax);
    parts.push(
      `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(row.label)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${row.ok ? '#2e8b57' : '#c0392b'}"/>`,
      `<text x="${labelW + barMax + 8}" y="${y + 16}" fill="#333">${esc(row.text)}</text>`,
    );
  });
  if (rows.length === 0) parts.push(`<text x="10" y="${top + 16}">no metric with a target was measured</text>`);
  const bottom = top + Math.max(1, rows.length) * rowH;
  parts.push(
    `<line x1="${x1}" y1="${top - 4}" x2="${x1}" y2="${bottom}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${x1}" y="${bottom + 16}" text-anchor="middle">target</text>`,
    `<text x="${labelW + barMax}" y="${bottom + 16}" text-anchor="end" fill="#555">≥ ${cap}× target</text>`,
    `<text x="10" y="${bottom + 32}" fill="#555">green: target met · red: missed · bar = figure ÷ target (medians of several runs, ratios to anchors measured in the same run)</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100);
}
