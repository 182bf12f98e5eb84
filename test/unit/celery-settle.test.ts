// The batched result + ack script (settle.ts) on a real redis-server: results stored and published, holds
// removed, a stored SUCCESS never overwritten, many tasks settled by one script call.
import { Redis } from 'ioredis';
import t from 'tap';
import { UNACKED, UNACKED_INDEX } from '../../src/backends/celery/transports/redis-broker.js';
import { Settler } from '../../src/backends/celery/transports/redis-settle.js';
import { startRedis } from '../helpers/redis.js';

void t.test('settle: result + ack per task, batched', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const sub = new Redis(redis.url);
  t.teardown(() => void sub.disconnect());
  const held = 'tbw.held.test.0.1';
  const flushes: (() => void)[] = [];
  const settler = new Settler(r, held, 60, (fn) => flushes.push(fn));

  const ids = Array.from({ length: 300 }, (_, i) => `task-${i}`);
  for (const id of ids) {
    await r.hset(UNACKED, `tag-${id}`, '[{}, "", "celery"]');
    await r.zadd(UNACKED_INDEX, 1, `tag-${id}`);
    await r.sadd(held, `tag-${id}`);
  }
  await r.set('celery-task-meta-task-0', JSON.stringify({ status: 'SUCCESS', result: 'first' }));
  const published: string[] = [];
  sub.on('message', (ch: string) => published.push(ch));
  await sub.subscribe('celery-task-meta-task-1');

  const done = ids.map((id) =>
    settler.settle(id, JSON.stringify({ status: 'SUCCESS', result: id, task_id: id }), `tag-${id}`),
  );
  t.equal(flushes.length, 1, 'one flush scheduled for the whole batch');
  t.equal(await r.hlen(UNACKED), 300, 'nothing sent before the flush');
  flushes[0]?.();
  await Promise.all(done);

  t.equal(await r.hlen(UNACKED), 0, 'every hold removed from unacked');
  t.equal(await r.zcard(UNACKED_INDEX), 0, 'and from unacked_index');
  t.equal(await r.scard(held), 0, 'and from the held set');
  t.same(JSON.parse((await r.get('celery-task-meta-task-299')) ?? 'null'), {
    status: 'SUCCESS',
    result: 'task-299',
    task_id: 'task-299',
  });
  t.ok((await r.ttl('celery-task-meta-task-299')) > 0, 'result expires');
  t.same(
    JSON.parse((await r.get('celery-task-meta-task-0')) ?? 'null'),
    { status: 'SUCCESS', result: 'first' },
    'a stored SUCCESS is kept',
  );
  const deadline = Date.now() + 5000;
  while (published.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  t.same(published, ['celery-task-meta-task-1'], 'the result was published for waiting clients');
  t.ok(settler, 'settler usable after the flush');
});
