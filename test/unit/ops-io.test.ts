// Real sockets, no pool: sd_notify against a real AF_UNIX datagram socket (Python plays systemd and reports the
// sender's kernel-stamped pid), the control socket server/client, and the metrics HTTP server.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ControlSocketInUse, queryControl, startControlServer } from '../../src/ops/control-socket.js';
import { MetricsCollector, startMetricsServer } from '../../src/ops/metrics.js';
import { openNotifier } from '../../src/ops/sd-notify.js';
import type { PoolView } from '../../src/ops/view.js';
import { fakeSystemd, PYTHON, sentFor } from '../process/ops-fake-systemd.js';

void t.test('sd_notify through systemd-notify: in order, from our own child, BARRIER honoured', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-sdn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notify');
  const sd = await fakeSystemd(t, path);
  const errors: string[] = [];
  const n = openNotifier({ env: { NOTIFY_SOCKET: path, PATH: process.env.PATH }, onError: (_f, e) => errors.push(e) });
  t.teardown(() => n.close());
  t.equal(n.transport, 'systemd-notify');
  t.ok(n.send({ READY: 1, STATUS: 'all 2 children ready', MAINPID: process.pid }));
  // Queued behind READY=1: these two status-only messages merge, the newest STATUS winning.
  t.ok(n.send({ STATUS: 'one' }));
  t.ok(n.send({ STATUS: 'two', WATCHDOG: 1 }));
  t.ok(n.send({ STOPPING: 1 }));
  const first = await sd.next();
  t.ok(sentFor(first, process.pid), 'sent for this process by the systemd-notify it started');
  t.equal(first.text, `READY=1\nSTATUS=all 2 children ready\nMAINPID=${process.pid}`);
  t.equal((await sd.next()).text, 'STATUS=two\nWATCHDOG=1');
  t.equal((await sd.next()).text, 'STOPPING=1', 'a lifecycle message is never merged or reordered');
  t.same(errors, [], 'every message delivered (systemd-notify waited for the barrier and exited 0)');
  n.close();
  t.equal(n.send({ STOPPING: 1 }), false, 'closed notifier refuses quietly');
});

void t.test('sd_notify: abstract socket address and no NOTIFY_SOCKET', async (t) => {
  const name = `@tbw-test-${process.pid}-${Date.now()}`;
  const sd = await fakeSystemd(t, name);
  const n = openNotifier({ env: { NOTIFY_SOCKET: name, PATH: process.env.PATH } });
  t.teardown(() => n.close());
  t.ok(n.send({ STOPPING: 1 }));
  const d = await sd.next();
  t.equal(d.text, 'STOPPING=1');
  t.ok(sentFor(d, process.pid));
  const none = openNotifier({ env: {} });
  t.equal(none.transport, 'none');
  t.equal(none.send({ READY: 1 }), false);
});

void t.test(
  'sd_notify: a socket nobody listens on is reported, not a hang; no systemd-notify is an error',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-sdn-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const failed = new Promise<string>((resolve) => {
      const n = openNotifier({
        env: { NOTIFY_SOCKET: join(dir, 'nobody'), PATH: process.env.PATH },
        onError: (_f, e) => resolve(e),
      });
      n.send({ READY: 1 });
    });
    t.match(await failed, /systemd-notify exited with \d+/);
    t.throws(
      () => openNotifier({ env: { NOTIFY_SOCKET: join(dir, 'x'), PATH: dir }, extraDirs: [] }),
      /systemd-notify not found/,
    );
  },
);

const view: PoolView = {
  pid: 4242,
  backend: 'celery',
  hostname: 'celery@test',
  phase: 'running',
  startedAt: Date.now(),
  target: 1,
  children: [
    {
      index: 0,
      pid: process.pid,
      state: 'ready',
      spawnedAt: Date.now(),
      readyAt: Date.now(),
      restarts: 0,
      active: 0,
      processed: 3,
      failed: 1,
      lastPollAt: Date.now(),
      rss: 1,
    },
  ],
};

void t.test('control socket: 0600 in a 0700 dir, ping/status/bad requests, stale and live sockets', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'tbw-ctl-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const path = join(base, 'run', 'pool.sock');
  const srv = await startControlServer(path, {
    ping: () => ({ pid: 4242, uptimeMs: 5 }),
    status: async () => ({ view }),
  });
  t.teardown(() => srv.close());
  t.equal(statSync(path).mode & 0o777, 0o600, 'socket is owner-only');
  t.equal(statSync(join(base, 'run')).mode & 0o777, 0o700, 'its directory is owner-only');
  t.same(await queryControl(path, { cmd: 'ping' }), { ok: true, cmd: 'ping', pid: 4242, uptimeMs: 5 });
  const st = await queryControl(path, { cmd: 'status' });
  t.match(st, { ok: true, cmd: 'status', status: { view: { hostname: 'celery@test' } } });
  const bad = await queryControl(path, { cmd: 'nope' } as never);
  t.match(bad, { ok: false, error: /unknown command "nope"/ });
  await t.rejects(
    startControlServer(path, { ping: () => ({ pid: 1, uptimeMs: 1 }), status: async () => null }),
    ControlSocketInUse,
    'a second pool cannot steal a live socket',
  );
  await srv.close();
  await t.rejects(queryControl(path, { cmd: 'ping' }), /no pool is running/);

  // A stale socket file: its server died without unlinking it (Python leaves the file behind on exit).
  const py = spawn(PYTHON, [
    '-c',
    'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()',
    path,
  ]);
  const [code] = (await once(py, 'exit')) as [number];
  t.equal(code, 0);
  t.ok(statSync(path).isSocket(), 'stale socket file exists');
  await t.rejects(queryControl(path, { cmd: 'ping' }), /no pool is running/, 'stale socket = no pool');
  const again = await startControlServer(path, {
    ping: () => ({ pid: 7, uptimeMs: 0 }),
    status: async () => null,
  });
  t.teardown(() => again.close());
  t.match(await queryControl(path, { cmd: 'ping' }), { pid: 7 });
});

void t.test('metrics server: /metrics, /healthz 200 then 503 when a child stalls, 404', async (t) => {
  let current = view;
  const srv = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    view: () => current,
    collector: new MetricsCollector(),
    stallMs: 30_000,
  });
  t.teardown(() => srv.close());
  const url = `http://127.0.0.1:${srv.port}`;
  const m = await fetch(`${url}/metrics`);
  t.equal(m.status, 200);
  t.match(m.headers.get('content-type'), /^text\/plain; version=0.0.4/);
  t.match(await m.text(), /^tbw_children_up\{backend="celery"\} 1$/m);
  const ok = await fetch(`${url}/healthz`);
  t.equal(ok.status, 200);
  t.same(await ok.json(), { healthy: true, problems: [] });
  const firstChild = view.children[0];
  if (firstChild === undefined) throw new Error('fixture view has a child');
  current = { ...view, children: [{ ...firstChild, lastPollAt: Date.now() - 60_000 }] };
  const sick = await fetch(`${url}/healthz`);
  t.equal(sick.status, 503);
  t.match(await sick.json(), { healthy: false, problems: [/child 0 stalled/] });
  t.equal((await fetch(`${url}/nope`)).status, 404);
});
