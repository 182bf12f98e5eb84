// Benchmark: activities/s of `task-backend-worker --backend temporal` (-c 1, -c 2) vs ONE plain @temporalio/worker
// process (no supervisor, hand-written workflow + activities, the same Worker options and activity options as our
// children), same dev server, same tasks; plus start → ready of the pool with the prebuilt bundle. Two workloads:
//   add     add_numbers, 64 slots per process, 100 workflows in flight: CPU-bound. On 2 shared cores the dev
//           server, this bench's client and the worker(s) compete for the CPU, so it measures the machine.
//   sleep   simulate_work(duration) with a fixed, small number of slots per process (the same for the plain worker
//           and for each child) and enough workflows in flight to keep every slot busy: the machine is NOT
//           saturated, so per-child throughput vs the plain worker is the per-child overhead.
// Each measured pass also samples CPU time per process from /proc (server, bench client, plain worker /
// supervisor / each child) and the machine's busy time, over the same window as the rate: CPU ms per activity.
// For add_numbers a fourth contender, TWO plain workers on the same queue, shows what two processes get out of
// this machine without our supervisor. Contenders run one after the other on the same server, their order rotating
// between runs; figures are medians of the runs, ratios are medians of the per-run ratios (the dev server slows as
// its in-memory history grows, so only contenders of the same run are compared).
//   node dist/bench/temporal.js [--runs 3] [--workloads add,sleep] [--n 300] [--sleep-n 150] ...  (npm run build first)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { activityOptionsFor, registryMeta } from '../src/backends/temporal/meta.js';
import { addNumbers, simulateWork } from '../src/tasks/builtins.js';
import { childPids, cpuWindow, snapshot, type CpuSnapshot, type CpuWindow, type Roles } from './cpu.js';
import { median, writeResult, type Metric } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, '.tbw', 'venv', 'bin', 'temporal');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    workloads: { type: 'string', default: 'add,sleep' },
    /** Override every workload's contenders (plain, plain2, pool1, pool2), e.g. for a one-off comparison. */
    contenders: { type: 'string' },
    // add_numbers (CPU-bound)
    n: { type: 'string', default: '300' },
    warm: { type: 'string', default: '60' },
    inflight: { type: 'string', default: '100' },
    slots: { type: 'string', default: '64' },
    // simulate_work (not saturated)
    'sleep-n': { type: 'string', default: '150' },
    'sleep-warm': { type: 'string', default: '30' },
    'sleep-inflight': { type: 'string', default: '60' },
    'sleep-slots': { type: 'string', default: '10' },
    'sleep-duration': { type: 'string', default: '1' },
  },
});
const RUNS = Number(opts.runs);
const CORES = cpus().length;

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

interface Workload {
  key: 'add' | 'sleep';
  task: string;
  n: number;
  warm: number;
  inflight: number;
  /** Activity (and workflow task) slots per process: the plain worker's and each child's. */
  slots: number;
  args: (i: number) => unknown[];
  check: (i: number, result: unknown) => boolean;
  describe: string;
  /** Short label for metric names. */
  label: string;
  contenders: Contender[];
}

const SLEEP_S = Number(opts['sleep-duration']);
const WORKLOADS: Record<Workload['key'], Workload> = {
  add: {
    key: 'add',
    task: 'add_numbers',
    n: Number(opts.n),
    warm: Number(opts.warm),
    inflight: Number(opts.inflight),
    slots: Number(opts.slots),
    args: (i) => [[i, 1], {}],
    check: (i, r) => r === i + 1,
    describe: 'add_numbers (CPU-bound)',
    label: 'add_numbers, CPU-bound',
    // Two plain workers show what splitting the load over two processes costs on this machine without us.
    contenders: ['plain', 'plain2', 'pool1', 'pool2'],
  },
  sleep: {
    key: 'sleep',
    task: 'simulate_work',
    n: Number(opts['sleep-n']),
    warm: Number(opts['sleep-warm']),
    inflight: Number(opts['sleep-inflight']),
    slots: Number(opts['sleep-slots']),
    args: () => [[SLEEP_S], {}],
    check: (_i, r) => (r as { status?: unknown } | null)?.status === 'completed',
    describe: `simulate_work ${SLEEP_S} s (not saturated)`,
    label: `simulate_work ${SLEEP_S} s`,
    contenders: ['plain', 'pool1', 'pool2'],
  },
};
const workloads = opts.workloads.split(',').map((k) => {
  const w = WORKLOADS[k as Workload['key']];
  if (!w) throw new Error(`unknown workload ${k} (add, sleep)`);
  if (opts.contenders) w.contenders = opts.contenders.split(',') as Contender[];
  if (!w.contenders.includes('plain'))
    throw new Error("the plain worker is every ratio's anchor: keep it in --contenders");
  return w;
});

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
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
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

