// The launcher (bin/task-backend-worker) runs the supervisor with its own V8 flags for a small footprint; pm2's
// ecosystem file passes the same ones; the children never inherit them (they get only their own heap limit).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { fixture, ROOT, tmp, until } from './_helpers.js';

const LAUNCHER = join(ROOT, 'bin', 'task-backend-worker');

function launcherFlags(): string[] {
  const exec = readFileSync(LAUNCHER, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('exec node '));
  if (exec === undefined) throw new Error('no exec line in the launcher');
  return exec
    .slice('exec node '.length)
    .split(' ')
    .filter((w) => w.startsWith('--'));
}

const argvOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

void t.test('the launcher and the pm2 ecosystem give the supervisor the same node flags', async (t) => {
  const flags = launcherFlags();
  t.ok(flags.length > 0, 'the launcher passes node flags');
  const eco = createRequire(import.meta.url)(join(ROOT, 'ecosystem.config.cjs')) as {
    apps: { node_args?: string[] }[];
  };
  t.same(eco.apps[0]?.node_args, flags);
});

void t.test('the supervisor runs with the flags; its children do not', async (t) => {
  const dir = tmp();
  const cp = spawn(LAUNCHER, ['-c', '2', '--log-format', 'json', '--control-socket', join(dir, 'ctl.sock')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TBW_WORKER_ENTRY: fixture('ok'), TASK_BACKEND_TYPE: 'temporal' },
  });
  t.teardown(() => void cp.kill('SIGKILL'));
  const pids: number[] = [];
  let buf = '';
  cp.stdout?.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = JSON.parse(buf.slice(0, nl)) as { msg?: string; pid?: number };
      buf = buf.slice(nl + 1);
      if (line.msg === 'child ready' && typeof line.pid === 'number') pids.push(line.pid);
    }
  });
  await until(() => pids.length === 2, 20_000, 'two ready children');
  const flags = launcherFlags();
  const sup = argvOf(cp.pid as number);
  for (const f of flags) t.ok(sup.includes(f), `supervisor has ${f}`);
  for (const pid of pids) {
    const argv = argvOf(pid);
    for (const f of flags) t.notOk(argv.includes(f), `child ${pid} does not have ${f}`);
    t.ok(
      argv.some((a) => a.startsWith('--max-old-space-size=')),
      'the child has its own heap limit',
    );
  }
  cp.kill('SIGTERM');
  t.equal(await new Promise((r) => cp.once('exit', r)), EXIT.OK);
});
