// The pool with its operations surfaces, on fixture children: systemd notifications from the supervisor's own pid
// (READY only after every child is ready, WATCHDOG, STOPPING + EXTEND_TIMEOUT_USEC), children without
// NOTIFY_SOCKET, the control socket (status/ping), /metrics and /healthz, and the `status` CLI against it.
import { execFile, fork as realFork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { queryControl } from '../../src/ops/control-socket.js';
import { runPool } from '../../src/ops/pool.js';
import type { StatusDocument } from '../../src/ops/status.js';
import { freePort } from '../helpers/redis.js';
import { alive, captureLogger, fixture, ROOT, testConfig, tmp, until } from './_helpers.js';
import { fakeSystemd, sentFor } from './ops-fake-systemd.js';

const execFileP = promisify(execFile);
// The built CLI (bin/task-backend-worker only imports it; its extension-less name trips tap's loaders).
const BIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
// The binary runs as users run it: without tap's loaders (NODE_OPTIONS) that the test process carries.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));
const run = (file: string, args: string[]) => execFileP(file, args, { env: cleanEnv });

void t.test('systemd, status socket and metrics around a real pool', async (t) => {
  const dir = tmp();
  const notifyPath = join(dir, 'notify');
  const sd = await fakeSystemd(t, notifyPath);
  const controlSocket = join(dir, 'run', 'pool.sock');
  const metricsPort = await freePort();
  const { logger, lines } = captureLogger('debug');
  const signals = new EventEmitter();
  const pids: number[] = [];
  const env = { ...process.env, NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '300000', FAKE_TASK_EVERY_MS: '50' };
  const done = runPool(
    testConfig({ concurrency: 2, controlSocket, metricsPort, heartbeatIntervalMs: 50, shutdownTimeoutMs: 4000 }),
    {
      workerEntry: fixture('ok'),
      logger,
      signals,
      env,
      fork: (path, args, opts) => {
        const cp = realFork(path, args, opts);
        if (cp.pid !== undefined) pids.push(cp.pid);
        return cp;
      },
    },
    { stallMs: 10_000 },
  );
  let finished = false;
  void done.then(() => (finished = true));
  t.teardown(async () => {
    if (!finished) {
      signals.emit('SIGQUIT');
      await done;
    }
    await until(() => pids.every((p) => !alive(p)), 5000, 'every child gone');
  });

  const ready = await sd.waitFor((d) => d.text.includes('READY=1'));
  // systemd-notify sends on the supervisor's behalf (see sentFor), never a pool child.
  t.ok(sentFor(ready, process.pid), 'READY=1 comes from the supervisor (through its systemd-notify)');
  t.notOk(pids.includes(ready.pid), 'never from a pool child');
  t.match(ready.text, /STATUS=running: 2\/2 children ready/, 'sent only once every child is ready');
  t.match(ready.text, new RegExp(`MAINPID=${process.pid}`));
  t.notOk(
    sd.received.slice(0, sd.received.indexOf(ready)).some((d) => d.text.includes('WATCHDOG=1')),
    'no WATCHDOG=1 before READY=1',
  );
  const wd = await sd.waitFor((d) => d.text.includes('WATCHDOG=1'));
  t.ok(sentFor(wd, process.pid));

  t.equal(pids.length, 2);
  for (const pid of pids) {
    const childEnv = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    t.notOk(
      childEnv.some((kv) => /^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=/.test(kv)),
      `child ${pid} does not see systemd's variables`,
    );
  }

  const ping = await queryControl(controlSocket, { cmd: 'ping' });
  t.match(ping, { ok: true, pid: process.pid });
  const reply = await until(
    async () => {
      const r = await queryControl(controlSocket, { cmd: 'status' });
      const doc = (r.ok && r.cmd === 'status' ? r.status : null) as StatusDocument | null;
      return doc !== null && doc.children.every((c) => c.processed > 0) ? doc : null;
    },
    10_000,
    'status with processed tasks',
  );
  t.equal(reply.children.length, 2);
  t.same(
    reply.children.map((c) => c.index),
    [0, 1],
  );
  t.same(new Set(reply.children.map((c) => c.pid)), new Set(pids), 'rows name the real child pids');
  for (const c of reply.children) {
    t.equal(c.state, 'ready');
    t.ok((c.rssBytes ?? 0) > 10 * 1024 * 1024, 'RSS sampled');
    t.type(c.cpuPercent, 'number', 'CPU % sampled by pidusage');
    t.ok(c.lastPollAt !== null);
  }
  t.equal(reply.healthy, true);

  // The CLI, as a separate process, against the same socket.
  const table = await run(process.execPath, [BIN, 'status', '--socket', controlSocket]);
  t.match(table.stdout, /^CHILD\s+PID\s+STATE/m);
  t.match(table.stdout, new RegExp(`^0\\s+\\d+\\s+ready\\s+`, 'm'));
  const json = JSON.parse(
    (await run(process.execPath, [BIN, 'status', '--json', '--socket', controlSocket])).stdout,
  ) as StatusDocument;
  t.equal(json.pid, process.pid);
  t.match(
    (await run(process.execPath, [BIN, 'status', '--ping', '--socket', controlSocket])).stdout,
    /^pong from pid \d+/,
  );

  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.match(metrics, /^tbw_children_up\{backend="celery"\} 2$/m);
  t.match(metrics, /^tbw_tasks_total\{backend="celery",state="succeeded"\} [1-9]\d*$/m);
  const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
  t.equal(health.status, 200);

  signals.emit('SIGTERM');
  const stopping = await sd.waitFor((d) => d.text.includes('STOPPING=1'));
  t.ok(sentFor(stopping, process.pid));
  t.match(stopping.text, /EXTEND_TIMEOUT_USEC=\d+/);
  const usec = Number(/EXTEND_TIMEOUT_USEC=(\d+)/.exec(stopping.text)?.[1]);
  t.ok(usec >= 4_000_000 && usec <= 15_000_000, `stop extension covers the shutdown timeout (${usec} µs)`);
  t.equal(await done, EXIT.OK);
  t.notOk(existsSync(controlSocket), 'control socket removed at exit');
  t.ok(
    pids.every((p) => !alive(p)),
    'no child left',
  );
  t.ok(lines.some((l) => l.msg === 'metrics server listening'));
});

void t.test('status with no pool running: one line naming the socket, exit 69', async (t) => {
  const path = join(tmp(), 'none.sock');
  const r = await run(process.execPath, [BIN, 'status', '--socket', path]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.equal(r.code, EXIT.UNAVAILABLE);
  t.equal(
    r.stderr,
    `task-backend-worker: no pool is running (nothing listens on ${path}) (socket set by --socket); is the worker running?\n`,
  );
});

void t.test('a metrics port already taken is a configuration error before any child starts', async (t) => {
  const { createServer } = await import('node:net');
  const busy = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  t.teardown(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const forked: number[] = [];
  const { logger, lines } = captureLogger('debug');
  const code = await runPool(testConfig({ metricsPort: port, controlSocket: join(tmp(), 's.sock') }), {
    workerEntry: fixture('ok'),
    logger,
    fork: (p, a, o) => {
      const cp = realFork(p, a, o);
      forked.push(cp.pid ?? 0);
      return cp;
    },
  });
  t.equal(code, EXIT.CONFIG);
  t.equal(forked.length, 0, 'no child was forked');
  t.ok(lines.some((l) => l.msg === 'cannot serve metrics'));
});
