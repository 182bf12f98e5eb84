// Shared real Hatchet server for the e2e tests: scripts/hatchet-server.sh starts (or reuses) ONE hatchet-lite on
// Debian PostgreSQL for the whole test run; each test file registers as a user and isolates itself with its own
// namespace. Fails loudly (never skips) when the server cannot be built or started.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
