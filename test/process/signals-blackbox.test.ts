// Black box: the built binary in its own process group, real signals as pm2/systemd/Ctrl-C send them (to the
// whole group), SIGKILL of the supervisor alone; asserts exit codes, logs, and that /proc holds nothing of the tree.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { fixture, ROOT, tmp, until, type LogLine } from './_helpers.js';

const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** pid → [ppid, pgid] of every live (non-zombie) process, from /proc. */
function procTable(): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z') continue;
      out.set(Number(d), [Number(f[1]), Number(f[2])]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const inGroup = (pgid: number): number[] => [...procTable()].filter(([, [, g]]) => g === pgid).map(([p]) => p);
const childrenOf = (pid: number): number[] => [...procTable()].filter(([, [pp]]) => pp === pid).map(([p]) => p);

interface Bin {
  cp: ChildProcess;
  pid: number;
  lines: LogLine[];
  exit: Promise<{ code: number | null; signal: string | null }>;
  waitLine: (pred: (l: LogLine) => boolean, ms?: number) => Promise<LogLine>;
}

function startBin(t: Test, entry: string, args: string[] = []): Bin {
  const dir = tmp();
  const cp = spawn(
    process.execPath,
    [MAIN, '--log-format', 'json', '--control-socket', join(dir, 'ctl.sock'), ...args],
    {
      detached: true, // own process group, like a service manager's cgroup or a terminal's foreground group
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TBW_WORKER_ENTRY: fixture(entry), TASK_BACKEND_TYPE: 'celery' },
    },
  );
  const lines: LogLine[] = [];
  let buf = '';
  cp.stdout?.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ unparsable: text });
      }
    }
  });
  let stderr = '';
  cp.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) =>
    cp.once('exit', (code, signal) => r({ code, signal })),
  );
  const pid = cp.pid as number;
  t.teardown(async () => {
    for (const p of inGroup(pid)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (stderr) t.comment(`stderr: ${stderr.slice(0, 500)}`);
  });
  const waitLine = (pred: (l: LogLine) => boolean, ms = 20_000): Promise<LogLine> =>
    until(() => lines.find(pred), ms, 'log line');
  return { cp, pid, lines, exit, waitLine };
}

const running = (l: LogLine): boolean => l.msg === 'pool state changed' && l.to === 'running';

t.before(() => {
  if (!existsSync(MAIN)) throw new Error(`build first: ${MAIN} is missing (npx tsc -p tsconfig.json)`);
});

void t.test('TERM to the whole group → children ignore it, drain over IPC, exit 0, nothing left', async (t) => {
  const b = startBin(t, 'ok', ['-c', '2']);
  await b.waitLine(running);
  const kids = childrenOf(b.pid);
  t.equal(kids.length, 2, 'two children forked');
  process.kill(-b.pid, 'SIGTERM');
  t.same(await b.exit, { code: EXIT.OK, signal: null });
  const exits = b.lines.filter((l) => l.msg === 'child exited');
  t.equal(exits.length, 2);
  t.ok(
    exits.every((l) => l.code === 0 && l.signal === null),
    'children exited 0, not by the group signal',
  );
  t.equal(b.lines.filter((l) => l.msg === 'child drained').length, 2);
  t.ok(
    b.lines.every((l) => !('unparsable' in l)),
    'stdout is pure NDJSON',
  );
  await until(() => inGroup(b.pid).length === 0, 3000, 'process group empty');
});

void t.test('INT twice to the group → cold stop without waiting for the drain', async (t) => {
  const b = startBin(t, 'slow-drain', ['-c', '1']);
  await b.waitLine(running);
  process.kill(-b.pid, 'SIGINT');
  await b.waitLine((l) => l.msg === 'pool state changed' && l.to === 'stopping-warm');
  const t0 = Date.now();
  process.kill(-b.pid, 'SIGINT');
  t.same(await b.exit, { code: EXIT.OK, signal: null });
  t.ok(Date.now() - t0 < 5000, 'did not wait for the drain');
  t.ok(b.lines.some((l) => l.msg === 'pool state changed' && l.to === 'stopping-cold'));
  await until(() => inGroup(b.pid).length === 0, 3000, 'process group empty');
});

void t.test('SIGKILL of the supervisor alone → its children exit within 1 s', async (t) => {
  const b = startBin(t, 'ok', ['-c', '2']);
  await b.waitLine(running);
  const kids = childrenOf(b.pid);
  t.equal(kids.length, 2);
  process.kill(b.pid, 'SIGKILL');
  await b.exit;
  const t0 = Date.now();
  await until(() => kids.every((k) => !procTable().has(k)), 5000, 'orphans gone');
  const took = Date.now() - t0;
  t.ok(took < 1000, `children gone ${took} ms after the supervisor (issue 2: within 1 s)`);
  t.same(inGroup(b.pid), []);
});

void t.test('a child that can never boot → exit code BOOT_FAILURE and one fatal reason line', async (t) => {
  const b = startBin(t, 'fatal-boot', ['-c', '2']);
  t.same(await b.exit, { code: EXIT.BOOT_FAILURE, signal: null });
  const fatal = b.lines.filter((l) => l.msg === 'pool giving up');
  t.equal(fatal.length, 1);
  t.match(String(fatal[0]?.reason), /BootError: fake: bad token/);
  await until(() => inGroup(b.pid).length === 0, 3000, 'process group empty');
});