interface Pass {
  /** Activities/s over the steady window (see load). */
  rate: number;
  /** Activities completed inside that window (for sleep: activity-work, in whole activities). */
  activities: number;
  cpu: CpuWindow | null;
}

/** The measured window: from the 10 % to the 80 % completion, so start-up and the draining tail count for neither. */
const WINDOW = [0.1, 0.8] as const;

/**
 * Runs `n` workflows of the workload (1 activity each) with at most `inflight` outstanding; rate and CPU are taken
 * over the same window, between the WINDOW[0] and WINDOW[1] completion seen by this client.
 * - add: rate = completions in the window ÷ its length.
 * - sleep: the slots run in lock-step waves (all start together, all end `duration` later), so counting
 *   completions would quantise the rate by a whole wave. Instead every activity reports when its body ran
 *   (simulate_work's start_time/end_time, same clock) and counts for the fraction of its body inside the window:
 *   rate = activity-work done in the window ÷ its length, which in steady state is activities/s without the waves.
 */
async function load(
  client: Client,
  queue: string,
  tag: string,
  w: Workload,
  n: number,
  roles: Roles | null,
): Promise<Pass> {
  const k1 = Math.floor(n * WINDOW[0]);
  const k2 = Math.ceil(n * WINDOW[1]);
  let next = 0;
  let done = 0;
  let a: CpuSnapshot | null = null;
  let b: CpuSnapshot | null = null;
  let t1 = Date.now();
  let t2 = t1;
  const bodies: [number, number][] = [];
  const mark = (): void => {
    done++;
    if (done === k1) {
      t1 = Date.now();
      if (roles) a = snapshot(roles);
    }
    if (done === k2) {
      t2 = Date.now();
      if (roles) b = snapshot(roles);
    }
  };
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await client.workflow.execute(w.task, { taskQueue: queue, workflowId: `${tag}-${i}`, args: w.args(i) });
      if (!w.check(i, r)) throw new Error(`${w.task}: wrong result ${JSON.stringify(r)} for ${i}`);
      if (w.key === 'sleep') {
        const { start_time: s0, end_time: s1 } = r as { start_time: number; end_time: number };
        bodies.push([s0 * 1000, s1 * 1000]);
      }
      mark();
    }
  };
  await Promise.all(Array.from({ length: Math.min(w.inflight, n) }, lane));
  let activities = k2 - k1;
  if (w.key === 'sleep') {
    activities = 0;
    for (const [s0, s1] of bodies) {
      const inside = Math.min(s1, t2) - Math.max(s0, t1);
      if (inside > 0) activities += inside / Math.max(1, s1 - s0);
    }
  }
  return { rate: activities / ((t2 - t1) / 1000), activities, cpu: a && b ? cpuWindow(a, b) : null };
}

