// Black box: the built binary's stdout is a pipe whose reader stalls, then goes away. The supervisor must stay
// responsive while its output is blocked (backpressure pauses the children, not the supervisor's event loop),
// deliver every line once the reader reads again, and survive a reader that is gone (EPIPE) without a crash.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { queryControl } from '../../src/ops/control-socket.js';
import { fixture, ROOT, tmp, until } from './_helpers.js';

const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const LINES = 100_000;

function start(dir: string): ReturnType<typeof spawn> {
  return spawn(process.execPath, [MAIN, '-c', '1', '--log-format', 'json', '--control-socket', join(dir, 'ctl.sock')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TBW_WORKER_ENTRY: fixture('spew'),
      FAKE_SPEW_LINES: String(LINES),
      TASK_BACKEND_TYPE: 'celery',
    },
  });
}

void t.test('a stalled stdout reader blocks neither the supervisor nor loses a line', async (t) => {
  const dir = tmp();
  const cp = start(dir);
  t.teardown(() => void cp.kill('SIGKILL'));
  const stdout = cp.stdout as NonNullable<typeof cp.stdout>;
  stdout.pause(); // the reader stalls from the start: ~15 MB of log lines meet a 64 KiB pipe
  const sock = join(dir, 'ctl.sock');
  await until(
    async () => (await queryControl(sock, { cmd: 'ping' }, 500).catch(() => null)) !== null,
    20_000,
    'control socket',
  );
  // The child spews as soon as it is ready; give it time to fill every pipe on the way.
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = performance.now();
  const reply = await queryControl(sock, { cmd: 'status' }, 2000);
  t.ok(performance.now() - t0 < 1000, 'status answered within 1 s while stdout is blocked');
  t.match(reply, { ok: true });
  let buf = '';
  let spewed = 0;
  let marker = false;
  stdout.setEncoding('utf8');
  stdout.on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = JSON.parse(buf.slice(0, nl)) as { msg?: string; marker?: string; child?: number };
      buf = buf.slice(nl + 1);
      if (line.msg === 'task succeeded' && line.child === 0) spewed++;
      if (line.marker === 'spew-done') marker = true;
    }
  });
  stdout.resume();
  await until(() => marker, 60_000, 'the spew-done marker');
  t.equal(spewed, LINES, 'every line arrived, tagged');
  cp.kill('SIGTERM');
  const code = await new Promise((r) => cp.once('exit', r));
  t.equal(code, EXIT.OK);
});

void t.test(
  'a reader that goes away (EPIPE) is said once on stderr; the pool keeps running and stops cleanly',
  async (t) => {
    const dir = tmp();
    const cp = start(dir);
    t.teardown(() => void cp.kill('SIGKILL'));
    let stderr = '';
    cp.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const sock = join(dir, 'ctl.sock');
    await until(
      async () => (await queryControl(sock, { cmd: 'ping' }, 500).catch(() => null)) !== null,
      20_000,
      'control socket',
    );
    cp.stdout?.destroy(); // the reader's end closes: the next write fails with EPIPE
    await until(() => stderr.includes('stdout unwritable (EPIPE)'), 20_000, 'the EPIPE notice');
    const status = await queryControl(sock, { cmd: 'status' }, 2000);
    t.match(status, { ok: true }, 'the supervisor still answers');
    t.equal(stderr.match(/stdout unwritable/g)?.length, 1, 'said once');
    t.notMatch(stderr, /Unhandled 'error' event/);
    cp.kill('SIGTERM');
    const code = await new Promise((r) => cp.once('exit', r));
    t.equal(code, EXIT.OK, 'a clean warm stop');
  },
);
