// Chaos case: a poison message (a task that kills its child on every run) mixed into valid work while a child is
// also SIGKILLed from outside every 2 s. No valid task is lost, the poison one fails with WorkerLostError after
// at most 1 + --delivery-limit runs, and the pool never gives up — with the default crash-loop guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { POISON_TASKS, runsIn } from '../e2e/celery-harness.js';
import { killEvery, poolEnv } from './cases-pool.js';
import { execCounts, pySubmit, statuses, until } from './harness.js';

export interface PoisonOpts {
  tasks: number;
  sleepMs: number;
  everyMs: number;
  concurrency: number;
  childConcurrency: number;
  /**
   * The kills from outside charge the tasks that happen to be running (a death cannot be told from a poison's):
   * a limit above the default keeps a valid task from being failed by bad luck alone.
   */
  deliveryLimit: number;
  timeoutMs: number;
}

export async function poisonCase(t: Test, o: PoisonOpts): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-chaos-poison-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { redis, r, w } = await poolEnv(t, [
    '--tasks',
    POISON_TASKS,
    '-c',
    String(o.concurrency),
    '--child-concurrency',
    String(o.childConcurrency),
    '--delivery-limit',
    String(o.deliveryLimit),
  ]);
  const poison = buildMessage({ task: 'poison.async_throw', args: [join(dir, 'poison')] });
  const submitted = pySubmit(redis.url, o.tasks, o.sleepMs);
  await until(async () => (await r.hlen('chaos:exec')) > o.tasks / 10, 60_000, 'work under way');
  await r.lpush(poison.key, poison.raw);
  const killer = killEvery(w, o.everyMs);
  let ids: string[] = [];
  try {
    ids = await submitted;
    await until(async () => (await r.hlen('chaos:exec')) >= o.tasks, o.timeoutMs, 'every valid task executed', 200);
  } finally {
    killer.stop();
  }
  const c = await execCounts(r, ids);
  t.equal(c.missing.length, 0, `no valid task lost (${c.distinct}/${o.tasks} completed)`);
  const st = await until(
    async () => {
      const m = await statuses(r, [...ids, poison.id]);
      return m.size === o.tasks + 1 ? m : null;
    },
    60_000,
    'every result stored',
  );
  const valid = ids.map((id) => st.get(id));
  t.equal(valid.filter((m) => m?.status === 'SUCCESS').length, o.tasks, 'every valid result is SUCCESS');
  const p = st.get(poison.id) as { status: string; result: { exc_type: string; exc_message: string[] } };
  t.equal(p.status, 'FAILURE', 'the poison task failed');
  t.equal(p.result.exc_type, 'WorkerLostError', `with WorkerLostError: ${p.result.exc_message[0]}`);
  const runs = runsIn(join(dir, 'poison')).length;
  t.ok(runs >= 1 && runs <= o.deliveryLimit + 1, `after ${runs} runs (at most 1 + the limit of ${o.deliveryLimit})`);
  t.equal(
    w.lines.find((l) => l.msg === 'pool giving up'),
    undefined,
    'the pool never gave up',
  );
  t.equal(w.proc.exitCode, null, 'the pool is still running');
  await until(async () => (await r.hlen('unacked')) === 0, 15_000, 'nothing left held');
  const entry = (await r.lrange('tbw.dead_letter', 0, -1)).find((e) => e.includes(poison.id));
  t.ok(entry, 'the poison message is in the dead-letter list');
  t.comment(`poison: ${o.tasks} valid tasks, ${killer.kills} kills from outside, poison ran ${runs} times`);
}
