// Shared by the Celery benchmarks (bench/celery.ts on Redis results, bench/celery-database.ts on PostgreSQL
// results): preloading from Python, the drain timer, and the workers under test (ours, Python prefork, celery-node).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

export const ROOT = join(import.meta.dirname, '..', '..');
export const PY = join(ROOT, '.tbw', 'venv', 'bin', 'python');
export const PYDIR = join(ROOT, 'test', 'e2e', 'py');

export async function preload(url: string, n: number, task: string, args: string[]): Promise<void> {
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
export async function drain(
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

/** Our pool; results go to `resultUrl` (default: the broker, Redis). */
/** Our pool at -l warn (as the Python worker's -l warning: neither writes per-task lines), or with `logs`. */
export const ours =
  (url: string, c = 2, resultUrl = url, logs: string[] = ['-l', 'warn'], env: Record<string, string> = {}) =>
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
        env: { ...process.env, CELERY_BROKER_URL: url, CELERY_RESULT_BACKEND: resultUrl, ...env },
        stdio: 'ignore',
        detached: true,
      },
    );
/**
 * Python Celery prefork -c 2 (celery_bench_app.py, acks late, prefetch multiplier 4 unless `env` sets
 * BENCH_PREFETCH_MULTIPLIER); results to `resultUrl` (a Redis, rpc:// or db+postgresql+psycopg URL) if given.
 */
export const python =
  (url: string, resultUrl?: string, env: Record<string, string> = {}) =>
  (): ChildProcess =>
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
        env: { ...process.env, BENCH_REDIS_URL: url, ...(resultUrl ? { BENCH_RESULT_URL: resultUrl } : {}), ...env },
        stdio: 'ignore',
        detached: true,
      },
    );
/** celery-node with its results in `backend` (default: the broker). */
export const celeryNode =
  (url: string, backend = url) =>
  (): ChildProcess =>
    spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
    import celery from 'celery-node';
    const w = celery.createWorker(${JSON.stringify(url)}, ${JSON.stringify(backend)}, 'celery');
    w.register('health_check', () => ({ status: 'healthy' }));
    w.start();`,
      ],
      { cwd: ROOT, stdio: 'ignore', detached: true },
    );

/** Our pool is consuming once both children registered as holders; the others once one BRPOP is waiting. */
export const oursReady =
  (r: Redis, c = 2) =>
  async (): Promise<boolean> => {
    let n = 0;
    for (const k of await r.keys('tbw.holders.*')) n += await r.hlen(k);
    return n >= c;
  };
export const brpopReady = (r: Redis) => async (): Promise<boolean> => /cmd=brpop/.test(String(await r.client('LIST')));

export const killGroup = (p: ChildProcess): void => {
  try {
    if (p.pid) process.kill(-p.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
};
