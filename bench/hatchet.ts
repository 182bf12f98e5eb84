// Benchmark: tasks/s of `task-backend-worker --backend hatchet -c 2` vs ONE plain @hatchet-dev/typescript-sdk
// worker process (no supervisor, a hand-written task) with the same total slots, on the same hatchet-lite server,
// running the same no-op task (add_numbers, input {args, kwargs}, output {result}); plus start → ready of the pool.
// Medians of several runs; contenders alternate inside each run so server drift hits both alike.
//   node dist/bench/hatchet.js [--n 600] [--inflight 100] [--slots 50] [--runs 3]      (build first: npm run build)
// The server comes from scripts/hatchet-server.sh (acquire/release: a running server is reused and left running;
// one started here on demand is stopped again). Each contender and run gets its own namespace.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { HatchetClient, JsonObject } from '@hatchet-dev/typescript-sdk/v1/index.js';
import { closeStreams, runResult } from '../src/backends/hatchet/client.js';
import { clientSettings } from '../src/backends/hatchet/connection.js';
import { median, versions, writeResult } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVER_SCRIPT = join(ROOT, 'scripts', 'hatchet-server.sh');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const TASK = 'add_numbers';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '600' },
    warm: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '100' },
    slots: { type: 'string', default: '50' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
  },
});
const N = Number(opts.n);
const WARM = Number(opts.warm);
const INFLIGHT = Number(opts.inflight);
/** Slots per pool child; the plain worker gets the pool's total (2 × this), so both can hold as many runs. */
const SLOTS = Number(opts.slots);
const RUNS = Number(opts.runs);
/** A freshly started engine leaves runs unassigned for a while (docs/hatchet.md): wait this long after its start. */
const WARMUP_MS = Number(process.env.HATCHET_WARMUP_MS ?? 90_000);

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
type Line = Record<string, unknown>;

function serverScript(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [SERVER_SCRIPT, ...args], { timeout: 170_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/hatchet-server.sh ${args[0]} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Spawns a process (own group) that logs NDJSON; resolves once `count` lines satisfy `isReady`. */
async function spawnReady(
  args: string[],
  env: Record<string, string>,
  isReady: (l: Line) => boolean,
  count: number,
): Promise<{ proc: ChildProcess; ms: number }> {
  const started = Date.now();
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: Line[] = [];
  let buf = '';
  let tail = '';
  const onData = (b: Buffer): void => {
    tail = (tail + b.toString()).slice(-2000);
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Line);
      } catch {
        // not JSON (SDK chatter): ignore
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  try {
    await until('ready', () => {
      if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode} before ready:\n${tail}`);
      return lines.filter(isReady).length >= count;
    });
  } catch (e) {
    await stop(proc);
    throw e;
  }
  return { proc, ms: Date.now() - started };
}

/** SIGTERM to the group (the pool drains, the SDK worker shuts down), SIGKILL after 15 s. */
async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-(proc.pid as number), s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const t = setTimeout(() => signal('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

/** Runs `n` add_numbers tasks with at most INFLIGHT outstanding (trigger, then wait for the output); tasks/s. */
async function load(hatchet: HatchetClient, n: number): Promise<number> {
  let next = 0;
  const started = Date.now();
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const ref = await hatchet.runNoWait(TASK, { args: [i, 1], kwargs: {} } as JsonObject);
      // A run triggered by name reports {<task>: output}; runResult unwraps it as our client does.
      const out = runResult(await ref.output);
      if (out !== i + 1) throw new Error(`wrong result ${JSON.stringify(out)} for ${i}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(INFLIGHT, n) }, lane));
  return n / ((Date.now() - started) / 1000);
}

// The anchor: what a user of the SDK would write by hand, one process, the same task and wire format as ours.
const PLAIN_WORKER = `import { HatchetClient } from '@hatchet-dev/typescript-sdk/v1/index.js';
const [slots] = process.argv.slice(2);
// Our stdin is a pipe from the bench: EOF means the bench is gone (even SIGKILLed), so do not outlive it.
process.stdin.on('end', () => process.exit(0)).resume();
const hatchet = HatchetClient.init({ log_level: 'ERROR' });
const add = hatchet.task({
  name: 'add_numbers',
  retries: 0,
  fn: async (input) => ({ result: input.args[0] + input.args[1] }),
});
const worker = await hatchet.worker('bench-plain', { slots: Number(slots), workflows: [add] });
const running = worker.start();
await worker.waitUntilReady(60000);
console.log(JSON.stringify({ msg: 'plain ready' }));
await running;
`;

function preparePlain(): string {
  // Under .tbw/ so the script resolves @hatchet-dev/* from this package's node_modules.
  const dir = join(ROOT, '.tbw', 'bench-hatchet');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'worker.mjs');
  writeFileSync(script, PLAIN_WORKER);
  return script;
}

type Sdk = typeof import('@hatchet-dev/typescript-sdk/v1/index.js');

async function loadSdk(): Promise<Sdk> {
  const mod = (await import('@hatchet-dev/typescript-sdk/v1/index.js')) as Sdk & { default?: Sdk };
  return mod.default ?? mod;
}

interface Server {
  env: Record<string, string>;
  /** The engine's stamped version (HATCHET_VERSION in the server's env file). */
  version: string;
  client(namespace: string): HatchetClient;
}

