// Shared real Hatchet server for the e2e tests: scripts/hatchet-server.sh starts (or reuses) ONE hatchet-lite on
// Debian PostgreSQL for the whole test run; each test file registers as a user and isolates itself with its own
// namespace. Fails loudly (never skips) when the server cannot be built or started.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { WorkerConfig } from '../../src/config/types.js';
import { REPO_ROOT, baseWorkerConfig, launchPool, waitFor, type Pool } from './pool.js';

export { REPO_ROOT };
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
  // The first start of a run may also build the binaries (minutes); `npm test` builds them beforehand
  // (scripts/provision.sh).
  const envPath = (await run(['acquire', user], 170_000)).trim().split('\n').pop() ?? '';
  const vars = parseEnv(await readFile(envPath, 'utf8'));
  const token = vars.HATCHET_CLIENT_TOKEN;
  const hostPort = vars.HATCHET_CLIENT_HOST_PORT;
  const apiUrl = vars.HATCHET_CLIENT_API_URL;
  if (!token || !hostPort || !apiUrl) throw new Error(`hatchet server env at ${envPath} is incomplete`);
  // A freshly started engine leaves runs unassigned for a while (seen: tens of seconds after start under load);
  // tests wait until the server has been up this long. `npm test` (scripts/test.sh) starts the server when the
  // whole suite starts, so the wait overlaps the unit and process tests.
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
    ...baseWorkerConfig({
      backend: 'hatchet',
      hostname: hostname(),
      readyTimeoutMs: 60_000,
      controlSocket: join(REPO_ROOT, '.tbw', `hatchet-test-${process.pid}.sock`),
      celery: { deadLetterKey: 'tbw:dead' },
      hatchet: {
        token: server.token,
        hostPort: server.hostPort,
        apiUrl: server.apiUrl,
        tlsStrategy: 'none',
        namespace: server.namespace,
      },
    }),
    ...overrides,
  };
}

export { waitFor, type Pool };

/** `task-backend-worker --backend hatchet -c N` from dist/, in its own process group; resolves once N children are ready. */
export async function startPool(
  server: HatchetServer,
  opts: { concurrency?: number; args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Pool> {
  const n = opts.concurrency ?? 2;
  return launchPool({
    backend: 'hatchet',
    concurrency: n,
    args: opts.args,
    env: { ...server.env, ...opts.env },
    timeoutMs: opts.timeoutMs,
    readyWhat: `${n} hatchet children ready`,
    exitReport: (lines) =>
      `\n${lines
        .slice(-20)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
  });
}
