// The real pm2 (dev dependency, its own PM2_HOME) running ecosystem.config.cjs: online only after every child is
// ready; pm2's variables do not reach children; reload replaces the pool; stop drains in-flight work and leaves
// no process; delete removes the app. Children are the gated test child (test/e2e/pm2-gated-child.mjs).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const ECOSYSTEM = join(ROOT, 'ecosystem.config.cjs');
const CHILD = join(ROOT, 'test', 'e2e', 'pm2-gated-child.mjs');
const execFileP = promisify(execFile);

interface App {
  pid: number;
  status: string;
  restarts: number;
}

function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && fields[0] !== 'Z') out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function until<T>(fn: () => T | Promise<T>, ms: number, what: string): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void t.test('pm2 lifecycle with the shipped ecosystem file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-pm2-'));
  const gate = join(dir, 'gate');
  const done = join(dir, 'done');
  const control = join(dir, 'run', 'pool.sock');
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && k !== 'NODE_OPTIONS')),
    PM2_HOME: join(dir, 'pm2'),
    TBW_WORKER_ENTRY: CHILD,
    GATE_FILE: gate,
    DONE_DIR: dir,
    DRAIN_MS: '1500',
    TASK_WORKER_CONCURRENCY: '2',
    TASK_CONTROL_SOCKET: control,
    TASK_SHUTDOWN_TIMEOUT: '10s',
    CELERY_BROKER_URL: 'redis://127.0.0.1:1/0',
    MY_APP_SETTING: 'kept',
  };
  const pm2 = (...args: string[]) => execFileP(process.execPath, [PM2, ...args], { env, timeout: 60_000 });
  const app = async (): Promise<App | null> => {
    const { stdout } = await pm2('jlist');
    // The first pm2 call also prints the daemon's spawn banner: the list is the line that starts with '['.
    const json = stdout.split('\n').find((l) => l.startsWith('[')) ?? '[]';
    const list = JSON.parse(json) as { name: string; pid: number; pm2_env: { status: string; restart_time: number } }[];
    const a = list.find((x) => x.name === 'task-backend-worker');
    return a === undefined ? null : { pid: a.pid, status: a.pm2_env.status, restarts: a.pm2_env.restart_time };
  };
  t.teardown(async () => {
    writeFileSync(gate, ''); // never leave children held at the gate: they would make `kill` wait
    await pm2('kill').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  // `pm2 start` waits for the app; run it in the background while the children are held at the gate.
  await pm2('ping'); // start the daemon first, so `start` below is only about our app
  const starting = spawn(process.execPath, [PM2, 'start', ECOSYSTEM], { env, stdio: 'ignore' });
  t.teardown(() => {
    starting.kill('SIGKILL');
  });
  const startExit = new Promise<number | null>((r) => starting.once('exit', (c) => r(c)));
  const launching = await until(
    async () => {
      const a = await app();
      return a !== null && a.pid > 0 ? a : null;
    },
    30_000,
    'supervisor started by pm2',
  );
  const gated = await until(
    () => (childrenOf(launching.pid).length >= 2 ? childrenOf(launching.pid) : null),
    20_000,
    'two children forked',
  );
  const whileGated = await app();
  t.equal(whileGated?.status, 'launching', 'not online while the children are not ready');
  writeFileSync(gate, '');
  const online = await until(async () => ((await app())?.status === 'online' ? await app() : null), 30_000, 'online');
  t.equal(online.pid, launching.pid);
  t.equal(await startExit, 0, 'pm2 start succeeded');

  for (const pid of gated) {
    const vars = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const names = new Set(vars.map((kv) => kv.slice(0, kv.indexOf('='))));
    for (const leaked of [
      'pm_id',
      'NODE_APP_INSTANCE',
      'PM2_HOME',
      'name',
      'status',
      'autorestart',
      'task-backend-worker',
      'env_temporal',
      'unique_id',
    ]) {
      t.notOk(names.has(leaked), `pm2's ${leaked} does not reach child ${pid}`);
    }
    t.ok(vars.includes('MY_APP_SETTING=kept'), 'the user environment does');
  }

  // Reload: a new supervisor, online again; the old tree drained and gone.
  await pm2('reload', 'task-backend-worker');
  const reloaded = await until(
    async () => {
      const a = await app();
      return a !== null && a.status === 'online' && a.pid !== launching.pid ? a : null;
    },
    40_000,
    'online again after reload',
  );
  await until(() => [launching.pid, ...gated].every((p) => !alive(p)), 15_000, 'old tree gone');
  for (const pid of gated)
    t.ok(existsSync(join(dir, `drained-${pid}`)), `old child ${pid} finished its task on reload`);
  const current = await until(
    () => (childrenOf(reloaded.pid).length >= 2 ? childrenOf(reloaded.pid) : null),
    20_000,
    'new children',
  );

  // Stop: pm2 sends SIGINT to every process of the tree; the children ignore it, the supervisor drains them.
  const stopStarted = Date.now();
  await pm2('stop', 'task-backend-worker');
  await until(() => [reloaded.pid, ...current].every((p) => !alive(p)), 15_000, 'tree gone after stop');
  for (const pid of current) t.ok(existsSync(join(dir, `drained-${pid}`)), `in-flight task of child ${pid} finished`);
  t.ok(Date.now() - stopStarted >= 1400, 'stop waited for the drain');
  t.equal((await app())?.status, 'stopped');
  t.notOk(existsSync(control), 'control socket removed by the clean exit');

  await pm2('delete', 'task-backend-worker');
  t.equal(await app(), null, 'deleted');
  void done;
});
