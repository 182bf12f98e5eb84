// bench/celery: preload N tasks from Python, drain them with our pool (-c 2, acks late), Python Celery prefork
// -c 2 (acks late) and celery-node, on the same Redis, timed from a ready worker; print tasks/s and ratios. Then
// (bench/celery-latency.ts) a Python client's send_task(...).get() back to back and sporadic, and the Redis
// commands/s of an idle pool per child, ours and Python's prefork -c 2.
// Run: node dist/bench/celery.js
import { Redis } from 'ioredis';
import type { ChildProcess } from 'node:child_process';
import { startRedis } from '../test/helpers/redis.js';
import { brpopReady, celeryNode, drain, killGroup, ours, oursReady, preload, python } from './celery-common.js';
import { latencyMetrics, measureLatency } from './celery-latency.js';

const N = Number(process.env.BENCH_N ?? 10_000);
const IO_N = Number(process.env.BENCH_IO_N ?? 2_000);

async function main(): Promise<void> {
  const redis = await startRedis();
  const r = new Redis(redis.url);
  const rows: [string, number, number][] = [];
  const run = async (
    name: string,
    n: number,
    task: string,
    args: string[],
    start: () => ChildProcess,
    limitMs: number,
  ): Promise<number> => {
    await r.flushall();
    await preload(redis.url, n, task, args);
    let child: ChildProcess | null = null;
    const ready = name.startsWith('ours -c 1')
      ? oursReady(r, 1)
      : name.startsWith('ours')
        ? oursReady(r)
        : brpopReady(r);
    const secs = await drain(r, () => (child = start()), ready, limitMs);
    if (child) killGroup(child);
    rows.push([name, n, n / secs]);
    console.log(`${name.padEnd(34)} ${String(n).padStart(6)} tasks  ${(n / secs).toFixed(0).padStart(7)} tasks/s`);
    return n / secs;
  };
  // Rounds interleave the contenders (so drift in machine load hits all of them alike); each figure is the
  // median of its rounds and every ratio is median / median of the same run.
  const ROUNDS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  try {
    const o: number[] = [],
      p: number[] = [],
      c: number[] = [],
      oi: number[] = [],
      pi: number[] = [],
      lon: number[] = [],
      loff: number[] = [];
    for (let k = 1; k <= ROUNDS; k++) {
      console.log(`round ${k}/${ROUNDS}`);
      o.push(await run('ours -c 2 (no-op)', N, 'health_check', [], ours(redis.url), 120_000));
      p.push(await run('python prefork -c 2 (no-op)', N, 'health_check', [], python(redis.url), 300_000));
      c.push(await run('celery-node (no-op)', N, 'health_check', [], celeryNode(redis.url), 300_000));
      // For reading the -c 2 figure on small machines: one child (+ Redis) is what fits 2 cores without contention.
      await run('ours -c 1 (no-op, for reference)', N, 'health_check', [], ours(redis.url, 1), 120_000);
      // The cost of the per-task log lines at the default level (-l info): two lines per task, through the
      // supervisor's relay to stdout (here /dev/null), against the same pool with --no-log-tasks.
      const info = (extra: string[]): string[] => ['-l', 'info', ...extra];
      lon.push(
        await run(
          'ours -c 2 (no-op, -l info)',
          N,
          'health_check',
          [],
          ours(redis.url, 2, redis.url, info([])),
          120_000,
        ),
      );
      loff.push(
        await run(
          'ours -c 2 (no-op, -l info, --no-log-tasks)',
          N,
          'health_check',
          [],
          ours(redis.url, 2, redis.url, info(['--no-log-tasks'])),
          120_000,
        ),
      );
      oi.push(await run('ours -c 2 (100 ms I/O)', IO_N, 'simulate_work', ['0.1'], ours(redis.url), 120_000));
      pi.push(
        await run(
          'python prefork -c 2 (100 ms I/O)',
          Math.min(IO_N, 200),
          'simulate_work',
          ['0.1'],
          python(redis.url),
          300_000,
        ),
      );
    }
    const [mo, mp, mc, moi, mpi] = [med(o), med(p), med(c), med(oi), med(pi)];
    const [mlon, mloff] = [med(lon), med(loff)];
    console.log(
      `medians of ${ROUNDS}: no-op ours/python ${(mo / mp).toFixed(1)}x, ours/celery-node ${(mo / mc).toFixed(2)}x; I/O ours/python ${(moi / mpi).toFixed(1)}x; task lines on/off ${(mlon / mloff).toFixed(2)}x`,
    );
    // Latency and idle load: one pass each (hundreds of timed calls inside), ours then Python's.
    const lo = await measureLatency('ours -c 2', r, {
      broker: redis.url,
      start: ours(redis.url),
      ready: oursReady(r),
      children: 2,
    });
    const lp = await measureLatency('python prefork -c 2', r, {
      broker: redis.url,
      start: python(redis.url),
      ready: brpopReady(r),
      children: 2,
    });
    const { writeResult } = await import('./report.js');
    const tps = (v: number): number => Math.round(v);
    const runs = (xs: number[]): number[] => xs.map(tps);
    writeResult('celery', {
      metrics: [
        {
          name: 'no-op tasks/s -c 2 vs Python prefork',
          unit: 'tasks/s',
          value: tps(mo),
          runs: runs(o),
          anchor: { name: 'python celery prefork -c 2', value: tps(mp) },
          target: 9,
        },
        {
          name: 'no-op tasks/s -c 2 vs celery-node',
          unit: 'tasks/s',
          value: tps(mo),
          runs: runs(o),
          anchor: { name: 'celery-node', value: tps(mc) },
          target: 1,
        },
        {
          // The price of the per-task INFO lines (TASK_LOG_TASKS): the same pool with and without them.
          name: 'no-op tasks/s -c 2 at -l info, task lines on vs off',
          unit: 'tasks/s',
          value: tps(mlon),
          runs: runs(lon),
          anchor: { name: 'ours -c 2 -l info --no-log-tasks', value: tps(mloff) },
        },
        {
          name: '100 ms I/O tasks/s vs Python prefork',
          unit: 'tasks/s',
          value: tps(moi),
          runs: runs(oi),
          anchor: { name: 'python celery prefork -c 2', value: tps(mpi) },
          target: 50,
        },
        ...latencyMetrics(lo, lp),
      ],
      details: { latency: { ours: lo, python: lp } },
    });
  } finally {
    r.disconnect();
    await redis.stop();
  }
}

await main();
