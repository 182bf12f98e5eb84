// Shared real Hatchet server for the e2e tests: scripts/hatchet-server.sh starts (or reuses) ONE hatchet-lite on
// Debian PostgreSQL for the whole test run; each test file registers as a user and isolates itself with its own
// namespace. Fails loudly (never skips) when the server cannot be built or started.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from '../../src/config/types.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_SCRIPT = join(REPO_ROOT, 'scripts', 'hatchet-server.sh');
export const VENV_PYTHON = join(REPO_ROOT, '.tbw', 'venv', 'bin', 'python');

export interface HatchetServer {
  token: string;
  hostPort: string;
  apiUrl: string;
  version: string;
  /** A fresh namespace for this test file, so files sharing the server never see each other's runs. */
  namespace: string;
  /** HATCHET_CLIENT_* variables for child processes (workers, Python clients). */
  env: Record<string, string>;
  /** Release this file's use; the server stops when it was started on demand and nobody else uses it. */
  stop(): Promise<void>;
}

function run(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [SERVER_SCRIPT, ...args], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`scripts/hatchet-server.sh ${args[0]} failed: ${err.message}\n${stderr.slice(-4000)}`));
      } else resolve(stdout);
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

export async function startHatchet(): Promise<HatchetServer> {
  const user = String(process.pid);
  // The first start of a run may also build the binaries (minutes); CI builds them beforehand.
  const envPath = (await run(['acquire', user], 170_000)).trim().split('\n').pop() ?? '';
  const vars = parseEnv(await readFile(envPath, 'utf8'));
  const token = vars.HATCHET_CLIENT_TOKEN;
  const hostPort = vars.HATCHET_CLIENT_HOST_PORT;
  const apiUrl = vars.HATCHET_CLIENT_API_URL;
  if (!token || !hostPort || !apiUrl) throw new Error(`hatchet server env at ${envPath} is incomplete`);
  // A freshly started engine leaves runs unassigned for a while (seen: tens of seconds after start under load);
  // tests wait until the server has been up this long. CI starts the server early so the wait overlaps other work.
  const startedAt = Number(vars.HATCHET_STARTED_AT ?? 0) * 1000;
  const warmupMs = Number(process.env.HATCHET_WARMUP_MS ?? 90_000);
  const wait = startedAt + warmupMs - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const namespace = `t${randomBytes(4).toString('hex')}`;
  let released = false;
  return {
    token,
    hostPort,
    apiUrl,
    version: vars.HATCHET_VERSION ?? 'unknown',
    namespace,
    env: {
      HATCHET_CLIENT_TOKEN: token,
      HATCHET_CLIENT_HOST_PORT: hostPort,
      HATCHET_CLIENT_API_URL: apiUrl,
      HATCHET_CLIENT_TLS_STRATEGY: 'none',
      HATCHET_CLIENT_NAMESPACE: namespace,
    },
    stop: async () => {
      if (released) return;
      released = true;
      await run(['release', user], 60_000);
    },
  };
}

/** A complete WorkerConfig for the hatchet backend against `server` (tests that drive the backend in-process). */
export function hatchetWorkerConfig(server: HatchetServer, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    backend: 'hatchet',
    concurrency: 1,
    childConcurrency: 4,
    queues: null,
    hostname: hostname(),
    logLevel: 'warn',
    logFormat: 'json',
    maxTasksPerChild: null,
    maxMemoryPerChildKiB: null,
    autoscale: null,
    shutdownTimeoutMs: 10_000,
    heartbeatTimeoutMs: 30_000,
    heartbeatIntervalMs: 1000,
    readyTimeoutMs: 60_000,
    taskModules: [],
    builtins: true,
    controlSocket: join(REPO_ROOT, '.tbw', `hatchet-test-${process.pid}.sock`),
    metricsPort: null,
    metricsHost: '127.0.0.1',
    celery: {
      brokerUrl: 'redis://127.0.0.1:6379/0',
      resultBackend: null,
      resultExpiresS: 86400,
      resultExtended: false,
      acksLate: true,
      visibilityTimeoutS: 3600,
      trackStarted: false,
      sendEvents: false,
      maxMessageBytes: 1 << 20,
      deadLetterKey: 'tbw:dead',
    },
    temporal: {
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'default',
      apiKey: null,
      tls: { clientCertPath: null, clientKeyPath: null, serverCaCertPath: null, serverName: null, enabled: false },
      maxCachedWorkflows: 100,
    },
    hatchet: {
      token: server.token,
      hostPort: server.hostPort,
      apiUrl: server.apiUrl,
      tlsStrategy: 'none',
      namespace: server.namespace,
    },
    ...overrides,
  };
}

/** Poll `check` until it returns true or the deadline passes (then throw naming `what`). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Pool {
  pid: number;
  /** Parsed NDJSON lines the supervisor wrote so far (its own and its children's); raw text as {raw}. */
  lines: Record<string, unknown>[];
  /** Pids of children that reported ready, oldest first. */
  readyPids(): number[];
  /** Resolves with the supervisor's exit code. */
  exited: Promise<number | null>;
  /** SIGKILL the whole process group (cleanup; a no-op once exited). */
  kill(): void;
}

/** `task-backend-worker --backend hatchet -c N` from dist/, in its own process group; resolves once N children are ready. */
export async function startPool(
  server: HatchetServer,
  opts: { concurrency?: number; args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Pool> {
  const main = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} missing: build first (npx tsc -p tsconfig.json)`);
  const n = opts.concurrency ?? 2;
  const args = [main, '--backend', 'hatchet', '-c', String(n), '--log-format', 'json', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...server.env, ...opts.env },
  });
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const onData = (b: Buffer): void => {
    partial += b.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        lines.push({ raw: p });
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const pool: Pool = {
    pid: child.pid as number,
    lines,
    readyPids: () => lines.filter((l) => l.msg === 'child ready').map((l) => l.pid as number),
    exited,
    kill: () => {
      if (done) return;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
  try {
    await waitFor(`${n} hatchet children ready`, () => {
      if (done) throw new Error(`pool exited early:\n${lines.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
      return pool.readyPids().length >= n;
    }, opts.timeoutMs ?? 60_000);
  } catch (e) {
    pool.kill();
    throw e;
  }
  return pool;
}
