// SIGTERM-under-load's twin through pm2: `pm2 stop` of the shipped ecosystem file (real pm2, its own PM2_HOME)
// while every slot runs a task → in-flight tasks finish, unstarted ones stay queued, the tree is gone, exit 0.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { startRedis } from '../helpers/redis.js';
import { ROOT } from '../e2e/celery-harness.js';
import { assertWarmOutcome } from './cases-pool.js';
import { CHAOS_TASKS, childrenOf, enqueue, procState, until } from './harness.js';

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const ECOSYSTEM = join(ROOT, 'ecosystem.config.cjs');
const execFileP = promisify(execFile);

interface Pm2App {
  pid: number;
  status: string;
  exitCode: number | null;
}

export async function pm2StopCase(t: Test, o: { tasks: number; sleepMs: number }): Promise<void> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const dir = mkdtempSync(join(tmpdir(), 'tbw-chaos-pm2-'));
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && k !== 'NODE_OPTIONS')),
    PM2_HOME: join(dir, 'pm2'),
    CELERY_BROKER_URL: redis.url,
    CELERY_RESULT_BACKEND: redis.url,
    TASK_MODULES: CHAOS_TASKS,
    TASK_WORKER_CONCURRENCY: '2',
    TASK_CHILD_CONCURRENCY: '4',
    TASK_SHUTDOWN_TIMEOUT: '10s',
  };
  const pm2 = (...args: string[]) => execFileP(process.execPath, [PM2, ...args], { env, timeout: 90_000 });
  t.teardown(async () => {
    await pm2('kill').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const app = async (): Promise<Pm2App | null> => {
    const { stdout } = await pm2('jlist');
    const json = stdout.split('\n').find((l) => l.startsWith('[')) ?? '[]';
    const list = JSON.parse(json) as { name: string; pid: number; pm2_env: { status: string; exit_code?: number } }[];
    const a = list.find((x) => x.name === 'task-backend-worker');
    return a ? { pid: a.pid, status: a.pm2_env.status, exitCode: a.pm2_env.exit_code ?? null } : null;
  };
  await pm2('ping');
  await pm2('start', ECOSYSTEM); // wait_ready: returns once every child is ready
  const online = await until(
    async () => {
      const a = await app();
      return a?.status === 'online' ? a : null;
    },
    60_000,
    'online under pm2',
  );
  const kids = await until(
    () => (childrenOf(online.pid).length === 2 ? childrenOf(online.pid) : null),
    20_000,
    'two children',
  );
  const ids = await enqueue(r, o.tasks, 'chaos.count', () => [o.sleepMs]);
  await until(async () => (await r.hlen('chaos:start')) >= 8, 20_000, 'every slot busy');
  const t0 = Date.now();
  await pm2('stop', 'task-backend-worker');
  await until(() => [online.pid, ...kids].every((p) => procState(p) === null), 20_000, 'tree gone after pm2 stop');
  const took = Date.now() - t0;
  t.ok(took < 10_000, `pm2 stop finished in ${took} ms, inside the 10 s shutdown timeout`);
  const after = await app();
  t.equal(after?.status, 'stopped');
  if (after?.exitCode !== null && after?.exitCode !== undefined)
    t.equal(after.exitCode, 0, 'supervisor exit code 0 (as pm2 saw it)');
  await assertWarmOutcome(t, r, ids);
}
