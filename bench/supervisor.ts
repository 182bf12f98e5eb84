// Supervisor benchmarks (issue 2): start → 8 ready (API and real binary, with the floor of 8 bare `node` forks
// measured in the same run), crash → replacement ready, the real supervisor's RSS, idle CPU, log relay lines/s
// against the same child writing to /dev/null. Prints medians; not asserted in tests.
// Run: npx tsc -p tsconfig.json && node dist/bench/supervisor.js
import { fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { compileConfig } from '../src/config/compile.js';
import type { WorkerConfig } from '../src/config/types.js';
import { startSupervisor, type SupervisorDeps, type SupervisorHandle } from '../src/supervisor/index.js';
import type { LineSink } from '../src/supervisor/log-relay.js';
import { median, resultsDir, writeResult, type Metric } from './report.js';

const ROOT = join(resultsDir(), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'children');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const quiet = pino({ level: 'silent' });
const noSignals = { on: () => undefined, off: () => undefined };

function config(concurrency: number): WorkerConfig {
  const host = { hostname: hostname(), cpuCount: cpus().length, stdoutIsTTY: false, cwd: process.cwd(), tmpdir: tmpdir(), runtimeDir: null, uid: null };
  const c = compileConfig({ env: {}, host, requireCredentials: false });
  return { ...c, concurrency, controlSocket: '/nonexistent/ctl.sock', logLevel: 'info' };
}

function pool(concurrency: number, entry: string, deps: Partial<SupervisorDeps> = {}): { h: SupervisorHandle; ready: Promise<void>; readyOf: (slot: number) => Promise<number> } {
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const waiters: { slot: number; resolve: (t: number) => void }[] = [];
  const h = startSupervisor(config(concurrency), {
    workerEntry: join(FIXTURES, entry),
    logger: quiet,
    signals: noSignals,
    onLifecycle: (w) => w === 'ready' && onReady(),
    onEvent: (e, _before, after) => {
      if (e.type !== 'childMessage' || e.msg.type !== 'ready') return;
      const c = after.children.find((x) => x.id === e.id);
      for (const w of waiters.splice(0)) {
        if (c && c.slot === w.slot) w.resolve(performance.now());
        else waiters.push(w);
      }
    },
    ...deps,
  });
  const readyOf = (slot: number): Promise<number> => new Promise((resolve) => waiters.push({ slot, resolve }));
  return { h, ready, readyOf };
}

async function stop(h: SupervisorHandle): Promise<void> {
  h.signal('QUIT');
  await h.done;
}

async function startToReady(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const p = pool(8, 'ok.mjs');
    await p.ready;
    out.push(performance.now() - t0);
    await stop(p.h);
  }
  return out;
}

async function crashToReady(): Promise<{ crash: number[]; rssMB: number; idleCpuPct: number }> {
  const p = pool(8, 'ok.mjs');
  await p.ready;
  // Idle: 8 ready children heartbeating at the default interval.
  const idleMs = 5000;
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, idleMs));
  const cpu = process.cpuUsage(c0);
  const idleCpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - w0)) * 100;
  const rssMB = process.memoryUsage.rss() / 1024 / 1024;
  const crash: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const victim = p.h.snapshot().children.find((c) => c.index === i && c.state === 'ready');
    if (!victim?.pid) throw new Error('no ready child to crash');
    const next = p.readyOf(i);
    const t0 = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    crash.push((await next) - t0);
  }
  await stop(p.h);
  return { crash, rssMB, idleCpuPct };
}

const LINES = Number(process.env.BENCH_LINES ?? 300_000);

async function relayRate(): Promise<number> {
  const fd = openSync('/dev/null', 'w');
  let lines = 0;
  let first = 0;
  let onDone!: (t: number) => void;
  const done = new Promise<number>((r) => (onDone = r));
  const sink: LineSink = {
    raw(text) {
      if (first === 0) first = performance.now();
      writeSync(fd, text);
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
      if (text.includes('"spew-done"')) onDone(performance.now());
    },
    wrapped() {
      // the spew child writes JSON only
    },
  };
  const p = pool(1, 'spew.mjs', { sink, env: { ...process.env, FAKE_SPEW_LINES: String(LINES) } });
  const end = await done;
  await stop(p.h);
  closeSync(fd);
  return (lines - 1) / ((end - first) / 1000);
}

