// Benchmark (one run): activities/s of `task-backend-worker --backend temporal` vs one plain @temporalio/worker
// process (no supervisor, hand-written workflow + activity), same dev server, same task (add_numbers); and
// start → ready of the pool with the prebuilt bundle. Prints a JSON report and a markdown table.
//   node dist/bench/temporal.js [--n 600] [--inflight 100] [--runs 3]      (build first: npm run build)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, '.tbw', 'venv', 'bin', 'temporal');

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '600' },
    inflight: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    slots: { type: 'string', default: '64' },
  },
});
const N = Number(opts.n);
const INFLIGHT = Number(opts.inflight);
const RUNS = Number(opts.runs);
const SLOTS = Number(opts.slots);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startServer(): Promise<{ address: string; proc: ChildProcess }> {
  if (!existsSync(CLI)) throw new Error(`temporal CLI missing at ${CLI}: run scripts/setup-python.sh`);
  const [p, h, m] = [await freePort(), await freePort(), await freePort()];
  const args = ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', `${p}`, '--http-port', `${h}`];
  const proc = spawn(CLI, [...args, '--metrics-port', `${m}`, '--log-level', 'error'], { stdio: 'ignore' });
  const address = `127.0.0.1:${p}`;
  await until('temporal server', async () => {
    try {
      const c = await Connection.connect({ address, connectTimeout: 500 });
      await c.close();
      return true;
    } catch {
      return false;
    }
  });
  return { address, proc };
}

