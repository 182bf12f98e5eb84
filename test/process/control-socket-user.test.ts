// The control socket against another local user (created here with useradd; the suite runs as root): a socket
// directory that user pre-created (or any group/world-writable one) is refused before any fork, exit 78; a pool's
// own socket can be neither reached nor replaced by that user, and `status` still answers its owner.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { queryControl } from '../../src/ops/control-socket.js';
import { fixture, ROOT, until } from './_helpers.js';

const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const HOST = 'tbw-sock-test';

const name = `tbwsock${process.pid % 100000}`;
execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
t.teardown(() => void spawnSync('userdel', [name]));
const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());

// A /tmp of our own: world-writable and sticky, like the real one.
const base = mkdtempSync(join(tmpdir(), 'tbw-sock-'));
chmodSync(base, 0o1777);
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const myUid = process.getuid?.() ?? 0;
const sockDir = join(base, `task-backend-worker-${myUid}`);

/** Run a small script as the other user; resolves with what it printed (JSON). */
function asOther(script: string): Record<string, string> {
  const r = spawnSync(process.execPath, ['-e', script], { uid, gid, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  if (r.status !== 0) throw new Error(`script as ${name} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

function startPool(): ReturnType<typeof spawn> & { out: () => string } {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TMPDIR: base,
    TBW_WORKER_ENTRY: fixture('ok'),
    TASK_BACKEND_TYPE: 'temporal',
    TASK_WORKER_NAME: HOST,
  };
  const cp = spawn(process.execPath, [MAIN, '--log-format', 'json', '-c', '1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  cp.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  cp.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  return Object.assign(cp, { out: () => out });
}

const exited = (cp: ReturnType<typeof spawn>): Promise<number | null> =>
  new Promise((r) => (cp.exitCode !== null ? r(cp.exitCode) : cp.once('exit', (c) => r(c))));

void t.test('a socket directory pre-created by another user is refused: exit 78, nothing forked', async (t) => {
  asOther(
    `const fs = require('fs'); fs.mkdirSync(${JSON.stringify(sockDir)}); fs.chmodSync(${JSON.stringify(sockDir)}, 0o777);` +
      'console.log("{}")',
  );
  const cp = startPool();
  t.teardown(() => void cp.kill('SIGKILL'));
  t.equal(await exited(cp), EXIT.CONFIG);
  t.match(cp.out(), new RegExp(`control socket directory ${sockDir} belongs to uid ${uid}`));
  t.notMatch(cp.out(), /child ready/, 'no child was started');
  rmSync(sockDir, { recursive: true, force: true });
});

void t.test('our own directory, but writable by others: refused too', async (t) => {
  mkdirSync(sockDir);
  chmodSync(sockDir, 0o777);
  const cp = startPool();
  t.teardown(() => void cp.kill('SIGKILL'));
  t.equal(await exited(cp), EXIT.CONFIG);
  t.match(cp.out(), /is writable by its group or others \(mode 777\)/);
  rmSync(sockDir, { recursive: true, force: true });
});

void t.test('another user can neither talk to nor replace a running pool\u2019s socket', async (t) => {
  const cp = startPool();
  t.teardown(() => void cp.kill('SIGKILL'));
  await until(() => cp.out().includes('"child ready"'), 20_000, 'a ready child');
  const sock = join(sockDir, `${HOST}.sock`);
  await until(async () => (await queryControl(sock, { cmd: 'ping' }).catch(() => null)) !== null, 10_000, 'socket');
  const tried = asOther(`
    const fs = require('fs'); const net = require('net'); const out = {};
    const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
    out.unlink = code(() => fs.unlinkSync(${JSON.stringify(sock)}));
    out.rename = code(() => fs.renameSync(${JSON.stringify(sock)}, ${JSON.stringify(join(base, 'moved'))}));
    out.create = code(() => fs.writeFileSync(${JSON.stringify(join(sockDir, 'other.sock'))}, ''));
    const s = net.connect(${JSON.stringify(sock)});
    s.on('connect', () => { out.connect = 'ok'; s.destroy(); console.log(JSON.stringify(out)); });
    s.on('error', (e) => { out.connect = e.code; console.log(JSON.stringify(out)); });
  `);
  t.same(tried, { unlink: 'EACCES', rename: 'EACCES', create: 'EACCES', connect: 'EACCES' }, JSON.stringify(tried));
  const reply = await queryControl(sock, { cmd: 'status' });
  t.equal(reply.ok, true, 'status still answers the pool\u2019s own user');
  cp.kill('SIGTERM');
  t.equal(await exited(cp), EXIT.OK);
});
