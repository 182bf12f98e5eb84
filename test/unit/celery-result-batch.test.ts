// The Redis result store on a real redis-server: the results stored in one turn of the event loop go to Redis in
// ONE script call, each stored with its expiry and published as Celery's backend does, a stored SUCCESS is never
// overwritten (also within one batch), and a batch that cannot be stored rejects every store in it.
import { once } from 'node:events';
import { Redis } from 'ioredis';
import t from 'tap';
import type { ResultMeta } from '../../src/backends/celery/results.js';
import { RedisResultStore, TASK_KEY_PREFIX } from '../../src/backends/celery/results/redis.js';
import { startRedis } from '../helpers/redis.js';

const scriptCalls = async (r: Redis): Promise<number> => {
  const info = await r.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
  return n;
};

void t.test('results stored in one turn go in one script call', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const sub = new Redis(redis.url);
  t.teardown(() => void sub.disconnect());
  const store = new RedisResultStore(new Redis(redis.url), {
    expiresS: 60,
    ownsConnection: true,
    subscriber: () => new Redis(redis.url),
  });
  t.teardown(() => store.close());

  await r.set(`${TASK_KEY_PREFIX}task-0`, JSON.stringify({ status: 'SUCCESS', result: 'first' }));
  const published: string[] = [];
  sub.on('message', (ch: string, raw: string) => published.push(`${ch} ${raw}`));
  await sub.subscribe(`${TASK_KEY_PREFIX}task-1`, `${TASK_KEY_PREFIX}task-0`);
  await r.config('RESETSTAT');

  const ids = Array.from({ length: 300 }, (_, i) => `task-${i}`);
  await Promise.all(ids.map((id) => store.store(id, { status: 'SUCCESS', result: id, task_id: id })));
  // 300 results in one call (at most 256 per call: two).
  t.equal(await scriptCalls(r), 2, 'two script calls for 300 results, not 300');
  t.same(JSON.parse((await r.get(`${TASK_KEY_PREFIX}task-299`)) ?? 'null'), {
    status: 'SUCCESS',
    result: 'task-299',
    task_id: 'task-299',
  });
  const ttl = await r.ttl(`${TASK_KEY_PREFIX}task-150`);
  t.ok(ttl > 0 && ttl <= 60, `result expires (ttl ${ttl})`);
  t.same(
    JSON.parse((await r.get(`${TASK_KEY_PREFIX}task-0`)) ?? 'null'),
    { status: 'SUCCESS', result: 'first' },
    'a stored SUCCESS is kept',
  );
  const deadline = Date.now() + 5000;
  while (published.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  t.same(
    published,
    [`${TASK_KEY_PREFIX}task-1 ${JSON.stringify({ status: 'SUCCESS', result: 'task-1', task_id: 'task-1' })}`],
    'published for a waiting client; nothing for the kept SUCCESS',
  );

  // Within one batch, in order: the SUCCESS stored first is not overwritten by a later FAILURE.
  await Promise.all([
    store.store('dup', { status: 'SUCCESS', result: 1 }),
    store.store('dup', { status: 'FAILURE', result: null }),
    store.store('retry', { status: 'RETRY', result: null }),
    store.store('retry', { status: 'SUCCESS', result: 2 }),
  ]);
  t.match(JSON.parse((await r.get(`${TASK_KEY_PREFIX}dup`)) ?? 'null'), { status: 'SUCCESS', result: 1 });
  t.match(JSON.parse((await r.get(`${TASK_KEY_PREFIX}retry`)) ?? 'null'), { status: 'SUCCESS', result: 2 });
});

void t.test('a batch that cannot be stored rejects every store in it', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const conn = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
  await once(conn, 'ready');
  const store = new RedisResultStore(conn, {
    expiresS: 0,
    ownsConnection: false,
    subscriber: () => new Redis(redis.url),
  });
  await store.store('before', { status: 'SUCCESS', result: 0 });
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  t.equal(await r.ttl(`${TASK_KEY_PREFIX}before`), -1, 'no expiry when result_expires is 0');
  // A result JSON cannot encode fails its own store (a rejected promise), not the caller.
  let bad: Promise<void> | undefined;
  t.doesNotThrow(() => (bad = store.store('big', { status: 'SUCCESS', result: 1n } as unknown as ResultMeta)));
  await t.rejects(bad!, TypeError, 'an unencodable result rejects its store');
  conn.disconnect();
  const out = await Promise.allSettled([
    store.store('a', { status: 'SUCCESS', result: 1 }),
    store.store('b', { status: 'SUCCESS', result: 2 }),
  ]);
  t.same(
    out.map((o) => o.status),
    ['rejected', 'rejected'],
    'both stores of the failed batch rejected',
  );
  t.equal(await r.exists(`${TASK_KEY_PREFIX}a`, `${TASK_KEY_PREFIX}b`), 0, 'nothing stored');
});

void t.test('auto-pipelining: skipped for the batched store on its own connection, kept on a shared one', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const own = new Redis(redis.url, { enableAutoPipelining: true });
  const shared = new Redis(redis.url, { enableAutoPipelining: true });
  const opts = { expiresS: 60, subscriber: () => new Redis(redis.url) };
  const mine = new RedisResultStore(own, { ...opts, ownsConnection: true });
  const theirs = new RedisResultStore(shared, { ...opts, ownsConnection: false });
  t.teardown(async () => {
    await mine.close();
    shared.disconnect();
  });
  t.ok(own.options.autoPipeliningIgnoredCommands?.includes('tbwStoreResults'), 'own connection: sent at once');
  t.notOk(shared.options.autoPipeliningIgnoredCommands?.includes('tbwStoreResults'), 'shared: in issue order');
  await Promise.all([
    mine.store('own', { status: 'SUCCESS', result: 1 }),
    theirs.store('sh', { status: 'SUCCESS', result: 2 }),
  ]);
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  t.same(
    await r.mget(`${TASK_KEY_PREFIX}own`, `${TASK_KEY_PREFIX}sh`),
    [JSON.stringify({ status: 'SUCCESS', result: 1 }), JSON.stringify({ status: 'SUCCESS', result: 2 })],
    'both stored',
  );
});
