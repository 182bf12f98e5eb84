// systemd integration without systemd as PID 1: the shipped unit passes `systemd-analyze verify`, its exit-code
// and timeout policy agrees with the program (and with ecosystem.config.cjs), and the real binary run the way
// systemd runs it (NOTIFY_SOCKET, WATCHDOG_USEC) notifies from its own pid: READY=1 only after every child is
// ready, WATCHDOG=1, STOPPING=1 on SIGTERM, then exit 0.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { fakeSystemd, sentFor } from '../process/ops-fake-systemd.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const UNIT = join(ROOT, 'deploy', 'task-backend-worker.service');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const CHILD = join(ROOT, 'test', 'e2e', 'pm2-gated-child.mjs');
const execFileP = promisify(execFile);

/** systemd-analyze verify output, one finding per line (it exits 0 even for parse errors, so read the text). */
async function verify(unitText: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-unit-'));
  try {
    const path = join(dir, 'task-backend-worker.service');
    writeFileSync(path, unitText);
    const r = await execFileP('systemd-analyze', ['verify', path]).then(
      (x) => ({ out: x.stdout + x.stderr, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => ({ out: e.stdout + e.stderr, code: e.code }),
    );
    const lines = r.out.split('\n').filter((l) => l.trim() !== '');
    return r.code === 0 ? lines : [...lines, `exit code ${r.code}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function directive(text: string, key: string): string | undefined {
  return new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
}

function seconds(v: string | undefined): number {
  const m = /^(\d+)(min|s)?$/.exec(v ?? '');
  if (m === null) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
}

void t.test('the unit passes systemd-analyze verify', async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  // verify insists that ExecStart exists: point it at this checkout's launcher.
  const local = text.replace(/^ExecStart=\S+/m, `ExecStart=${join(ROOT, 'bin', 'task-backend-worker')}`);
  const { stdout } = await execFileP('systemctl', ['--version']);
  const version = Number(/systemd (\d+)/.exec(stdout)?.[1] ?? '0');
  // RestartSteps=/RestartMaxDelaySec= arrived in systemd 254; older ones ignore them (documented in the unit).
  const tolerated =
    version < 254 ? /Unknown key '(RestartSteps|RestartMaxDelaySec)' in section \[Service\], ignoring\.$/ : /^$/;
  const findings = (await verify(local)).filter((l) => !tolerated.test(l));
  t.same(findings, [], `systemd ${version} reports nothing`);
  // The check has teeth: a broken unit is reported.
  const broken = await verify(local.replace('Type=notify', 'Type=notifyy'));
  t.ok(
    broken.some((l) => /Failed to parse service type/.test(l)),
    'a bad value is caught',
  );
});

void t.test('unit and pm2 file agree with the program: exit codes, timeouts, readiness', async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  t.equal(directive(text, 'Type'), 'notify');
  // systemd-notify (run by the supervisor) sends the messages: only NotifyAccess=all accepts them.
  t.equal(directive(text, 'NotifyAccess'), 'all');
  t.equal(directive(text, 'KillMode'), 'mixed');
  // Only what every Debian/Ubuntu base system has (/bin/kill comes with procps, absent from minimal images).
  t.equal(directive(text, 'ExecReload'), `/bin/sh -c 'kill -HUP "$MAINPID"'`);
  t.equal(directive(text, 'OOMPolicy'), 'continue');
  t.equal(directive(text, 'Restart'), 'on-failure');
  t.equal(directive(text, 'EnvironmentFile'), '-/etc/task-backend-worker.env');
  t.equal(directive(text, 'NoNewPrivileges'), 'yes');
  t.equal(directive(text, 'ProtectSystem'), 'strict');
  t.notOk(/^MemoryDenyWriteExecute=yes/m.test(text), 'V8 needs W+X memory');
  const noRestart = [EXIT.BOOT_FAILURE, EXIT.CRASH_LOOP, EXIT.USAGE, EXIT.CONFIG];
  t.same(directive(text, 'RestartPreventExitStatus')?.split(' ').map(Number), noRestart);
  const defaultShutdownS = 30;
  const killGraceS = 5;
  t.ok(seconds(directive(text, 'TimeoutStopSec')) > defaultShutdownS + killGraceS, 'stop timeout above the drain');
  t.ok(seconds(directive(text, 'WatchdogSec')) >= 10);
  t.equal(directive(text, 'RuntimeDirectoryMode'), '0700', 'control socket dir is owner-only');
  t.match(directive(text, 'Environment=TASK_CONTROL_SOCKET') ?? text, /\/run\/task-backend-worker\//);

  const eco = createRequire(import.meta.url)(join(ROOT, 'ecosystem.config.cjs')) as {
    apps: Record<string, unknown>[];
  };
  const app = eco.apps[0] ?? {};
  t.equal(eco.apps.length, 1);
  t.equal(app.exec_mode, 'fork');
  t.equal(app.instances, 1);
  t.equal(app.wait_ready, true);
  t.ok(Number(app.listen_timeout) > 60_000, 'listen_timeout above the default ready timeout');
  t.ok(Number(app.kill_timeout) > (defaultShutdownS + killGraceS) * 1000, 'kill_timeout above the drain');
  t.ok(Number(app.exp_backoff_restart_delay) > 0);
  t.same(app.stop_exit_codes, noRestart);
  t.match(String(app.script), /dist\/src\/cli\/main\.js$/, 'a Node script, so pm2 forks it with IPC for wait_ready');
});

void t.test('the binary notifies systemd from its own pid', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-sd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sd = await fakeSystemd(t, join(dir, 'notify'));
  const gate = join(dir, 'gate');
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && k !== 'NODE_OPTIONS')),
    NOTIFY_SOCKET: join(dir, 'notify'),
    WATCHDOG_USEC: '400000',
    TBW_WORKER_ENTRY: CHILD,
    GATE_FILE: gate,
    DRAIN_MS: '100',
    TASK_CONTROL_SOCKET: join(dir, 'run', 'worker.sock'),
    TASK_WORKER_CONCURRENCY: '2',
    CELERY_BROKER_URL: 'redis://127.0.0.1:1/0',
  };
  const proc = spawn(process.execPath, [MAIN, '--log-format', 'json'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  const exited = once(proc, 'exit');
  await sd.waitFor((d) => d.text.startsWith('STATUS=starting'), 15_000);
  t.notOk(
    sd.received.some((d) => d.text.includes('READY=1')),
    'no READY=1 while children are held at the gate',
  );
  writeFileSync(gate, '');
  const ready = await sd.waitFor((d) => d.text.includes('READY=1'), 15_000);
  t.ok(sentFor(ready, proc.pid ?? -1), 'READY=1 is sent for the main PID (by its systemd-notify)');
  t.match(ready.text, /STATUS=running: 2\/2 children ready/);
  const wd = await sd.waitFor((d) => d.text === 'WATCHDOG=1');
  t.ok(sentFor(wd, proc.pid ?? -1));
  proc.kill('SIGTERM');
  const stopping = await sd.waitFor((d) => d.text.includes('STOPPING=1'));
  t.ok(sentFor(stopping, proc.pid ?? -1));
  const [code] = (await exited) as [number | null];
  t.equal(code, EXIT.OK, 'warm shutdown exits 0');
});