/** Spawns a process that logs NDJSON; resolves when `readyCount` lines satisfy `isReady`. */
async function spawnReady(
  args: string[],
  env: Record<string, string>,
  isReady: (line: Record<string, unknown>) => boolean,
  readyCount: number,
): Promise<{ proc: ChildProcess; ms: number; lines: Record<string, unknown>[] }> {
  const started = Date.now();
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  proc.stdout?.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        // not JSON: ignore
      }
    }
  });
  await until('ready', () => {
    if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode}`);
    return lines.filter(isReady).length >= readyCount;
  });
  return { proc, ms: Date.now() - started, lines };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  process.kill(-(proc.pid as number), 'SIGTERM');
  const t = setTimeout(() => process.kill(-(proc.pid as number), 'SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

/** Runs N add_numbers workflows (1 activity each) with at most INFLIGHT outstanding; returns activities/s. */
async function load(client: Client, queue: string, tag: string): Promise<number> {
  let next = 0;
  const started = Date.now();
  const lane = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const r = await client.workflow.execute('add_numbers', { taskQueue: queue, workflowId: `${tag}-${i}`, args: [[i, 1], {}] });
      if (r !== i + 1) throw new Error(`wrong result ${String(r)} for ${i}`);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, lane));
  return N / ((Date.now() - started) / 1000);
}

const PLAIN_WORKFLOW = `import { proxyActivities } from '@temporalio/workflow';
const { add_numbers: add } = proxyActivities({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 1 } });
export async function add_numbers(args, kwargs) { return add(args, kwargs); }
`;
const PLAIN_WORKER = `import { DefaultLogger, NativeConnection, Worker, Runtime } from '@temporalio/worker';
Runtime.install({ shutdownSignals: ['SIGTERM'], logger: new DefaultLogger('WARN') });
const [address, queue, slots, bundlePath] = process.argv.slice(2);
const { readFileSync } = await import('node:fs');
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection, taskQueue: queue, workflowBundle: { code: readFileSync(bundlePath, 'utf8') },
  activities: { add_numbers: async (args) => args[0] + args[1] },
  maxConcurrentActivityTaskExecutions: Number(slots), maxConcurrentWorkflowTaskExecutions: Number(slots),
  maxCachedWorkflows: 200, workflowThreadPoolSize: 1,
});
console.log(JSON.stringify({ msg: 'plain ready' }));
await worker.run();
`;

async function preparePlain(): Promise<{ script: string; bundle: string }> {
  // Under .tbw/ so the plain worker resolves @temporalio/* from this package's node_modules.
  const dir = join(ROOT, '.tbw', 'bench-temporal');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'workflows.mjs'), PLAIN_WORKFLOW);
  writeFileSync(join(dir, 'worker.mjs'), PLAIN_WORKER);
  const bundle = join(dir, 'bundle.js');
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: join(dir, 'workflows.mjs'), logger: quietLogger() });
  writeFileSync(bundle, code);
  return { script: join(dir, 'worker.mjs'), bundle };
}

function quietLogger() {
  const nop = (): void => undefined;
  return { log: nop, trace: nop, debug: nop, info: nop, warn: nop, error: nop };
}

async function main(): Promise<void> {
  const server = await startServer();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const poolArgs = (c: number): string[] => {
    const flags = ['--backend', 'temporal', '-c', `${c}`, '--child-concurrency', `${SLOTS}`, '--log-format', 'json'];
    return [main, ...flags, '-l', 'info'];
  };
  const childReady = (l: Record<string, unknown>) => l.msg === 'child ready';
  const report: Record<string, unknown> = { n: N, inflight: INFLIGHT, slots: SLOTS, runs: RUNS };
  try {
    const plain = await preparePlain();
    const rates: Record<string, number[]> = { plain: [], pool1: [], pool2: [] };
    const ready: number[] = [];
    const bootMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const q = `bench-plain-${run}`;
      const p = await spawnReady([plain.script, server.address, q, `${SLOTS}`, plain.bundle], {}, (l) => l.msg === 'plain ready', 1);
      await load(client, q, `w-${q}`); // warm-up pass (JIT, server caches), not counted
      rates.plain?.push(await load(client, q, `m-${q}`));
      await stop(p.proc);
      for (const c of [1, 2]) {
        const queue = `bench-pool${c}-${run}`;
        const pool = await spawnReady(poolArgs(c), { TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: queue }, childReady, c);
        if (c === 2) {
          ready.push(pool.ms);
          bootMs.push(...pool.lines.filter(childReady).map((l) => Number(l.bootMs)));
        }
        await load(client, queue, `w-${queue}`);
        rates[`pool${c}`]?.push(await load(client, queue, `m-${queue}`));
        await stop(pool.proc);
      }
      process.stderr.write(`run ${run + 1}/${RUNS}: ${JSON.stringify(Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, round(v.at(-1) ?? 0)])))}\n`);
    }
    const plainMed = median(rates.plain ?? []);
    const pool1 = median(rates.pool1 ?? []);
    const pool2 = median(rates.pool2 ?? []);
    Object.assign(report, {
      activitiesPerSec: { plainWorker: round(plainMed), pool_c1: round(pool1), pool_c2: round(pool2) },
      ratios: { c1_vs_plain: round(pool1 / plainMed), c2_per_child_vs_plain: round(pool2 / 2 / plainMed), c2_vs_plain: round(pool2 / plainMed) },
      startToReadyMs: { pool_c2_median: median(ready), child_boot_median: median(bootMs), all: ready },
      raw: rates,
    });
    console.log(JSON.stringify(report, null, 2));
    // Shared result format for `npm run bench` (bench/report.ts).
    const { writeResult } = await import('./report.js');
    const plainAnchor = { name: 'plain @temporalio/worker', value: round(plainMed) };
    writeResult('temporal', {
      metrics: [
        { name: 'activities/s per child (-c 2)', unit: 'activities/s', value: round(pool2 / 2), runs: (rates.pool2 ?? []).map((x) => round(x / 2)), anchor: plainAnchor, target: 0.95 },
        { name: 'activities/s (-c 1)', unit: 'activities/s', value: round(pool1), runs: rates.pool1, anchor: plainAnchor },
        { name: 'start → ready (-c 2)', unit: 'ms', value: median(ready), runs: ready, target: 2000, lowerIsBetter: true },
      ],
    });
  } finally {
    await connection.close();
    server.proc.kill('SIGTERM');
  }
}

await main();