async function acquireServer(sdk: Sdk, user: string): Promise<Server> {
  const envPath = (await serverScript(['acquire', user])).trim().split('\n').pop() ?? '';
  const vars = parseEnv(readFileSync(envPath, 'utf8'));
  const token = vars.HATCHET_CLIENT_TOKEN ?? null;
  const hostPort = vars.HATCHET_CLIENT_HOST_PORT ?? null;
  const apiUrl = vars.HATCHET_CLIENT_API_URL ?? null;
  if (!token || !hostPort || !apiUrl) throw new Error(`hatchet server env at ${envPath} is incomplete`);
  const wait = Number(vars.HATCHET_STARTED_AT ?? 0) * 1000 + WARMUP_MS - Date.now();
  if (wait > 0) {
    process.stderr.write(`hatchet engine started recently: waiting ${Math.round(wait / 1000)} s for its warm-up\n`);
    await new Promise((r) => setTimeout(r, wait));
  }
  const env = {
    HATCHET_CLIENT_TOKEN: token,
    HATCHET_CLIENT_HOST_PORT: hostPort,
    HATCHET_CLIENT_API_URL: apiUrl,
    HATCHET_CLIENT_TLS_STRATEGY: 'none',
  };
  return {
    env,
    version: vars.HATCHET_VERSION ?? 'unknown',
    client: (namespace) =>
      sdk.HatchetClient.init({
        ...clientSettings({ token, hostPort, apiUrl, tlsStrategy: 'none', namespace }),
        log_level: 'ERROR',
      }),
  };
}

type Contender = 'plain' | 'pool';

async function main(): Promise<void> {
  const sdk = await loadSdk();
  const user = String(process.pid);
  const server = await acquireServer(sdk, user);
  const tag = randomBytes(3).toString('hex');
  const plainScript = preparePlain();
  const rates: Record<Contender, number[]> = { plain: [], pool: [] };
  const ready: number[] = [];
  const procs = new Set<ChildProcess>();
  const start = async (who: Contender, namespace: string): Promise<{ proc: ChildProcess; ms: number }> => {
    const env = { ...server.env, HATCHET_CLIENT_NAMESPACE: namespace };
    const p =
      who === 'plain'
        ? await spawnReady([plainScript, String(2 * SLOTS)], env, (l) => l.msg === 'plain ready', 1)
        : await spawnReady(
            [
              MAIN,
              '--backend',
              'hatchet',
              '-c',
              '2',
              '--child-concurrency',
              String(SLOTS),
              '--log-format',
              'json',
              '-l',
              'info',
            ],
            env,
            (l) => l.msg === 'child ready',
            2,
          );
    procs.add(p.proc);
    return p;
  };
  try {
    for (let run = 0; run < RUNS; run++) {
      // Alternate who goes first, so a slow phase of the shared machine does not always hit the same contender.
      const order: Contender[] = run % 2 === 0 ? ['plain', 'pool'] : ['pool', 'plain'];
      for (const who of order) {
        const namespace = `bench${tag}${who}${run}`;
        const p = await start(who, namespace);
        if (who === 'pool') ready.push(p.ms);
        const hatchet = server.client(namespace);
        try {
          await load(hatchet, WARM); // warm-up pass (JIT, connections, scheduler caches), not counted
          rates[who].push(await load(hatchet, N));
        } finally {
          closeStreams(hatchet);
          await stop(p.proc);
          procs.delete(p.proc);
        }
      }
      process.stderr.write(
        `run ${run + 1}/${RUNS}: plain ${round(rates.plain.at(-1) ?? 0)} tasks/s, pool -c 2 ${round(rates.pool.at(-1) ?? 0)} tasks/s, pool ready ${ready.at(-1)} ms\n`,
      );
    }
  } finally {
    await Promise.all([...procs].map(stop));
    await serverScript(['release', user]).catch((e: unknown) => process.stderr.write(`${String(e)}\n`));
  }
  const plain = round(median(rates.plain));
  const pool = round(median(rates.pool));
  const report = {
    n: N,
    warm: WARM,
    inflight: INFLIGHT,
    slotsPerChild: SLOTS,
    runs: RUNS,
    tasksPerSec: { plainWorker: plain, pool_c2: pool },
    ratio: round(pool / plain),
    startToReadyMs: { pool_c2_median: median(ready), all: ready },
    raw: rates,
  };
  console.log(JSON.stringify(report, null, 2));
  const anchor = { name: `plain @hatchet-dev/typescript-sdk worker, ${2 * SLOTS} slots`, value: plain };
  const file = writeResult('hatchet', {
    versions: { ...versions(), 'hatchet-lite': server.version },
    metrics: [
      {
        name: `no-op tasks/s (-c 2, ${SLOTS} slots each)`,
        unit: 'tasks/s',
        value: pool,
        runs: rates.pool.map((x) => round(x)),
        anchor,
        target: 0.95,
      },
      {
        name: 'start → ready (-c 2)',
        unit: 'ms',
        value: median(ready),
        runs: ready,
        target: 2000,
        lowerIsBetter: true,
      },
    ],
  });
  process.stderr.write(`written: ${file}\n`);
}

await main();
// The SDK clients have no close(); their gRPC channels would keep this process alive after the report is written.
process.exit(0);
