// Shared by the Temporal and Hatchet pool tests: SIGKILL the child that runs a marked task (test/e2e/
// pool-fixture-tasks.mjs) and check its rerun elsewhere, and time cancellations from the caller to the task.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { marks, waitFor } from './pool.js';

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** What the Python clients print for `run marked_sleep [dir, key, ms]`: the outcome and the epoch second it came. */
export interface RunOutcome {
  ok: boolean;
  value: { pid: number; attempt: number; redelivered: boolean };
  done_at: number;
}

/** Waits for `running` (a Python client's run of marked_sleep under <dir>/<key>) to start, then kills its child. */
export async function killAndAwaitRerun(
  t: Test,
  o: { backend: string; dir: string; key: string; running: Promise<unknown>; boundMs: number; startMs?: number },
): Promise<void> {
  await waitFor('the task to start', () => marks(o.dir, o.key).length === 1, o.startMs ?? 30_000);
  const victim = (marks(o.dir, o.key)[0] as { pid: number }).pid;
  process.kill(victim, 'SIGKILL');
  const killedAt = Date.now();
  const out = (await o.running) as RunOutcome;
  t.match(out, { ok: true, value: { attempt: 1, redelivered: true } }, 'not a retry: attempt 1, redelivered');
  t.not(out.value.pid, victim, 'finished on another child');
  t.equal(marks(o.dir, o.key).length, 2, 'ran twice: the killed run and the rerun');
  const ms = Math.round(out.done_at * 1000 - killedAt);
  t.comment(`${o.backend}: SIGKILL → task completed on another child in ${ms} ms (2.5 s of it the rerun itself)`);
  t.ok(ms < o.boundMs, `kill → completion ${ms} ms < ${o.boundMs / 1000} s`);
}

/**
 * Milliseconds from each cancel (epoch seconds, from the Python client) to the abort the wait_abort task recorded in
 * <dir>/<key>.abort; waits for every abort first (the caller's cancel returns before the task learns it).
 */
export async function cancelLatencies(dir: string, samples: { key: string; cancel_at: number }[]): Promise<number[]> {
  const abortFile = (key: string): string => join(dir, `${key}.abort`);
  await waitFor('every task to see its abort', () => samples.every((s) => existsSync(abortFile(s.key))), 15_000);
  return samples.map((s) => {
    const abortAt = Number(readFileSync(abortFile(s.key), 'utf8').trim().split('\n')[0]);
    return Math.round(abortAt - s.cancel_at * 1000);
  });
}
