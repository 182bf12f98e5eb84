// The Python side of the Celery fidelity e2e tests: the celery CLI, an event receiver that reports each field's
// Python type, polling with a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { PYTHON, ROOT } from './celery-harness.js';

export const CELERY = join(PYTHON, '..', 'celery');
export const PY_DIR = join(ROOT, 'test', 'e2e', 'py');

export type Json = Record<string, unknown>;
export interface Seen {
  event: Json;
  shape: Record<string, string>;
}

/** A command to its end: exit code and output. */
export async function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 30_000) {
  const p = spawn(cmd, args, { cwd: PY_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out, err };
}

/** Poll `probe` until it returns something, or fail after `ms`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** test/e2e/py/events_watch.py: every event on the broker, as Python decoded it; resolves once it listens. */
export async function watchEvents(env: Record<string, string>): Promise<{ seen: Seen[]; proc: ChildProcess }> {
  const proc = spawn(PYTHON, [join(PY_DIR, 'events_watch.py')], {
    cwd: PY_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen: Seen[] = [];
  let buf = '';
  let ready = false;
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      const v = JSON.parse(l) as Seen & { ready?: boolean };
      if (v.ready) ready = true;
      else seen.push(v);
    }
  });
  await until('the event receiver', () => (ready ? true : undefined), 20_000).catch((e: Error) => {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}: ${err.slice(-600)}`);
  });
  await new Promise((r) => setTimeout(r, 300)); // the subscription reply precedes the first message
  return { seen, proc };
}
