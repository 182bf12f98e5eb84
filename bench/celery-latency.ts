// bench/celery, the latency part: a Python client's send_task(...).get() against a ready pool, back to back and
// sporadic (one task every 0.5 s), and the Redis commands per second an idle pool sends, per child (INFO
// commandstats over a quiet window; commands run inside scripts count too, as Redis counts them). Ours -c 2 and
// Python's prefork -c 2 on the same Redis, in the same run.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { killGroup, PY, PYDIR } from './celery-common.js';
import type { Metric } from './report.js';

const B2B_N = Number(process.env.BENCH_B2B_N ?? 300);
const SPORADIC_N = Number(process.env.BENCH_SPORADIC_N ?? 30);
const SPORADIC_GAP_S = 0.5;
/** Long enough to hold a maintenance tick of ours (10 s at the default visibility timeout) and ten BRPOP timeouts. */
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 20);

export interface LatencyFigures {
  b2b: { p50: number; p99: number };
  sporadic: { p50: number; p90: number; max: number };
  /** Redis commands/s of the whole idle pool (supervisor included), and that over the children. */
  idlePerS: number;
  idlePerChild: number;
}

const medianOf = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m]! : round2((v[m - 1]! + v[m]!) / 2);
};

/** Each figure's median over the rounds it was measured in (a round without the idle count leaves it out). */
export function medianFigures<F extends LatencyFigures>(rounds: readonly F[]): F {
  const pick = (f: (x: LatencyFigures) => number): number => medianOf(rounds.map(f));
  return {
    ...rounds[0]!,
    b2b: { p50: pick((x) => x.b2b.p50), p99: pick((x) => x.b2b.p99) },
    sporadic: { p50: pick((x) => x.sporadic.p50), p90: pick((x) => x.sporadic.p90), max: pick((x) => x.sporadic.max) },
    idlePerS: pick((x) => x.idlePerS),
    idlePerChild: pick((x) => x.idlePerChild),
  };
}

/** The q-quantile of ascending `xs` (nearest rank). */
export const quantile = (xs: readonly number[], q: number): number =>
  xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(xs.length * q) - 1))] ?? Number.NaN;

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The Python client's timings (celery_bench_app.py paced): ms per call, ascending. */
async function paced(broker: string, results: string, n: number, gapS: number): Promise<number[]> {
  const p = spawn(PY, [join(PYDIR, 'celery_bench_app.py'), 'paced', String(n), String(gapS)], {
    env: { ...process.env, BENCH_REDIS_URL: broker, BENCH_RESULT_URL: results },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(p, 'exit')) as [number];
  if (code !== 0) throw new Error(`paced client exited ${code}`);
  return JSON.parse(out) as number[];
}

/** Commands per second Redis served over `seconds`, the bench's own INFO and CONFIG not counted. */
export async function commandRate(
  r: Redis,
  seconds: number,
): Promise<{ perS: number; byCommand: Record<string, number> }> {
  await r.config('RESETSTAT');
  await new Promise((res) => setTimeout(res, seconds * 1000));
  const info = await r.info('commandstats');
  const byCommand: Record<string, number> = {};
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const [, name = '', n = '0'] = m;
    if (name === 'info' || name.startsWith('config')) continue;
    byCommand[name] = Number(n);
    calls += Number(n);
  }
  return { perS: calls / seconds, byCommand };
}

export interface Contender {
  /** The broker the client sends to, and the result backend it reads (default: the broker). */
  broker: string;
  results?: string;
  start: () => ChildProcess;
  ready: () => Promise<boolean>;
  /** Children of the pool: the idle figure is divided by them. */
  children: number;
}

/**
 * One contender: start it, wait until it consumes, time back-to-back and sporadic calls, then (when `r` is its
 * Redis broker) let it sit idle and count the commands Redis serves.
 */
export async function measureLatency(
  name: string,
  r: Redis | null,
  c: Contender,
): Promise<LatencyFigures & { idleByCommand: Record<string, number> }> {
  await r?.flushall();
  const { broker, start, ready, children } = c;
  const results = c.results ?? broker;
  const proc = start();
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`${name}: not ready in time`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const b2b = await paced(broker, results, B2B_N, 0);
    const sporadic = await paced(broker, results, SPORADIC_N, SPORADIC_GAP_S);
    // Let the last task's upkeep settle before counting what an idle pool costs.
    await new Promise((res) => setTimeout(res, 1000));
    const idle = r === null ? { perS: Number.NaN, byCommand: {} } : await commandRate(r, IDLE_S);
    const f = {
      b2b: { p50: round2(quantile(b2b, 0.5)), p99: round2(quantile(b2b, 0.99)) },
      sporadic: {
        p50: round2(quantile(sporadic, 0.5)),
        p90: round2(quantile(sporadic, 0.9)),
        max: round2(sporadic[sporadic.length - 1] ?? Number.NaN),
      },
      idlePerS: round2(idle.perS),
      idlePerChild: round2(idle.perS / children),
      idleByCommand: idle.byCommand,
    };
    console.log(
      `${name.padEnd(34)} back-to-back p50/p99 ${f.b2b.p50}/${f.b2b.p99} ms; sporadic p50/p90/max ` +
        `${f.sporadic.p50}/${f.sporadic.p90}/${f.sporadic.max} ms; idle ${f.idlePerS} commands/s ` +
        `(${f.idlePerChild}/child) ${JSON.stringify(idle.byCommand)}`,
    );
    return f;
  } finally {
    killGroup(proc);
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
  }
}

/**
 * The README rows: ours against Python's prefork in the same run (ratio ≥ 1 = ours is as fast or faster). `broker`
 * prefixes the names ("RabbitMQ (rpc://) "); the idle rows only where the idle load was counted (Redis).
 */
export function latencyMetrics(o: LatencyFigures, p: LatencyFigures, broker = ''): Metric[] {
  const py = (value: number): { name: string; value: number } => ({ name: 'python celery prefork -c 2', value });
  const row = (name: string, ours: number, python: number, target?: number): Metric => ({
    name: `${broker}${name}`,
    unit: 'ms',
    value: ours,
    anchor: py(python),
    lowerIsBetter: true,
    ...(target === undefined ? {} : { target }),
  });
  const rows = [
    row('get() back to back, p50', o.b2b.p50, p.b2b.p50, 1),
    row('get() back to back, p99', o.b2b.p99, p.b2b.p99),
    row('get() one task every 0.5 s, p50', o.sporadic.p50, p.sporadic.p50, 1),
    row('get() one task every 0.5 s, p90', o.sporadic.p90, p.sporadic.p90),
  ];
  if (!Number.isFinite(o.idlePerChild)) return rows;
  const idle = (name: string, value: number, target?: number): Metric => ({
    name: `${broker}${name}`,
    unit: 'commands/s',
    value,
    lowerIsBetter: true,
    ...(target === undefined ? {} : { target }),
  });
  // Absolute target (the issue's ≤ 1 command/s per child); Python's figure is the row after.
  return [
    ...rows,
    idle('idle Redis commands/s per child', o.idlePerChild, 1),
    idle('idle Redis commands/s per child, python prefork -c 2', p.idlePerChild),
  ];
}
