// bench/celery-database: Celery with results in PostgreSQL (Celery's database backend), the platform's set-up.
// Same run, same Redis broker, same PostgreSQL: drain N preloaded no-op tasks with our pool (-c 2, acks late) and
// with Python Celery prefork -c 2 (acks late, SQLAlchemy + psycopg), tasks/s and the ratio (target ≥ 5×); then
// AsyncResult.get() latency of a no-op at low load (one call at a time, from Python), p50/p99, against each worker:
// with get(interval=0.01) (what the worker adds) and with Celery's default interval of 0.5 s (what callers see).
// Run: node dist/bench/celery-database.js
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startPostgres } from '../test/helpers/postgres.js';
import { startRedis } from '../test/helpers/redis.js';
import { brpopReady, drain, killGroup, ours, oursReady, preload, PY, PYDIR, python } from './celery-common.js';

const N = Number(process.env.BENCH_N ?? 5_000);
const PY_N = Number(process.env.BENCH_PY_N ?? 2_000);
const LAT_N = Number(process.env.BENCH_LAT_N ?? 200);
const LAT_DEFAULT_N = Number(process.env.BENCH_LAT_DEFAULT_N ?? 20);
const ROUNDS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));

const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** The Python client's AsyncResult.get() timings (celery_bench_app.py latency). */
async function latency(
  broker: string,
  results: string,
  n: number,
  interval: number,
): Promise<{ p50_ms: number; p99_ms: number }> {
  const p = spawn(PY, [join(PYDIR, 'celery_bench_app.py'), 'latency', String(n), String(interval)], {
    env: { ...process.env, BENCH_REDIS_URL: broker, BENCH_RESULT_URL: results },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(p, 'exit')) as [number];
  if (code !== 0) throw new Error(`latency client exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { p50_ms: number; p99_ms: number };
}

/** Start a worker, wait until it consumes, run `fn`, kill it. */
async function withWorker<T>(
  start: () => ChildProcess,
  ready: () => Promise<boolean>,
  fn: () => Promise<T>,
): Promise<T> {
  const proc = start();
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error('worker not ready in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    return await fn();
  } finally {
    killGroup(proc);
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
  }
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const pg = await startPostgres();
  const r = new Redis(redis.url);
  const oursUrl = `db+postgresql://${pg.user}:${pg.password}@127.0.0.1:${pg.port}/${pg.database}`;
  const pyUrl = oursUrl.replace('db+postgresql://', 'db+postgresql+psycopg://');
  const fresh = async (): Promise<void> => {
    await r.flushall();
    await pg.psql('TRUNCATE celery_taskmeta').catch(() => undefined); // absent before the first worker made it
  };
  const drainRun = async (name: string, n: number, start: () => ChildProcess, ready: () => Promise<boolean>) => {
    await fresh();
    await preload(redis.url, n, 'health_check', []);
    const secs = await drain(r, start, ready, 600_000);
    const rows = Number(await pg.psql('SELECT count(*) FROM celery_taskmeta'));
    if (rows !== n) throw new Error(`${name}: ${rows} result rows for ${n} tasks`);
    console.log(`${name.padEnd(40)} ${String(n).padStart(6)} tasks  ${(n / secs).toFixed(0).padStart(7)} tasks/s`);
    return n / secs;
  };
  try {
    const o: number[] = [];
    const p: number[] = [];
    for (let k = 1; k <= ROUNDS; k++) {
      console.log(`round ${k}/${ROUNDS}`);
      o.push(await drainRun('ours -c 2, database results', N, ours(redis.url, 2, oursUrl), oursReady(r)));
      p.push(await drainRun('python prefork -c 2, database results', PY_N, python(redis.url, pyUrl), brpopReady(r)));
    }
    await fresh();
    const lat = async (start: () => ChildProcess, ready: () => Promise<boolean>) =>
      withWorker(start, ready, async () => ({
        fast: await latency(redis.url, pyUrl, LAT_N, 0.01),
        standard: await latency(redis.url, pyUrl, LAT_DEFAULT_N, 0.5),
      }));
    const lo = await lat(ours(redis.url, 2, oursUrl), oursReady(r));
    const lp = await lat(python(redis.url, pyUrl), brpopReady(r));
    console.log(
      `AsyncResult.get(interval=0.01) p50/p99 ms: ours ${lo.fast.p50_ms.toFixed(1)}/${lo.fast.p99_ms.toFixed(1)}, python ${lp.fast.p50_ms.toFixed(1)}/${lp.fast.p99_ms.toFixed(1)}`,
    );
    console.log(
      `AsyncResult.get() (interval 0.5 s) p50 ms: ours ${lo.standard.p50_ms.toFixed(0)}, python ${lp.standard.p50_ms.toFixed(0)}`,
    );
    const [mo, mp] = [med(o), med(p)];
    console.log(`medians of ${ROUNDS}: drain ours/python ${(mo / mp).toFixed(1)}x`);
    const { writeResult } = await import('./report.js');
    writeResult('celery-database', {
      metrics: [
        {
          name: 'no-op tasks/s -c 2, database results, vs Python prefork',
          unit: 'tasks/s',
          value: Math.round(mo),
          runs: o.map(Math.round),
          anchor: { name: 'python celery prefork -c 2, database results', value: Math.round(mp) },
          target: 5,
        },
        {
          name: 'AsyncResult.get(interval=0.01) p50, no-op',
          unit: 'ms',
          value: round1(lo.fast.p50_ms),
          anchor: { name: 'python celery prefork -c 2', value: round1(lp.fast.p50_ms) },
          lowerIsBetter: true,
        },
        {
          name: 'AsyncResult.get(interval=0.01) p99, no-op',
          unit: 'ms',
          value: round1(lo.fast.p99_ms),
          anchor: { name: 'python celery prefork -c 2', value: round1(lp.fast.p99_ms) },
          lowerIsBetter: true,
        },
        {
          name: 'AsyncResult.get() p50 (Celery’s 0.5 s polling), no-op',
          unit: 'ms',
          value: round1(lo.standard.p50_ms),
          anchor: { name: 'python celery prefork -c 2', value: round1(lp.standard.p50_ms) },
          lowerIsBetter: true,
        },
      ],
    });
  } finally {
    r.disconnect();
    await pg.stop();
    await redis.stop();
  }
}

await main();
