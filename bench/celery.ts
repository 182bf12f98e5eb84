// bench/celery: preload N tasks from Python, drain them with our pool (-c 2, acks late), Python Celery prefork
// -c 2 (acks late) and celery-node, on the same Redis, timed from a ready worker; print tasks/s and ratios.
// Run: node dist/bench/celery.js
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PY = join(ROOT, '.tbw', 'venv', 'bin', 'python');
const PYDIR = join(ROOT, 'test', 'e2e', 'py');
const N = Number(process.env.BENCH_N ?? 10_000);
const IO_N = Number(process.env.BENCH_IO_N ?? 2_000);

async function preload(url: string, n: number, task: string, args: string[]): Promise<void> {
  const p = spawn(PY, [join(PYDIR, 'celery_bench_app.py'), String(n), task, ...args], {
    env: { ...process.env, BENCH_REDIS_URL: url },
    stdio: 'inherit',
  });
  const [code] = (await once(p, 'exit')) as [number];
  if (code !== 0) throw new Error(`preload exited ${code}`);
}

const STAGING = 'bench.staging';
const tick = (): Promise<void> => new Promise((res) => setTimeout(res, 5));

/**
 * Seconds from handing the preloaded queue to a READY worker until the queue and the unacked hash are both
 * empty. The preloaded list is parked under another name while the worker boots and renamed back at once
 * when it is consuming, so boot time (a second child still loading while the first drains) is not measured.
 */
async function drain(
  r: Redis,
  start: () => ChildProcess,
  ready: () => Promise<boolean>,
  limitMs: number,
): Promise<number> {
  await r.rename('celery', STAGING);
  const proc = start();
  const deadline = Date.now() + limitMs;
  try {
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error('worker not ready in time');
      await tick();
    }
    await r.rename(STAGING, 'celery');
    const t0 = performance.now();
    while (Date.now() < deadline) {
      const [len, held] = await Promise.all([r.llen('celery'), r.hlen('unacked')]);
      if (len === 0 && held === 0) return (performance.now() - t0) / 1000;
      await tick();
    }
    throw new Error('drain did not finish in time');
  } finally {
    proc.kill('SIGKILL');
    if (proc.exitCode === null) await once(proc, 'exit');
  }
}

/** Our pool at -l warn (as the Python worker's -l warning: neither writes per-task lines), or with `logs`. */
const ours =
  (url: string, c = 2, logs: string[] = ['-l', 'warn']) =>
  (): ChildProcess =>
    spawn(
      process.execPath,
      [
        join(ROOT, 'dist', 'src', 'cli', 'main.js'),
        '--backend',
        'celery',
        '-c',
        String(c),
        ...logs,
        '--log-format',
        'json',
      ],
      {
        env: { ...process.env, CELERY_BROKER_URL: url, CELERY_RESULT_BACKEND: url },
        stdio: 'ignore',
        detached: true,
      },
    );
const python = (url: string) => (): ChildProcess =>
  spawn(
    PY,
    [
      '-m',
      'celery',
      '-A',
      'celery_bench_app',
      'worker',
      '-c',
      '2',
      '-P',
      'prefork',
      '-l',
      'warning',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    {
      cwd: PYDIR,
      env: { ...process.env, BENCH_REDIS_URL: url },
      stdio: 'ignore',
      detached: true,
    },
  );
const celeryNode = (url: string) => (): ChildProcess =>
  spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import celery from 'celery-node';
    const w = celery.createWorker(${JSON.stringify(url)}, ${JSON.stringify(url)}, 'celery');
    w.register('health_check', () => ({ status: 'healthy' }));
    w.start();`,
    ],
    { cwd: ROOT, stdio: 'ignore', detached: true },
  );

/** Our pool is consuming once both children registered as holders; the others once one BRPOP is waiting. */
const oursReady =
  (r: Redis, c = 2) =>
  async (): Promise<boolean> => {
    let n = 0;
    for (const k of await r.keys('tbw.holders.*')) n += await r.hlen(k);
    return n >= c;
  };
const brpopReady = (r: Redis) => async (): Promise<boolean> => /cmd=brpop/.test(String(await r.client('LIST')));

const killGroup = (p: ChildProcess): void => {
  try {
    if (p.pid) process.kill(-p.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
};

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
      lon.push(await run('ours -c 2 (no-op, -l info)', N, 'health_check', [], ours(redis.url, 2, info([])), 120_000));
      loff.push(
        await run(
          'ours -c 2 (no-op, -l info, --no-log-tasks)',
          N,
          'health_check',
          [],
          ours(redis.url, 2, info(['--no-log-tasks'])),
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
      ],
    });
  } finally {
    r.disconnect();
    await redis.stop();
  }
}

await main();
