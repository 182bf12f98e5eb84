// Supervisor benchmarks (issue 2): start → 8 ready (API and real binary, with the floor of 8 bare `node` forks
// measured in the same run), crash → replacement ready, and from the real binary run through its launcher: the
// supervisor's RSS and idle CPU, and log relay lines/s into a pipe against the same child writing into the same
// kind of pipe. Prints medians; not asserted in tests.
// Run: npx tsc -p tsconfig.json && node dist/bench/supervisor.js
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { compileConfig } from '../src/config/compile.js';
import type { WorkerConfig } from '../src/config/types.js';
import { startSupervisor, type SupervisorDeps, type SupervisorHandle } from '../src/supervisor/index.js';
import { median, resultsDir, writeResult, type Metric } from './report.js';

const ROOT = join(resultsDir(), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'children');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const quiet = pino({ level: 'silent' });
const noSignals = { on: () => undefined, off: () => undefined };

function config(concurrency: number): WorkerConfig {
  const host = {
    hostname: hostname(),
    cpuCount: cpus().length,
    stdoutIsTTY: false,
    cwd: process.cwd(),
    tmpdir: tmpdir(),
    runtimeDir: null,
    uid: null,
  };
  const c = compileConfig({ env: {}, host, requireCredentials: false });
  return { ...c, concurrency, controlSocket: '/nonexistent/ctl.sock', logLevel: 'info' };
}

function pool(
  concurrency: number,
  entry: string,
  deps: Partial<SupervisorDeps> = {},
): { h: SupervisorHandle; ready: Promise<void>; readyOf: (slot: number) => Promise<number> } {
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const waiters: { slot: number; resolve: (t: number) => void }[] = [];
  const h = startSupervisor(config(concurrency), {
    workerEntry: join(FIXTURES, entry),
    logger: quiet,
    signals: noSignals,
    onLifecycle: (w) => w === 'ready' && onReady(),
    extensions: [
      {
        name: 'bench',
        attach: (p) =>
          void p.on('childReady', (e) => {
            for (const w of waiters.splice(0)) {
              if (e.slot === w.slot) w.resolve(performance.now());
              else waiters.push(w);
            }
          }),
      },
    ],
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

async function crashToReady(): Promise<number[]> {
  const p = pool(8, 'ok.mjs');
  await p.ready;
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
  return crash;
}

const LINES = Number(process.env.BENCH_LINES ?? 300_000);
const LAUNCHER = join(ROOT, 'bin', 'task-backend-worker');

/**
 * Lines/s from a stdout pipe, as pm2 or the journal read the supervisor: from the first line to the spew child's
 * end marker. `spawnIt` starts the writer with stdout on a pipe this process reads.
 */
async function pipeRate(spawnIt: () => ChildProcess): Promise<number> {
  const cp = spawnIt();
  let lines = 0;
  let first = 0;
  let tail = '';
  const end = await new Promise<number>((resolve, reject) => {
    cp.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (first === 0) first = performance.now();
      for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) lines++;
      tail = (tail + s).slice(-512);
      if (tail.includes('"spew-done"')) resolve(performance.now());
    });
    cp.once('exit', () => reject(new Error('the writer exited before its end marker')));
  });
  cp.kill('SIGTERM');
  await new Promise((r) => (cp.exitCode !== null ? r(null) : cp.once('exit', r)));
  return lines / ((end - first) / 1000);
}

