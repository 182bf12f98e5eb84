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
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { childPids, cpuWindow, snapshot, type CpuSnapshot, type Roles } from './cpu.js';
import { median, writeResult, type Metric } from './report.js';
import {
  CORES,
  PROCS,
  figures,
  round,
  summaryTable,
  toSample,
  type Contender,
  type Figures,
  type Pass,
  type Sample,
} from './temporal-figures.js';
import { preparePlain } from './temporal-plain.js';
import { spawnReady, startServer, stop } from './temporal-procs.js';

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

async function main(): Promise<void> {
  const server = await startServer(CLI);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const childReady = (l: Record<string, unknown>) => l.msg === 'child ready';
  const samples: Record<string, Record<Contender, Sample[]>> = {};
  const ready: number[] = [];
  const bootMs: number[] = [];
  const benchStarted = Date.now();
  try {
    const plain = await preparePlain(ROOT);
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
  console.log(summaryTable(workloads, fig));
  // A --contenders comparison is a one-off: it prints, and leaves the committed results alone.
  if (!opts.contenders) writeResult('temporal', { metrics, details });
}

await main();
