// Runs the real binary (`node dist/src/cli/main.js --backend celery`) against a test Redis, collects its NDJSON
// log lines, and runs Python Celery scripts from test/e2e/py with the project venv.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The venv's Python; TBW_TEST_PYTHON points the Celery e2e tests at another (e.g. the newest Celery release). */
export const PYTHON = process.env.TBW_TEST_PYTHON ?? join(ROOT, '.tbw', 'venv', 'bin', 'python');
export const FIXTURE_TASKS = join(ROOT, 'test', 'e2e', 'celery-fixture-tasks.mjs');
/** Tasks that stop or stall their child (test/e2e/celery-poison*.test.ts, the chaos poison case). */
export const POISON_TASKS = join(ROOT, 'test', 'e2e', 'celery-poison-tasks.mjs');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** The venv's Python even when TBW_TEST_PYTHON is set (the database e2e also runs its Celery when it differs). */
export const VENV_PYTHON = join(ROOT, '.tbw', 'venv', 'bin', 'python');

export interface Worker {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM (warm) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL the whole process group at once (needs `detached`): nothing gets a chance to give messages back. */
  killGroup(): Promise<void>;
}

export function startWorker(
  redisUrl: string,
  args: string[],
  env: Record<string, string> = {},
  opts: { detached?: boolean } = {},
): Worker {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npx tsc -p tsconfig.json first`);
  const proc = spawn(process.execPath, [MAIN, '--backend', 'celery', '--log-format', 'json', ...args], {
    env: { ...process.env, CELERY_BROKER_URL: redisUrl, CELERY_RESULT_BACKEND: redisUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached === true,
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const onData = (d: Buffer): void => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line, raw: true });
      }
    }
    for (const w of waiters) w();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = once(proc, 'exit');
  return {
    proc,
    lines,
    waitFor(pred, timeoutMs = 15_000, what = 'log line') {
      return new Promise((resolve, reject) => {
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
          reject(
            new Error(
              `timed out waiting for ${what}; last lines:\n${lines
                .slice(-15)
                .map((l) => JSON.stringify(l))
                .join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async killGroup() {
      if (opts.detached !== true || proc.pid === undefined) throw new Error('killGroup needs a detached worker');
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      process.kill(-proc.pid, 'SIGKILL');
      await exited;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

export interface PyCheck {
  check: string;
  ok: boolean;
  value?: unknown;
  error?: string;
  module?: string;
  message?: string;
  seconds: number;
}

/** Run a script from test/e2e/py; resolves with its JSON lines (and rejects if it exits non-zero). */
export async function runPython(
  script: string,
  args: string[],
  timeoutMs = 120_000,
  python = PYTHON,
): Promise<PyCheck[]> {
  if (!existsSync(python)) throw new Error(`${python} missing: run scripts/setup-python.sh`);
  const p = spawn(python, [join(ROOT, 'test', 'e2e', 'py', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${script} exited ${code}: ${err.slice(-2000)}`);
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as PyCheck);
}

/** Assertions over a Python script's check lines: `ok(name, value)` and `raises(name, type, message?)`. */
export function checksOf(t: Test, checks: PyCheck[]) {
  const by = new Map<string, PyCheck>(checks.map((c) => [c.check, c]));
  return {
    by,
    ok(name: string, value: unknown): void {
      const c = by.get(name);
      t.ok(c?.ok, `${name} succeeded ${JSON.stringify(c)}`);
      t.same(c?.value, value, `${name} value`);
    },
    raises(name: string, type: string, message?: RegExp): void {
      const c = by.get(name);
      t.equal(c?.ok, false, `${name} raised ${JSON.stringify(c)}`);
      t.equal(c?.error, type, `${name} exception type`);
      if (message) t.match(c?.message ?? '', message, `${name} message`);
    },
  };
}

/** One task's end as Python's AsyncResult.get() saw it (py/reliability.py). */
export interface Outcome {
  name: string;
  id: string;
  state: string;
  value?: unknown;
  type?: string;
  message?: string;
}

/** Runs recorded by a poison task (celery-poison-tasks.mjs): one line per run, "<id> <pid> <redelivered> <attempt>". */
export function runsIn(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
