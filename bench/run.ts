// `npm run bench`: runs every benchmark script one after the other in one run (same machine state, each with its
// anchor measured inside it), collects the JSON each writes through bench/report.ts, and writes
// bench/results/latest.json and bench/results/chart.svg. A script that is missing or fails is recorded, not fatal.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exactRatio, machine, meetsTarget, renderChart, versions, withRatio, type BenchResult } from './report.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench when built
const ROOT = join(HERE, '..', '..');
const OUT = join(ROOT, 'bench', 'results');
/** Order matters only for readability of the report; each script is independent. */
const BENCHES = (process.env.TBW_BENCHES ?? 'supervisor,celery,celery-database,temporal,hatchet')
  .split(',')
  .filter(Boolean);
// bench/celery needs the most: its drain rounds, then the latency and idle-load passes (~2 min on 2 cores).
const TIMEOUT_S = Number(process.env.TBW_BENCH_TIMEOUT_S ?? 1200);

async function runOne(name: string): Promise<BenchResult> {
  const script = join(HERE, `${name}.js`);
  const base = { name, at: new Date().toISOString(), metrics: [], machine: machine(), versions: {} };
  if (!existsSync(script)) return { ...base, error: `no benchmark script (bench/${name}.ts not built)` };
  const started = Date.now();
  // Own process group, so a timeout can take the bench's servers and workers down with it.
  const p = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let tail = '';
  const keep = (d: Buffer): void => {
    process.stdout.write(d);
    tail = (tail + d.toString()).slice(-3000);
  };
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  const timer = setTimeout(() => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, TIMEOUT_S * 1000);
  const [code, signal] = (await once(p, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  const seconds = Math.round((Date.now() - started) / 1000);
  // Benches write bench/results/<name>.json (their default); only a file written during this run counts.
  const file = join(OUT, `${name}.json`);
  if (existsSync(file) && statSync(file).mtimeMs >= started) {
    const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
    return code === 0 ? r : { ...r, error: `exited ${code ?? signal} after writing its result` };
  }
  const why = signal === 'SIGKILL' ? `timed out after ${TIMEOUT_S} s` : `exited ${code ?? signal} after ${seconds} s`;
  return {
    ...base,
    error: `${why} without writing a result via bench/report.ts writeResult; output tail: ${tail.slice(-600)}`,
  };
}

const fmt = (x: number): string => (Math.abs(x) >= 10_000 ? Math.round(x).toLocaleString('en-US') : String(x));

/** The README's benchmark table, one row per metric, from the merged results. */
function renderTable(results: BenchResult[]): string {
  const rows = [
    '| bench | figure | value | anchor (same run) | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (r.error) rows.push(`| ${r.name} | not measured: ${r.error.slice(0, 80)} |  |  |  |  |  |`);
    for (const x of r.metrics) {
      const ok = meetsTarget(x);
      const anchor = x.anchor ? `${x.anchor.name}: ${fmt(x.anchor.value)}` : '';
      // A miss that two decimals would round up to the target is shown with three (0.995×, not 1×).
      const hidden = ok === false && x.anchor && x.ratio !== undefined && x.ratio >= (x.target ?? Infinity);
      const ratio = x.ratio !== undefined && x.anchor ? `${hidden ? (exactRatio(x) ?? 0).toFixed(3) : x.ratio}×` : '';
      const target =
        x.target === undefined
          ? ''
          : x.anchor
            ? `≥ ${x.target}×`
            : `${x.lowerIsBetter ? '≤' : '≥'} ${fmt(x.target)} ${x.unit}`;
      rows.push(
        `| ${r.name} | ${x.name} | ${fmt(x.value)} ${x.unit} | ${anchor} | ${ratio} | ${target} | ${ok === null ? '' : ok ? 'yes' : '**no**'} |`,
      );
    }
  }
  return `${rows.join('\n')}\n`;
}

async function main(): Promise<void> {
  // `--render`: draw the chart and table again from latest.json (after a change to how they are drawn or judged).
  if (process.argv.includes('--render')) {
    publish(JSON.parse(readFileSync(join(OUT, 'latest.json'), 'utf8')) as Report);
    return;
  }
  mkdirSync(OUT, { recursive: true });
  const results: BenchResult[] = [];
  for (const name of BENCHES) {
    process.stdout.write(`\n=== bench/${name} ===\n`);
    results.push(await runOne(name));
  }
  const m = machine();
  // A partial run (TBW_BENCHES=supervisor) replaces its benches' results and keeps the others' (each has its own `at`).
  const previous =
    existsSync(join(OUT, 'latest.json')) && process.env.TBW_BENCHES !== undefined
      ? (JSON.parse(readFileSync(join(OUT, 'latest.json'), 'utf8')) as { results: BenchResult[] }).results
      : [];
  const merged = [...previous.filter((p) => !BENCHES.includes(p.name)), ...results];
  const order = ['supervisor', 'celery', 'celery-database', 'temporal', 'hatchet'];
  merged.sort((a, b) => ((order.indexOf(a.name) + 99) % 99) - ((order.indexOf(b.name) + 99) % 99));
  const report = {
    at: new Date().toISOString(),
    machine: m,
    versions: versions(),
    results: merged.map((r) => ({ ...r, metrics: r.metrics.map(withRatio) })),
  };
  writeFileSync(join(OUT, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  publish(report);
}

type Report = { at: string; machine: ReturnType<typeof machine>; results: BenchResult[] };

/** The chart, the summary and the README's table from one report. */
function publish(report: Report): void {
  const m = report.machine;
  const subtitle = `${m.cores} cores · ${Math.round(m.ramMB / 1024)} GB · ${m.cpuModel} · node ${m.node} · ${report.at.slice(0, 10)}`;
  writeFileSync(
    join(OUT, 'chart.svg'),
    renderChart(report.results, 'task-backend-worker benchmarks vs targets', subtitle),
  );
  process.stdout.write('\n=== summary ===\n');
  for (const r of report.results) {
    if (r.error) process.stdout.write(`${r.name}: NOT MEASURED (${r.error.slice(0, 200)})\n`);
    for (const x of r.metrics) {
      const ok = meetsTarget(x);
      const ratio = x.ratio !== undefined && x.anchor ? `  ${x.ratio}× ${x.anchor.name}` : '';
      process.stdout.write(
        `${r.name}: ${x.name} = ${x.value} ${x.unit}${ratio}${ok === null ? '' : ok ? '  [target met]' : '  [target MISSED]'}\n`,
      );
    }
  }
  writeFileSync(join(OUT, 'table.md'), renderTable(report.results));
  process.stdout.write(
    `written: ${join(OUT, 'latest.json')}, ${join(OUT, 'chart.svg')}, ${join(OUT, 'table.md')} (the README's table)\n`,
  );
}

await main();
