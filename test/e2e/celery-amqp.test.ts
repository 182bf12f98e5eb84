// Celery on RabbitMQ beyond the shared conformance cases, with real Python Celery 5 clients (test/e2e/py/
// celery_amqp.py) and a real RabbitMQ node: rpc:// results (values, typed failures, countdown, retries, chain,
// group, chords refused as Celery refuses them), garbage messages (worker lives, nothing left unacknowledged),
// a platform-declared queue with a dead-letter exchange consumed as it is, ETA messages that do not block a
// prefetch of 1 (classic queues, quorum queues, native delayed delivery), a child SIGKILLed mid-task, and
// priority order.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { FIXTURE_TASKS, PYTHON, runPython, startBrokers, startWorker, type PyCheck } from './celery-harness.js';

type Stamp = { at: number; pid: number; redelivered: boolean; tag: unknown };

void t.test('Python Celery on RabbitMQ ↔ our worker', async (t) => {
  const b = await startBrokers('amqp');
  t.teardown(() => b.stop());
  const rabbit = b.rabbit!;
  const checks = new Map<string, PyCheck>();
  const py = async (...names: string[]): Promise<void> => {
    for (const c of await runPython('celery_amqp.py', [b.broker, ...names], 180_000)) checks.set(c.check, c);
  };
  const value = <T>(name: string): T => {
    const c = checks.get(name);
    t.ok(c?.ok, `${name} ran ${JSON.stringify(c)}`);
    return c?.value as T;
  };
  const raised = (name: string, type: string, message?: RegExp): void => {
    const c = checks.get(name);
    t.equal(c?.ok, false, `${name} raised ${JSON.stringify(c)}`);
    t.equal(c?.error, type, `${name}: ${type}`);
    if (message) t.match(c?.message ?? '', message);
  };
  const unacked = async (): Promise<Record<string, string>[]> =>
    (await rabbit.listQueues('name', 'messages_unacknowledged')).filter((q) => q.messages_unacknowledged !== '0');

  // What the platform declared first (a quorum queue, a queue with a DLX, prioritised tasks waiting).
  await py('declare');
  const prioIds = value<[string, number][]>('declare');

  // One child with one slot: prefetch 1, so a held ETA message must not block the next one.
  const w = startWorker(
    b.broker,
    ['-c', '1', '--child-concurrency', '1', '-Q', 'celery,dlxq,qdirect', '--tasks', FIXTURE_TASKS],
    {
      CELERY_RESULT_BACKEND: 'rpc://',
    },
  );
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
  await py(
    'rpc_args',
    'rpc_kwargs',
    'rpc_custom_error',
    'rpc_domain_error',
    'rpc_type_error',
    'rpc_countdown',
    'rpc_retries',
    'rpc_chain',
    'rpc_group',
    'rpc_chord_workflow',
    'garbage',
    'dead_letter_exchange',
    'eta_classic',
    'eta_quorum_direct',
  );

  await t.test('rpc:// results: values, typed failures, countdown, retries, chain, group', async (t) => {
    t.equal(value('rpc_args'), 5);
    t.equal(value('rpc_kwargs'), 42);
    raised('rpc_custom_error', 'KeyError', /missing/);
    raised('rpc_domain_error', 'PaymentDeclined', /no money/);
    raised('rpc_type_error', 'TypeError', /missing 1 required positional argument/);
    const [v, secs] = value<[number, number]>('rpc_countdown');
    t.equal(v, 2);
    t.ok(secs >= 1.4, `countdown held until due (${secs}s)`);
    t.equal(value('rpc_retries'), 3);
    t.equal(value('rpc_chain'), 'Result is 6');
    t.same(value('rpc_group'), [0, 2, 4, 6, 8]);
    // Celery's RPC backend has no chords; a workflow with a parallel step fails the way Celery says so.
    raised('rpc_chord_workflow', 'NotImplementedError', /does not support chords/);
  });

  await t.test('garbage messages: rejected, the worker lives, valid work done, nothing left unacked', async (t) => {
    t.same(value('garbage'), [1, 2, 3], 'valid tasks after each garbage message still ran');
    t.notOk(
      w.lines.some((l) => String(l.msg).startsWith('child exited')),
      'no child exited',
    );
    const rejected = w.lines.filter((l) => l.msg === 'message rejected to the dead-letter list');
    t.ok(rejected.length >= 5, `every unrunnable message was rejected and logged (${rejected.length})`);
    t.ok(
      rejected.some((l) => l.type === 'ContentDisallowed') && rejected.some((l) => l.type === 'DecodeError'),
      'with its reason',
    );
    const dlx = value<{ body: string; death: string }>('dead_letter_exchange');
    t.equal(dlx.body, 'garbage for the dlx', "a queue's dead-letter exchange receives the rejected message");
    t.equal(dlx.death, 'rejected');
    t.ok(
      w.lines.some(
        (l) => l.msg === 'queue exists with other arguments; consuming it as declared' && l.queue === 'dlxq',
      ),
      'a queue declared with other arguments is consumed as it is (passive declare)',
    );
    const deadline = Date.now() + 10_000;
    let left = await unacked();
    while (left.length > 0 && Date.now() < deadline) left = await unacked();
    t.same(left, [], 'rabbitmqctl list_queues: no message left unacknowledged');
  });

  await t.test('ETA messages do not block a prefetch of 1 (classic and quorum queues)', async (t) => {
    for (const name of ['eta_classic', 'eta_quorum_direct']) {
      const e = value<{ plain_seconds: number; countdown_seconds: number; order: string[] }>(name);
      t.same(e.order, ['now', 'later'], `${name}: the plain task ran while the countdown one was held`);
      t.ok(e.plain_seconds < 1.5, `${name}: plain task done in ${e.plain_seconds.toFixed(2)} s`);
      t.ok(e.countdown_seconds >= 1.9, `${name}: countdown respected (${e.countdown_seconds.toFixed(2)} s)`);
    }
  });

  await t.test('a child SIGKILLed mid-task: the task runs again (redelivered) and nothing stays unacked', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-amqp-kill-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'pid');
    const running = runPython('celery_amqp.py', [b.broker, 'killed_child'], 90_000, PYTHON, { PIDFILE: pidFile });
    const deadline = Date.now() + 20_000;
    while (!existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const victim = Number(readFileSync(pidFile, 'utf8'));
    rmSync(pidFile);
    process.kill(victim, 'SIGKILL');
    for (const c of await running) checks.set(c.check, c);
    const s = value<Stamp>('killed_child');
    t.equal(s.tag, 'victim');
    t.not(s.pid, victim, 'ran again in the replacement child');
    t.equal(s.redelivered, true, 'ctx.redelivered: the broker gave the message out before');
    const until = Date.now() + 10_000;
    let left = await unacked();
    while (left.length > 0 && Date.now() < until) left = await unacked();
    t.same(left, [], 'rabbitmqctl list_queues messages_unacknowledged: 0 everywhere');
  });

  await w.stop();

  await t.test(
    'quorum queues declared by us: native delayed delivery for a countdown, as Celery 5.5 does',
    async (t) => {
      const q = startWorker(
        b.broker,
        ['-c', '1', '--child-concurrency', '1', '-Q', 'qtopic', '--tasks', FIXTURE_TASKS],
        {
          CELERY_RESULT_BACKEND: 'rpc://',
          CELERY_QUEUE_TYPE: 'quorum',
          CELERY_DEFAULT_EXCHANGE_TYPE: 'topic',
        },
      );
      t.teardown(async () => void (await q.stop('SIGKILL')));
      await q.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
      await py('eta_quorum_topic');
      const e = value<{ order: string[]; countdown_seconds: number; parked_in_delayed_queues: number }>(
        'eta_quorum_topic',
      );
      t.equal(e.parked_in_delayed_queues, 1, 'the Python client parked the countdown task in celery_delayed_*');
      t.same(e.order, ['now', 'later']);
      t.ok(e.countdown_seconds >= 1.9, `delivered when due (${e.countdown_seconds.toFixed(2)} s)`);
      const types = await rabbit.listQueues('name', 'type');
      t.ok(
        types.some((r) => r.name === 'qtopic' && r.type === 'quorum'),
        `qtopic declared as a quorum queue ${JSON.stringify(types.filter((r) => r.name === 'qtopic'))}`,
      );
      t.equal(types.filter((r) => /^celery_delayed_\d+$/.test(r.name ?? '')).length, 28, 'celery_delayed_0..27');
      t.equal(await q.stop(), 0);
    },
  );

  await t.test('priority order: x-max-priority queue drained highest priority first', async (t) => {
    const p = startWorker(b.broker, ['-c', '1', '--child-concurrency', '1', '-Q', 'prio', '--tasks', FIXTURE_TASKS], {
      CELERY_RESULT_BACKEND: b.redis.url,
      CELERY_QUEUE_MAX_PRIORITY: '10',
    });
    t.teardown(async () => void (await p.stop('SIGKILL')));
    const r = new Redis(b.redis.url);
    t.teardown(() => void r.disconnect());
    const deadline = Date.now() + 30_000;
    let stamps: (Stamp | null)[] = [];
    while (Date.now() < deadline) {
      const raws = await r.mget(prioIds.map(([id]) => `celery-task-meta-${id}`));
      stamps = raws.map((raw) => (raw ? ((JSON.parse(raw) as { result: Stamp }).result ?? null) : null));
      if (stamps.every((s) => s !== null)) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    t.ok(
      stamps.every((s) => s !== null),
      'every prioritised task ran',
    );
    const ran = prioIds
      .map(([, prio], i) => ({ prio, at: stamps[i]?.at ?? 0 }))
      .sort((a, b) => a.at - b.at)
      .map((x) => x.prio);
    t.same(ran, [9, 8, 7, 5, 3, 2, 1, 0], `ran in priority order: ${JSON.stringify(ran)}`);
    t.equal(await p.stop(), 0);
  });
});
