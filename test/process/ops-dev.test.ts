// `task-backend-worker dev`: a private redis-server on a free port, the Celery pool on it, a printed submit
// command that really works, and the server stopped with the pool. A missing server program is one line.
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/exit-codes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const execFileP = promisify(execFile);
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && k !== 'NODE_OPTIONS'),
);

function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** `dev` with `extra` arguments, up to its printed submit command: the process, the URL in it, its stdout so far. */
async function startDev(
  t: Test,
  name: string,
  extra: string[],
  timeoutMs: number,
): Promise<{ proc: ChildProcessByStdio<null, Readable, Readable>; line: string; url: string; out: () => string }> {
  // A directory only this user can write (the pool refuses an unsafe one, such as a symlinked .tbw in a worktree).
  const sockDir = mkdtempSync(join(tmpdir(), 'tbw-dev-sock-'));
  t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
  const proc = spawn(
    process.execPath,
    [MAIN, 'dev', ...extra, '-c', '1', '--log-format', 'json', '-n', `${name}@localhost`],
    {
      // As `npm run dev` runs it from the clone's root (npm sets INIT_CWD to where the user typed the command).
      cwd: ROOT,
      env: { ...baseEnv, INIT_CWD: ROOT, TASK_CONTROL_SOCKET: join(sockDir, `${name}.sock`) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  let err = '';
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no submit line: ${err}`)), timeoutMs);
    proc.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /^ {2}(CELERY_BROKER_URL=\S+ \S*task-backend-worker submit add_numbers 2 3 --wait)$/m.exec(err);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return { proc, line, url: /CELERY_BROKER_URL=(\S+)/.exec(line)?.[1] ?? '', out: () => out };
}

void t.test('dev runs the pool on a private redis and the printed submit command works', async (t) => {
  const { proc, line, url, out: stdout } = await startDev(t, `dev-test-${process.pid}`, [], 20_000);
  t.match(url, /^redis:\/\/127\.0\.0\.1:\d+\/0$/);
  const redisPid = Number(
    (await execFileP('pgrep', ['-f', `redis-server 127.0.0.1:${/:(\d+)\//.exec(url)?.[1]}`])).stdout
      .trim()
      .split('\n')[0],
  );
  t.ok(redisPid > 0 && alive(redisPid), 'redis-server runs');
  // Wait for the pool to be ready before submitting (the result would wait anyway, but bounded is clearer).
  const end = Date.now() + 30_000;
  while (!stdout().includes('"msg":"pool state changed"') && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  t.ok(stdout().includes('"msg":"pool state changed"'), 'the dev pool came up within 30 s');
  // The printed command, run as printed by a shell in the directory the user typed `dev` in.
  t.match(line, /^CELERY_BROKER_URL=\S+ \.\/bin\/task-backend-worker submit/, 'a path that works from a clone');
  const r = await execFileP('sh', ['-c', line], {
    cwd: ROOT,
    env: baseEnv,
    timeout: 30_000,
  });
  t.match(r.stdout, /^5$/m, 'the task ran on the dev pool');
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.equal(code, EXIT.OK);
  t.notOk(alive(redisPid), 'redis-server stopped with the pool');
});

void t.test('dev without the server program says how to install it', async (t) => {
  const r = await execFileP(process.execPath, [MAIN, 'dev'], { env: { ...baseEnv, PATH: '/nonexistent' } }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.equal(r.code, EXIT.CONFIG);
  t.equal(
    r.stderr,
    'task-backend-worker: redis-server not found on PATH; install Redis first: sudo apt-get install redis-server (or brew install redis)\n',
  );
});

/** Processes whose command line or environment mentions `text` (the RabbitMQ node has its name in both). */
function processesWith(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const seen = ['cmdline', 'environ'].some((f) => readFileSync(`/proc/${name}/${f}`, 'utf8').includes(text));
      if (seen && alive(Number(name))) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

void t.test('dev --broker amqp runs the pool on a private RabbitMQ node with rpc:// results', async (t) => {
  const { proc, line, url, out: stdout } = await startDev(t, `dev-amqp-${process.pid}`, ['--broker', 'amqp'], 90_000);
  t.match(url, /^amqp:\/\/guest:guest@127\.0\.0\.1:\d+\/\/$/);
  const node = `tbw-dev-${proc.pid}@localhost`;
  t.ok(processesWith(node).length > 0, `the RabbitMQ node ${node} runs`);
  const end = Date.now() + 60_000;
  while (!stdout().includes('"msg":"pool state changed"') && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  // The printed command as printed: results come back over rpc:// (the default on an AMQP broker).
  const r = await execFileP('sh', ['-c', line], {
    cwd: ROOT,
    env: baseEnv,
    timeout: 30_000,
  });
  t.match(r.stdout, /^5$/m, 'the task ran on the dev pool');
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.equal(code, EXIT.OK);
  // rabbitmqctl stop returns as the node halts; its helper processes (erl_child_setup...) exit right after.
  const gone = Date.now() + 10_000;
  while (processesWith(node).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
  t.same(processesWith(node), [], 'the RabbitMQ node stopped with the pool');
});
