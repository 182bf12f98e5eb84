// The figures of bench/temporal.ts: who the contenders are, each measured pass turned into a per-run sample (rate,
// CPU ms per activity by process), the medians and per-run ratios to the plain worker of the same run, and the
// markdown summary table printed at the end.
import { cpus } from 'node:os';
import type { CpuWindow } from './cpu.js';
import { median } from './report.js';

export const CORES = cpus().length;

export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

export interface Pass {
  /** Activities/s over the steady window (see load in bench/temporal.ts). */
  rate: number;
  /** Activities completed inside that window (for sleep: activity-work, in whole activities). */
  activities: number;
  cpu: CpuWindow | null;
}

export type Contender = 'plain' | 'plain2' | 'pool1' | 'pool2';
export const PROCS: Record<Contender, number> = { plain: 1, plain2: 2, pool1: 1, pool2: 2 };
const LABEL: Record<Contender, string> = {
  plain: 'plain worker',
  plain2: '2 plain workers',
  pool1: 'pool -c 1',
  pool2: 'pool -c 2',
};

export interface Sample {
  run: number;
  /** Activities/s of the contender (all its processes). */
  rate: number;
  /** CPU ms per activity by role; `worker` = the plain worker(s) or the children together. */
  msPerActivity: Record<string, number>;
  machinePct: number;
  stealPct: number;
  otherPct: number;
}

export function toSample(run: number, p: Pass, workerRoles: string[]): Sample {
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
export interface Figures {
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

export function figures(all: Record<Contender, Sample[]>, who: Contender): Figures {
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

/** What the summary table needs of a workload (bench/temporal.ts defines them). */
export interface TableWorkload {
  key: string;
  describe: string;
  slots: number;
  contenders: Contender[];
}

/** The figures as a markdown table: rate, ratio to plain, CPU ms per activity by process, machine use. */
export function summaryTable(
  workloads: readonly TableWorkload[],
  fig: Record<string, Partial<Record<Contender, Figures>>>,
): string {
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
