// Chaos case: a poison message (a task that kills its child on every run) mixed into valid work while a child is
// also SIGKILLed from outside every 2 s. No valid task is lost, the poison one fails with WorkerLostError after
// at most 1 + --delivery-limit runs, and the pool never gives up — with the default crash-loop guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { Test } from 'tap';
import { buildTask } from '../../src/backends/celery/protocol.js';
import { publishOptions } from '../../src/backends/celery/transports/amqp-message.js';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { POISON_TASKS, runsIn, type TransportKind } from '../e2e/celery-harness.js';
import { killEvery, nothingHeld, poolEnv, type Env } from './cases-pool.js';
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
  /** The broker (results in Redis either way); default redis. */
  kind?: TransportKind;
}

/** Send the poison task as Python's send_task would: a raw entry on Redis, a published message on RabbitMQ. */
async function sendPoison(e: Env, path: string): Promise<string> {
  if (e.rabbit === null) {
    const m = buildMessage({ task: 'poison.async_throw', args: [path] });
    await e.r.lpush(m.key, m.raw);
    return m.id;
  }
  const { id, message } = buildTask({ task: 'poison.async_throw', args: [path] });
  const conn = await amqp.connect(e.broker.replace(/\/\/$/, '/'));
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('', 'celery', message.body, publishOptions(message));
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
  return id;
}

/** The dead-letter record of task `id`: the Redis list, or the RabbitMQ record queue. */
async function deadLetterOf(e: Env, id: string): Promise<string | undefined> {
  if (e.rabbit === null) return (await e.r.lrange('tbw.dead_letter', 0, -1)).find((x) => x.includes(id));
  const conn = await amqp.connect(e.broker.replace(/\/\/$/, '/'));
  try {
    const ch = await conn.createChannel();
    for (let m = await ch.get('tbw.dead_letter', { noAck: true }); m !== false; m = await ch.get('tbw.dead_letter')) {
      if (m.content.toString().includes(id)) return m.content.toString();
    }
    return undefined;
  } finally {
    await conn.close();
  }
}

export async function poisonCase(t: Test, o: PoisonOpts): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-chaos-poison-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const e = await poolEnv(
    t,
    [
      '--tasks',
      POISON_TASKS,
      '-c',
      String(o.concurrency),
      '--child-concurrency',
      String(o.childConcurrency),
      '--delivery-limit',
      String(o.deliveryLimit),
    ],
    {},
    [],
    o.kind ?? 'redis',
  );
  const { redis, r, w } = e;
  const submitted = pySubmit(e.broker, o.tasks, o.sleepMs, redis.url);
  await until(async () => (await r.hlen('chaos:exec')) > o.tasks / 10, 60_000, 'work under way');
  const poison = { id: await sendPoison(e, join(dir, 'poison')) };
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
  await until(() => nothingHeld(e), 20_000, 'nothing left held');
  const entry = await deadLetterOf(e, poison.id);
  t.ok(entry, 'the poison message is in the dead-letter list');
  t.comment(`poison: ${o.tasks} valid tasks, ${killer.kills} kills from outside, poison ran ${runs} times`);
}