async function baselineRate(): Promise<number> {
  const devnull = openSync('/dev/null', 'w');
  const cp = spawn(process.execPath, [join(FIXTURES, 'spew.mjs')], {
    stdio: ['ignore', devnull, 'pipe'],
    env: { ...process.env, FAKE_SPEW_LINES: String(LINES) },
  });
  let err = '';
  cp.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  await new Promise((r) => cp.once('exit', r));
  closeSync(devnull);
  return LINES / (Number(err.trim()) / 1000);
}

/** The floor: 8 bare `node` processes forked at once until each has run its first line (no modules, no work). */
async function bareForks(): Promise<number[]> {
  const script = join(tmpdir(), `tbw-bench-bare-${process.pid}.cjs`);
  writeFileSync(script, 'process.send(1, () => process.disconnect());\n');
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => new Promise<void>((resolve) => {
      const cp = fork(script, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
      cp.once('message', () => resolve());
    })));
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * The real binary (dist/src/cli/main.js, as operators run it, with the ops surfaces and the task check) on 8
 * fixture children: exec → pool running, and the supervisor's own RSS after 3 s of idling (read from /proc).
 * The fixture entry replaces the backend's children (TBW_WORKER_ENTRY); --backend temporal because it has no
 * supervisor-side part (celery would also start its remote-control node).
 */
async function binary(): Promise<{ ready: number[]; rssMB: number[] }> {
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const ready: number[] = [];
  const rssMB: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const cp = spawn(process.execPath, [main, '-c', '8', '--backend', 'temporal', '--log-format', 'json', '--control-socket', join(tmpdir(), `tbw-bench-${process.pid}.sock`)], {
      env: { ...process.env, TBW_WORKER_ENTRY: join(FIXTURES, 'ok.mjs') },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise((r) => cp.once('exit', r));
    let tail = '';
    await new Promise<void>((resolve, reject) => {
      cp.stdout?.setEncoding('utf8').on('data', (s: string) => {
        tail = (tail + s).slice(-4096);
        if (tail.includes('"to":"running"')) resolve();
      });
      void exited.then(() => reject(new Error('the binary exited before its pool was running')));
    });
    ready.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 3000));
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${cp.pid}/status`, 'utf8'))?.[1];
    rssMB.push(Number(kb) / 1024);
    cp.kill('SIGTERM');
    await exited;
  }
  return { ready, rssMB };
}

const floor = await bareForks();
const bin = await binary();
const r1 = await startToReady();
const r2 = await crashToReady();
const relays: number[] = [];
const bases: number[] = [];
for (let i = 0; i < RUNS; i++) {
  relays.push(await relayRate());
  bases.push(await baselineRate());
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const metrics: Metric[] = [
  { name: 'start → 8 children ready', unit: 'ms', value: round(median(r1)), runs: r1.map((x) => round(x)), target: 1000, lowerIsBetter: true },
  { name: '8 bare node forks → all running (floor)', unit: 'ms', value: round(median(floor)), runs: floor.map((x) => round(x)), lowerIsBetter: true },
  { name: 'binary exec → 8 children ready', unit: 'ms', value: round(median(bin.ready)), runs: bin.ready.map((x) => round(x)), lowerIsBetter: true },
  { name: 'crash → replacement ready', unit: 'ms', value: round(median(r2.crash)), runs: r2.crash.map((x) => round(x)), target: 250, lowerIsBetter: true },
  { name: 'supervisor RSS (binary, 8 children)', unit: 'MB', value: round(median(bin.rssMB)), runs: bin.rssMB.map((x) => round(x)), target: 50, lowerIsBetter: true },
  { name: 'bench process RSS (API, 8 children)', unit: 'MB', value: round(r2.rssMB), lowerIsBetter: true },
  { name: 'supervisor idle CPU (8 children)', unit: '%', value: round(r2.idleCpuPct, 2), target: 0.5, lowerIsBetter: true },
  { name: 'log relay', unit: 'lines/s', value: Math.round(median(relays)), runs: relays.map(Math.round), target: 100_000 },
  { name: 'same child writing to /dev/null', unit: 'lines/s', value: Math.round(median(bases)), runs: bases.map(Math.round) },
];
for (const m of metrics) console.log(`${m.name.padEnd(34)} ${String(m.value).padStart(10)} ${m.unit}${m.target === undefined ? '' : `   (target ${m.lowerIsBetter ? '≤' : '≥'} ${m.target})`}`);
console.log(`relay / direct ratio: ${round(median(relays) / median(bases), 2)}`);
console.log(`written: ${writeResult('supervisor', { metrics })}`);
