// Shared helpers of the process tests: a complete WorkerConfig, fixture entries, a log capture, and polling
// with a deadline (never a fixed sleep).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { WorkerConfig } from '../../src/config/types.js';
import { baseWorkerConfig } from '../helpers/pool.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixture = (name: string): string => join(ROOT, 'test', 'fixtures', 'children', `${name}.mjs`);
export const tmp = (): string => mkdtempSync(join(tmpdir(), 'tbw-sup-'));

export function testConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    ...baseWorkerConfig({
      concurrency: 2,
      childConcurrency: 1,
      hostname: 'test@localhost',
      logLevel: 'info',
      shutdownTimeoutMs: 5000,
      heartbeatTimeoutMs: 10_000,
      heartbeatIntervalMs: 200,
      readyTimeoutMs: 10_000,
      builtins: false,
      controlSocket: join(tmpdir(), 'tbw-test.sock'),
      celery: { brokerUrl: 'redis://127.0.0.1:1/0', deadLetterKey: 'dead' },
      temporal: { taskQueue: 'q' },
    }),
    ...over,
  };
}

export type LogLine = Record<string, unknown> & { msg?: string };

/** A pino logger writing into memory; `lines` holds every parsed line (supervisor's own and relayed ones). */
export function captureLogger(level = 'debug'): {
  logger: Logger;
  lines: LogLine[];
  waitFor: (pred: (l: LogLine) => boolean, ms?: number) => Promise<LogLine>;
} {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          lines.push(JSON.parse(text) as LogLine);
        } catch {
          lines.push({ unparsable: text });
        }
      }
      for (const w of waiters) w();
      cb();
    },
  });
  const logger = pino({ level }, dest);
  const waitFor = (pred: (l: LogLine) => boolean, ms = 20_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(pred);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`log line not seen within ${ms} ms`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { logger, lines, waitFor };
}

/** Poll `fn` until it returns a truthy value or the deadline passes. */
export async function until<T>(fn: () => T | Promise<T>, ms = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie is dead for our purposes
  } catch {
    return false;
  }
}

import { fork as realFork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Test } from 'tap';
import { startSupervisor, type SupervisorDeps, type SupervisorHandle } from '../../src/supervisor/index.js';

export interface Pool {
  h: SupervisorHandle;
  lines: LogLine[];
  waitFor: (pred: (l: LogLine) => boolean, ms?: number) => Promise<LogLine>;
  /** Every child pid ever forked. */
  pids: number[];
  lifecycle: string[];
  /** Resolves when the lifecycle notice is seen. */
  seen: (what: string, ms?: number) => Promise<void>;
  signals: EventEmitter;
}

/** Start a supervisor on a fixture child; on teardown it is stopped cold and no child may be left alive. */
export function startPool(
  t: Test,
  entry: string,
  config: Partial<WorkerConfig> = {},
  deps: Partial<SupervisorDeps> = {},
): Pool {
  const { logger, lines, waitFor } = captureLogger('debug');
  const pids: number[] = [];
  const lifecycle: string[] = [];
  const signals = new EventEmitter();
  const h = startSupervisor(testConfig(config), {
    workerEntry: fixture(entry),
    logger,
    signals,
    fork: (path, args, opts) => {
      const cp = realFork(path, args, opts);
      if (cp.pid !== undefined) pids.push(cp.pid);
      return cp;
    },
    onLifecycle: (w) => lifecycle.push(w),
    ...deps,
    pool: {
      backoff: { initialMs: 50, factor: 2, maxMs: 1000, jitter: 0.2, stableMs: 60_000 },
      killGraceMs: 1500,
      ...deps.pool,
    },
  });
  let finished = false;
  void h.done.then(() => (finished = true));
  t.teardown(async () => {
    if (!finished) {
      h.signal('QUIT');
      await h.done;
    }
    await until(() => pids.every((p) => !alive(p)), 5000, 'every child gone');
  });
  const seen = (what: string, ms = 20_000): Promise<void> =>
    until(() => lifecycle.includes(what), ms, `lifecycle ${what}`).then(() => undefined);
  return { h, lines, waitFor, pids, lifecycle, seen, signals };
}

export const byMsg =
  (msg: string, extra: (l: LogLine) => boolean = () => true) =>
  (l: LogLine): boolean =>
    l.msg === msg && extra(l);
