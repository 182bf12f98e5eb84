// Shared by the Hatchet and Temporal e2e helpers and the process tests: ONE base WorkerConfig builder and ONE
// launcher for the supervised pool from dist/ (`node dist/src/cli/main.js`, JSON log lines captured).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CeleryConfig, HatchetConfig, TemporalConfig, WorkerConfig } from '../../src/config/types.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Top-level fields replace the defaults; celery/temporal/hatchet are merged field by field into theirs. */
export type BaseConfigOverrides = Partial<Omit<WorkerConfig, 'celery' | 'temporal' | 'hatchet'>> & {
  celery?: Partial<CeleryConfig>;
  temporal?: Partial<TemporalConfig>;
  hatchet?: Partial<HatchetConfig>;
};

/** A complete WorkerConfig with test defaults (celery backend, no control socket, no hatchet credentials). */
export function baseWorkerConfig(over: BaseConfigOverrides = {}): WorkerConfig {
  const { celery, temporal, hatchet, ...top } = over;
  return {
    backend: 'celery',
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
    deliveryLimit: 2,
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
      rejectOnWorkerLost: false,
      acksOnFailureOrTimeout: true,
      visibilityTimeoutS: 3600,
      trackStarted: false,
      storeErrorsEvenIfIgnored: false,
      sendEvents: false,
      maxMessageBytes: 1 << 20,
      deadLetterKey: 'tbw.dead',
      deadLetterMax: 10_000,
      ...celery,
    },
    temporal: {
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'default',
      apiKey: null,
      tls: { clientCertPath: null, clientKeyPath: null, serverCaCertPath: null, serverName: null, enabled: false },
      maxCachedWorkflows: 100,
      ...temporal,
    },
    hatchet: { token: null, hostPort: null, apiUrl: null, tlsStrategy: null, namespace: null, ...hatchet },
    ...top,
  };
}

/** Poll `check` until it returns true or the deadline passes (then throw naming `what`). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
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

export interface LaunchOptions {
  backend: string;
  concurrency: number;
  args?: string[];
  /** Laid over process.env for the supervisor. */
  env: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Named in the timeout error, e.g. "2 children ready". */
  readyWhat: string;
  /** The tail of the output quoted when the pool exits before it is ready. */
  exitReport: (lines: Record<string, unknown>[]) => string;
}

/** `task-backend-worker --backend B -c N --log-format json` from dist/, in its own process group; resolves once N children are ready. */
export async function launchPool(opts: LaunchOptions): Promise<Pool> {
  const main = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} missing: build first (npx tsc -p tsconfig.json)`);
  const n = opts.concurrency;
  const args = [main, '--backend', opts.backend, '-c', String(n), '--log-format', 'json', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
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
    await waitFor(
      opts.readyWhat,
      () => {
        if (done) throw new Error(`pool exited early:${opts.exitReport(lines)}`);
        return pool.readyPids().length >= n;
      },
      opts.timeoutMs ?? 60_000,
    );
  } catch (e) {
    pool.kill();
    throw e;
  }
  return pool;
}

/** `--tasks` arguments for the conformance module plus the given fixture modules (paths relative to the repo). */
export function taskArgs(...modules: string[]): string[] {
  return ['test/fixtures/tasks/conformance.mjs', ...modules].flatMap((p) => ['--tasks', join(REPO_ROOT, p)]);
}

/** "<pid> <attempt>" lines a marked fixture task wrote to <dir>/<key> when it started (none yet → []). */
export function marks(dir: string, key: string): { pid: number; attempt: number }[] {
  try {
    return readFileSync(join(dir, key), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [pid, attempt] = l.split(' ').map(Number);
        return { pid: pid as number, attempt: attempt as number };
      });
  } catch {
    return [];
  }
}

/** `tbw_task_duration_seconds_count` from a pool's `--metrics-port`, 0 when no task was timed yet. */
export async function timedTasks(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tbw_task_duration_seconds_count'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits (10 s at most) until the pool's metrics have timed at least `min` runs; returns the count then. */
export async function timedAtLeast(port: number, min: number): Promise<number> {
  await waitFor(`${min} timed runs in tbw_task_duration_seconds`, async () => (await timedTasks(port)) >= min, 10_000);
  return timedTasks(port);
}