/** The real binary (launcher, as operators run it) relaying one spew child into a pipe. */
const relayRate = (): Promise<number> =>
  pipeRate(() =>
    spawn(
      LAUNCHER,
      [
        '-c',
        '1',
        '--backend',
        'temporal',
        '--log-format',
        'json',
        '--control-socket',
        join(tmpdir(), `tbw-bench-relay-${process.pid}.sock`),
      ],
      {
        env: { ...process.env, TBW_WORKER_ENTRY: join(FIXTURES, 'spew.mjs'), FAKE_SPEW_LINES: String(LINES) },
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    ),
  );

/** The anchor: the same child writing straight into the same kind of pipe, read the same way. */
const baselineRate = (): Promise<number> =>
  pipeRate(() =>
    spawn(process.execPath, [join(FIXTURES, 'spew.mjs')], {
      env: { ...process.env, FAKE_SPEW_LINES: String(LINES) },
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );

/** The floor: 8 bare `node` processes forked at once until each has run its first line (no modules, no work). */
async function bareForks(): Promise<number[]> {
  const script = join(tmpdir(), `tbw-bench-bare-${process.pid}.cjs`);
  writeFileSync(script, 'process.send(1, () => process.disconnect());\n');
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<void>((resolve) => {
            const cp = fork(script, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
            cp.once('message', () => resolve());
          }),
      ),
    );
    out.push(performance.now() - t0);
  }
  return out;
}

/** CPU time of every thread of a process so far, ms (schedstat: nanoseconds on CPU, per thread). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread gone meanwhile
    }
  }
  return ns / 1e6;
}

const rssOf = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const IDLE_FROM_MS = 10_000;
const IDLE_UNTIL_MS = Number(process.env.BENCH_IDLE_MS ?? 40_000);

/**
 * The real binary through its launcher (bin/task-backend-worker, as operators, systemd and pm2 run it: with the
 * supervisor's own node flags, the ops surfaces and the task check) on 8 fixture children: exec → pool running;
 * the supervisor's RSS 3 s after ready and at the end of the idle window (steady state, after V8's memory
 * reducer); its CPU over the idle window, 10 s → 40 s after ready (every thread, from /proc schedstat), while 8
 * children heartbeat at the default interval. The window starts after start-up's garbage and the memory
 * reducer's first collections (~8 s after start): what a long-running supervisor costs, not its first seconds. The fixture entry replaces the backend's children (TBW_WORKER_ENTRY); --backend temporal
 * because it has no supervisor-side part (celery would also start its remote-control node).
 */
async function binary(): Promise<{ ready: number[]; rssMB: number[]; steadyMB: number[]; idleCpuPct: number[] }> {
  const out = { ready: [] as number[], rssMB: [] as number[], steadyMB: [] as number[], idleCpuPct: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const cp = spawn(
      LAUNCHER,
      [
        '-c',
        '8',
        '--backend',
        'temporal',
        '--log-format',
        'json',
        '--control-socket',
        join(tmpdir(), `tbw-bench-${process.pid}.sock`),
      ],
      {
        env: { ...process.env, TBW_WORKER_ENTRY: join(FIXTURES, 'ok.mjs') },
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const exited = new Promise((r) => cp.once('exit', r));
    let tail = '';
    await new Promise<void>((resolve, reject) => {
      cp.stdout?.setEncoding('utf8').on('data', (s: string) => {
        tail = (tail + s).slice(-4096);
        if (tail.includes('"to":"running"')) resolve();
      });
      void exited.then(() => reject(new Error('the binary exited before its pool was running')));
    });
    const readyAt = performance.now();
    out.ready.push(readyAt - t0);
    const pid = cp.pid as number;
    await sleep(3000);
    out.rssMB.push(rssOf(pid));
    await sleep(IDLE_FROM_MS - 3000);
    const c0 = cpuMs(pid);
    const w0 = performance.now();
    await sleep(IDLE_UNTIL_MS - IDLE_FROM_MS);
    out.idleCpuPct.push(((cpuMs(pid) - c0) / (performance.now() - w0)) * 100);
    out.steadyMB.push(rssOf(pid));
    cp.kill('SIGTERM');
    await exited;
  }
  return out;
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
  {
    name: 'start → 8 children ready',
    unit: 'ms',
    value: round(median(r1)),
    runs: r1.map((x) => round(x)),
    target: 1000,
    lowerIsBetter: true,
  },
  {
    name: '8 bare node forks → all running (floor)',
    unit: 'ms',
    value: round(median(floor)),
    runs: floor.map((x) => round(x)),
    lowerIsBetter: true,
  },
  {
    name: 'binary exec → 8 children ready',
    unit: 'ms',
    value: round(median(bin.ready)),
    runs: bin.ready.map((x) => round(x)),
    lowerIsBetter: true,
  },
  {
    name: 'crash → replacement ready',
    unit: 'ms',
    value: round(median(r2)),
    runs: r2.map((x) => round(x)),
    target: 250,
    lowerIsBetter: true,
  },
  {
    name: 'supervisor RSS, steady (8 children idle)',
    unit: 'MB',
    value: round(median(bin.steadyMB)),
    runs: bin.steadyMB.map((x) => round(x)),
    target: 50,
    lowerIsBetter: true,
  },
  {
    name: 'supervisor RSS, 3 s after ready',
    unit: 'MB',
    value: round(median(bin.rssMB)),
    runs: bin.rssMB.map((x) => round(x)),
    lowerIsBetter: true,
  },
  {
    name: 'supervisor idle CPU (8 children)',
    unit: '%',
    value: round(median(bin.idleCpuPct), 2),
    runs: bin.idleCpuPct.map((x) => round(x, 2)),
    target: 0.5,
    lowerIsBetter: true,
  },
  {
    name: 'log relay (binary → pipe)',
    unit: 'lines/s',
    value: Math.round(median(relays)),
    runs: relays.map(Math.round),
    target: 100_000,
  },
  {
    name: 'same child → pipe, no supervisor',
    unit: 'lines/s',
    value: Math.round(median(bases)),
    runs: bases.map(Math.round),
  },
];
for (const m of metrics)
  console.log(
    `${m.name.padEnd(34)} ${String(m.value).padStart(10)} ${m.unit}${m.target === undefined ? '' : `   (target ${m.lowerIsBetter ? '≤' : '≥'} ${m.target})`}`,
  );
console.log(`relay / direct ratio: ${round(median(relays) / median(bases), 2)}`);
console.log(`written: ${writeResult('supervisor', { metrics })}`);
