// A real Python Celery prefork worker from the project venv, in its own process group (so a test can SIGKILL it
// and its children at once), resolved once it logs " ready.".
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { PYTHON, ROOT } from './celery-harness.js';

export interface PyWorker {
  proc: ChildProcess;
  output(): string;
  /** SIGKILL the worker's whole process group (main process and prefork children). */
  killGroup(): Promise<void>;
}

/**
 * `celery -A <app> worker <args>` with cwd test/e2e/py and `env` added to this process's environment. `heartbeat`:
 * keep the worker's event heartbeats (and worker-online), which the quieter default turns off.
 */
export async function startPythonWorker(
  app: string,
  args: string[],
  env: Record<string, string>,
  python = PYTHON,
  opts: { heartbeat?: boolean } = {},
): Promise<PyWorker> {
  const quiet = ['--without-gossip', '--without-mingle', ...(opts.heartbeat ? [] : ['--without-heartbeat'])];
  const proc = spawn(python, ['-m', 'celery', '-A', app, 'worker', ...quiet, ...args], {
    cwd: join(ROOT, 'test', 'e2e', 'py'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const exited = once(proc, 'exit');
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/ ready\./.test(out)) resolve();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    void exited.then(() => reject(new Error(`python worker exited before ready:\n${out.slice(-2000)}`)));
  });
  const pw: PyWorker = {
    proc,
    output: () => out,
    async killGroup() {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      process.kill(-proc.pid, 'SIGKILL');
      await exited;
    },
  };
  const timer = setTimeout(() => void pw.killGroup(), 30_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  return pw;
}