// The plain contender: a hand-written workflow per task that calls the activity with EXACTLY the activity options
// our generic workflow uses (start-to-close, heartbeat timeout, retry policy from src/backends/temporal/meta.ts), so
// the server does the same work per activity for both; and the same Worker options as a child
// (src/backends/temporal/index.ts). What differs is listed in docs/temporal.md ("Benchmark").
const ACTIVITY_OPTIONS = Object.fromEntries(
  Object.entries(registryMeta({ tasks: () => [addNumbers, simulateWork], workflows: () => [] }).tasks).map(
    ([name, meta]) => [name, activityOptionsFor(meta)],
  ),
);
const PLAIN_WORKFLOW = `import { proxyActivities } from '@temporalio/workflow';
const OPTIONS = ${JSON.stringify(ACTIVITY_OPTIONS)};
const { add_numbers: add } = proxyActivities(OPTIONS.add_numbers);
const { simulate_work: work } = proxyActivities(OPTIONS.simulate_work);
export async function add_numbers(args, kwargs) { return add(args, kwargs); }
export async function simulate_work(args, kwargs) { return work(args, kwargs); }
`;
const PLAIN_WORKER = `import { DefaultLogger, NativeConnection, Worker, Runtime } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
Runtime.install({ shutdownSignals: ['SIGTERM'], logger: new DefaultLogger('WARN') });
const [address, queue, slots, bundlePath] = process.argv.slice(2);
const activities = {
  add_numbers: async (args) => args[0] + args[1],
  simulate_work: async (args, kwargs) => {
    const duration = args[0] ?? kwargs?.duration ?? 1;
    const start = Date.now();
    await sleep(duration * 1000);
    const end = Date.now();
    return {
      requested_duration: duration, actual_duration: (end - start) / 1000, start_time: start / 1000, end_time: end / 1000,
      started_at: new Date(start).toISOString(), ended_at: new Date(end).toISOString(), status: 'completed',
    };
  },
};
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection, taskQueue: queue, workflowBundle: { code: readFileSync(bundlePath, 'utf8') }, activities,
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

type Contender = 'plain' | 'plain2' | 'pool1' | 'pool2';
const PROCS: Record<Contender, number> = { plain: 1, plain2: 2, pool1: 1, pool2: 2 };
const LABEL: Record<Contender, string> = {
  plain: 'plain worker',
  plain2: '2 plain workers',
  pool1: 'pool -c 1',
  pool2: 'pool -c 2',
};

interface Sample {
  run: number;
  /** Activities/s of the contender (all its processes). */
  rate: number;
  /** CPU ms per activity by role; `worker` = the plain worker(s) or the children together. */
  msPerActivity: Record<string, number>;
  machinePct: number;
  stealPct: number;
  otherPct: number;
}

function toSample(run: number, p: Pass, workerRoles: string[]): Sample {
  const cpu = p.cpu as CpuWindow;
  const per = (ms: number): number => ms / p.activities;
  const msPerActivity: Record<string, number> = {};
  for (const [role, ms] of Object.entries(cpu.roleMs)) msPerActivity[role] = per(ms);
  msPerActivity.worker = per(workerRoles.reduce((s, r) => s + (cpu.roleMs[r] ?? 0), 0));
  msPerActivity.all = per(Object.values(cpu.roleMs).reduce((s, x) => s + x, 0));
  return {
    run,
    rate: p.rate,
    msPerActivity,
    machinePct: cpu.machinePct,
    stealPct: cpu.stealPct,
    otherPct: (cpu.otherMs / cpu.wallMs) * 100,
  };
}

/** Median figures of one contender on one workload. */
interface Figures {
  rate: number;
  perProcess: number;
  /** Median over runs of (this contender's rate per process ÷ the plain worker's rate in the same run). */
  ratio: number | null;
  ratios: number[];
  /** Median over runs of (the plain worker's CPU ms/activity ÷ this contender's workers', same run): > 1 = cheaper. */
  cpuRatio: number | null;
  cpu: Record<string, number>;
  machinePct: number;
  otherPct: number;
  /** Activities/s the cores left by other processes allow at the measured CPU per activity (1 % = 10 ms/s). */
  cpuCeiling: number;
}

function figures(all: Record<Contender, Sample[]>, who: Contender): Figures {
  const xs = all[who];
  const med = (f: (s: Sample) => number): number => median(xs.map(f));
  const paired = (f: (x: Sample, plain: Sample) => number): number[] =>
    xs.flatMap((x) => {
      const plain = all.plain.find((p) => p.run === x.run);
      return plain ? [round(f(x, plain), 3)] : [];
    });
  const ratios = paired((x, plain) => x.rate / PROCS[who] / plain.rate);
  const cpuRatios = paired((x, plain) => (plain.msPerActivity.worker ?? 0) / (x.msPerActivity.worker ?? Infinity));
  const roles = ['worker', 'supervisor', 'server', 'client', 'all'].filter((r) =>
    xs.every((x) => x.msPerActivity[r] !== undefined),
  );
  return {
    rate: round(med((x) => x.rate)),
    perProcess: round(med((x) => x.rate / PROCS[who])),
    ratio: who === 'plain' ? null : round(median(ratios)),
    ratios,
    cpuRatio: who === 'plain' ? null : round(median(cpuRatios)),
    cpu: Object.fromEntries(roles.map((r) => [r, round(med((x) => x.msPerActivity[r] ?? 0))])),
    machinePct: Math.round(med((x) => x.machinePct)),
    otherPct: Math.round(med((x) => x.otherPct)),
    cpuCeiling: round(med((x) => ((CORES * 100 - x.otherPct) * 10) / (x.msPerActivity.all ?? Infinity))),
  };
}

/** The figures as a markdown table: rate, ratio to plain, CPU ms per activity by process, machine use. */
function summaryTable(fig: Record<string, Partial<Record<Contender, Figures>>>): string {
  const rows = [
    '| workload | contender | activities/s | per process vs plain | CPU ms/activity: worker(s) | supervisor | server | client | all | machine CPU % (other) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const w of workloads) {
    for (const who of w.contenders) {
      const f = fig[w.key]?.[who];
      if (!f) continue;
      const rate = PROCS[who] > 1 ? `${f.rate} (${f.perProcess} each)` : `${f.rate}`;
      const c = f.cpu;
      rows.push(
        `| ${w.describe}, ${w.slots} slots | ${LABEL[who]} | ${rate} | ${f.ratio === null ? '' : `${f.ratio}×`} | ${c.worker ?? ''} | ${c.supervisor ?? ''} | ${c.server ?? ''} | ${c.client ?? ''} | ${c.all ?? ''} | ${f.machinePct} (${f.otherPct}) |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const server = await startServer();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const childReady = (l: Record<string, unknown>) => l.msg === 'child ready';
  const samples: Record<string, Record<Contender, Sample[]>> = {};
  const ready: number[] = [];
  const bootMs: number[] = [];
  const benchStarted = Date.now();
  try {
    const plain = await preparePlain();
    for (const w of workloads) samples[w.key] = { plain: [], plain2: [], pool1: [], pool2: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const w of workloads) {
        // Rotate who goes first, so drift of the server (its in-memory history grows) hits every contender alike.
        const k = run % w.contenders.length;
        const order = [...w.contenders.slice(k), ...w.contenders.slice(0, k)];
        for (const who of order) {
          const queue = `bench-${w.key}-${who}-${run}`;
          const base: Roles = { server: [server.proc.pid as number], client: [process.pid] };
          const procs: ChildProcess[] = [];
          let roles: Roles;
          let workerRoles: string[];
          try {
            if (who === 'plain' || who === 'plain2') {
              for (let i = 0; i < PROCS[who]; i++) {
                const args = [plain.script, server.address, queue, `${w.slots}`, plain.bundle];
                procs.push((await spawnReady(args, {}, (l) => l.msg === 'plain ready', 1)).proc);
              }
              workerRoles = procs.map((_, i) => `plain${i}`);
              roles = { ...base, ...Object.fromEntries(procs.map((p, i) => [`plain${i}`, [p.pid as number]])) };
            } else {
              const c = PROCS[who];
              const flags = [
                '--backend',
                'temporal',
                '-c',
                `${c}`,
                '--child-concurrency',
                `${w.slots}`,
                '--log-format',
                'json',
                '-l',
                'info',
              ];
              const pool = await spawnReady(
                [MAIN, ...flags],
                { TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: queue },
                childReady,
                c,
              );
              procs.push(pool.proc);
              if (c === 2) {
                ready.push(pool.ms);
                bootMs.push(...pool.lines.filter(childReady).map((l) => Number(l.bootMs)));
              }
              const kids = childPids(pool.proc.pid as number);
              if (kids.length !== c) throw new Error(`expected ${c} children of the supervisor, found ${kids.length}`);
              workerRoles = kids.map((_, i) => `child${i}`);
              roles = {
                ...base,
                supervisor: [pool.proc.pid as number],
                ...Object.fromEntries(kids.map((p, i) => [`child${i}`, [p]])),
              };
            }
            if (w.warm > 0) await load(client, queue, `w-${queue}`, w, w.warm, null); // JIT, caches: not counted
            const x = toSample(run, await load(client, queue, `m-${queue}`, w, w.n, roles), workerRoles);
            samples[w.key]?.[who].push(x);
            const m = x.msPerActivity;
            process.stderr.write(
              `run ${run + 1}/${RUNS} ${w.key} ${who}: ${round(x.rate)}/s, CPU ms/activity worker(s) ${round(m.worker ?? 0)} ` +
                `server ${round(m.server ?? 0)} client ${round(m.client ?? 0)}${m.supervisor !== undefined ? ` supervisor ${round(m.supervisor)}` : ''}, ` +
                `machine ${Math.round(x.machinePct)} % (other ${Math.round(x.otherPct)} %, steal ${Math.round(x.stealPct)} %)\n`,
            );
          } finally {
            for (const p of procs) await stop(p);
          }
        }
      }
    }
  } finally {
    await connection.close();
    server.proc.kill('SIGTERM');
  }

  // ── figures ────────────────────────────────────────────────────────────────────────────────────────────
  const details: Record<string, unknown> = { runs: RUNS, benchSeconds: Math.round((Date.now() - benchStarted) / 1000) };
  const fig: Record<string, Partial<Record<Contender, Figures>>> = {};
  const metrics: Metric[] = [];
  for (const w of workloads) {
    const s = samples[w.key] as Record<Contender, Sample[]>;
    const f = (fig[w.key] = Object.fromEntries(w.contenders.map((who) => [who, figures(s, who)]))) as Partial<
      Record<Contender, Figures>
    > & {
      plain: Figures;
    };
    details[w.key] = {
      workload: w.describe,
      task: w.task,
      n: w.n,
      warm: w.warm,
      inflight: w.inflight,
      slotsPerProcess: w.slots,
      window: WINDOW,
      figures: f,
      raw: Object.fromEntries(
        w.contenders.map((who) => [
          who,
          s[who].map((x) => ({
            run: x.run,
            rate: round(x.rate),
            machinePct: Math.round(x.machinePct),
            otherPct: Math.round(x.otherPct),
            stealPct: round(x.stealPct, 1),
            msPerActivity: Object.fromEntries(Object.entries(x.msPerActivity).map(([k, v]) => [k, round(v, 3)])),
          })),
        ]),
      ),
    };
    if (!f.pool1 || !f.pool2) continue; // a --contenders comparison without the pool: figures printed only
    const plainRate = { name: `plain @temporalio/worker, ${w.slots} slots`, value: f.plain.rate };
    const plainCpu = { name: 'plain @temporalio/worker: CPU ms/activity', value: f.plain.cpu.worker ?? 0 };
    const cpuRow = (who: string, fig: typeof f.pool1, runs: typeof s.pool1): Metric => ({
      name: `CPU per activity, ${who} (${w.label})`,
      unit: 'CPU ms/activity',
      value: fig.cpu.worker ?? 0,
      runs: runs.map((x) => round(x.msPerActivity.worker ?? 0)),
      anchor: plainCpu,
      ratio: fig.cpuRatio ?? undefined,
      lowerIsBetter: true,
    });
    metrics.push(
      {
        name: `per child, -c 2 (${w.label})`,
        unit: 'activities/s',
        value: f.pool2.perProcess,
        runs: s.pool2.map((x) => round(x.rate / 2)),
        anchor: plainRate,
        ratio: f.pool2.ratio ?? undefined,
        target: 0.95,
      },
      {
        name: `-c 1 (${w.label})`,
        unit: 'activities/s',
        value: f.pool1.rate,
        runs: s.pool1.map((x) => round(x.rate)),
        anchor: plainRate,
        ratio: f.pool1.ratio ?? undefined,
      },
    );
    if (f.plain2) {
      metrics.push({
        name: `per process, 2 plain workers (${w.label})`,
        unit: 'activities/s',
        value: f.plain2.perProcess,
        runs: s.plain2.map((x) => round(x.rate / 2)),
        anchor: plainRate,
        ratio: f.plain2.ratio ?? undefined,
      });
    }
    metrics.push(cpuRow('-c 1 child', f.pool1, s.pool1), cpuRow('-c 2 children', f.pool2, s.pool2), {
      name: `machine CPU use, -c 2 (${w.label})`,
      unit: `% of one core (${CORES} cores = ${CORES * 100})`,
      value: f.pool2.machinePct,
      runs: s.pool2.map((x) => Math.round(x.machinePct)),
    });
  }
  if (ready.length > 0) {
    metrics.push({
      name: 'start → ready (-c 2)',
      unit: 'ms',
      value: median(ready),
      runs: ready,
      target: 2000,
      lowerIsBetter: true,
    });
    details.startToReadyMs = { pool_c2_median: median(ready), child_boot_median: median(bootMs), all: ready };
  }
  console.log(JSON.stringify(details, null, 2));
  console.log(summaryTable(fig));
  // A --contenders comparison is a one-off: it prints, and leaves the committed results alone.
  if (!opts.contenders) writeResult('temporal', { metrics, details });
}

await main();
