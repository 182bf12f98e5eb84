// The delivery limit on RabbitMQ (docs/celery-amqp.md, Lost workers), on the real binary, a real RabbitMQ node and
// the real Python Celery client with rpc:// results: tasks that kill their child on every run end as FAILURE
// WorkerLostError after --delivery-limit reruns, on a classic queue (only the `redelivered` flag: the worker
// counts in a header, copy by copy) and on a quorum queue (`x-delivery-count`), with one task per child and with
// four (the broker then gives back, and counts, everything a dead child held: only what the pool saw RUNNING in it
// is charged, with the real reason); each is recorded in the dead-letter record queue; the 40 valid tasks sent
// alongside all succeed; nothing is left unacknowledged; the pool never gives up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import t from 'tap';
import { startRabbit } from '../helpers/rabbitmq.js';
import { POISON_TASKS, PYTHON, runPython, runsIn, startWorker, type Outcome } from './celery-harness.js';

const LIMIT = 2;
/** What each poison task's WorkerLostError says about the death it caused. */
const REASONS: Record<string, RegExp> = {
  async_throw: /\(child \d+ exited with code 1\)/,
  exit3: /\(child \d+ exited with code 3\)/,
};

/** Every record in the dead-letter record queue (read without taking them away for good: the node is private). */
async function deadLetters(url: string): Promise<Record<string, unknown>[]> {
  const conn = await amqp.connect(url.replace(/\/\/$/, '/'));
  try {
    const ch = await conn.createChannel();
    const out: Record<string, unknown>[] = [];
    for (;;) {
      const m = await ch.get('tbw.dead_letter', { noAck: true });
      if (m === false) return out;
      out.push(JSON.parse(m.content.toString()) as Record<string, unknown>);
    }
  } finally {
    await conn.close();
  }
}

const CASES = [
  { queueType: 'classic', perChild: 1 },
  { queueType: 'quorum', perChild: 1 },
  { queueType: 'classic', perChild: 4 },
  { queueType: 'quorum', perChild: 4 },
] as const;

for (const { queueType, perChild } of CASES) {
  const title = `RabbitMQ ${queueType} queue, ${perChild} task(s) per child: poison tasks end as WorkerLostError`;
  void t.test(title, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-amqp-poison-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const runs = (name: string): string => join(dir, name);
    const rabbit = await startRabbit();
    t.teardown(() => rabbit.stop());
    const args = ['-c', '2', '--child-concurrency', String(perChild), '--delivery-limit', String(LIMIT)];
    const w = startWorker(rabbit.url, args, {
      TASK_MODULES: POISON_TASKS,
      CELERY_RESULT_BACKEND: 'rpc://',
      CELERY_QUEUE_TYPE: queueType,
    });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');

    const poison = ['async_throw', 'exit3'].map((p) => ({ name: p, task: `poison.${p}`, args: [runs(p)] }));
    const valid = Array.from({ length: 40 }, (_, i) => ({
      name: `valid${i}`,
      task: 'poison.ok',
      args: [runs(`valid${i}`)],
    }));
    const spec = [...poison, ...valid];
    const outcomes = (await runPython(
      'reliability.py',
      ['submit', rabbit.url, JSON.stringify(spec), '120', 'rpc://'],
      180_000,
      PYTHON,
      { TBW_QUEUE_TYPE: queueType },
    )) as unknown as Outcome[];
    const by = new Map(outcomes.map((o) => [o.name, o]));
    t.equal(outcomes.length, spec.length, 'a result for every task, read by Python (rpc://)');

    for (const p of poison) {
      const o = by.get(p.name);
      t.equal(o?.state, 'FAILURE', `${p.task}: FAILURE`);
      t.equal(o?.type, 'WorkerLostError', `${p.task}: WorkerLostError`);
      // The pool's word on why the child running it died (the broker only says its connection closed).
      t.match(o?.message, REASONS[p.name], `${p.task}: the reason (${o?.message})`);
      t.match(
        o?.message,
        new RegExp(`${LIMIT + 1} times; the delivery limit is ${LIMIT}$`),
        'lost 1 + the limit times',
      );
      const lines = runsIn(runs(p.name));
      t.equal(lines.length, LIMIT + 1, `${p.task} ran 1 + the limit times`);
      t.same(
        lines.slice(1).map((l) => l.split(' ')[2]),
        lines.slice(1).map(() => 'true'),
        'ctx.redelivered on the reruns',
      );
      t.comment(`${queueType}: ${p.task} ran ${lines.length} times`);
    }
    const ok = valid.filter((v) => by.get(v.name)?.value === 'ok').length;
    t.equal(ok, valid.length, `valid tasks alongside: ${ok}/${valid.length} SUCCESS`);
    for (const v of valid) {
      const o = by.get(v.name);
      if (o?.value !== 'ok')
        t.comment(`${v.name}: ${o?.state} ${o?.type}: ${o?.message}; ran ${runsIn(runs(v.name)).length}`);
    }
    // The last acks follow the last results, and a quorum queue's counters are refreshed every few seconds: poll,
    // bounded, until both say empty.
    const celeryQueue = async () =>
      (await rabbit.listQueues('name', 'messages', 'messages_unacknowledged')).find((q) => q.name === 'celery');
    let celery = await celeryQueue();
    const empty = (): boolean => celery?.messages_unacknowledged === '0' && celery?.messages === '0';
    for (const end = Date.now() + 20_000; Date.now() < end && !empty();) {
      await new Promise((r) => setTimeout(r, 200));
      celery = await celeryQueue();
    }
    t.equal(celery?.messages_unacknowledged, '0', 'messages_unacknowledged 0 on celery');
    t.equal(celery?.messages, '0', 'and nothing left in it');
    const records = await deadLetters(rabbit.url);
    for (const p of poison) {
      const rec = records.find((r) => r.task_id === by.get(p.name)?.id);
      t.match(rec?.reason, /^WorkerLostError: worker lost while running/, `${p.task} is in tbw.dead_letter`);
      t.equal(rec?.queue, 'celery');
    }
    t.equal(
      w.lines.find((l) => l.msg === 'pool giving up'),
      undefined,
      'the pool never gave up',
    );
    t.equal(w.proc.exitCode, null, 'the pool is still running');
    t.equal(await w.stop(), 0, 'and stops cleanly, exit 0');
  });
}
