// Revoked ids on Redis (a real redis-server): the set every fetch checks forgets an id after its time and keeps at
// most the cap, oldest out first, as Celery's LimitedSet does; the node's and children's RecentIds alike.
import { Redis } from 'ioredis';
import t from 'tap';
import { RecentIds } from '../../src/backends/celery/recent-ids.js';
import { REVOKED_KEY } from '../../src/backends/celery/transports/redis-broker.js';
import { RedisControlChannel, REVOKED_UNTIL_KEY } from '../../src/backends/celery/transports/redis-control.js';
import { startRedis } from '../helpers/redis.js';

void t.test('tbw.revoked: expiry and cap', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  let now = 1_000_000;
  const ch = new RedisControlChannel(r, 0, 'celery@x', () => r, { max: 3, ttlMs: 1000, now: () => now });
  await ch.revoke(['a', 'b']);
  now += 600;
  await ch.revoke(['c', 'd']);
  t.same((await r.smembers(REVOKED_KEY)).sort(), ['b', 'c', 'd'], 'beyond the cap: the oldest goes');
  now += 500; // a and b are 1100 ms old now, c and d 500
  await ch.revoke(['e']);
  t.same((await r.smembers(REVOKED_KEY)).sort(), ['c', 'd', 'e'], 'expired ids are forgotten');
  t.same((await r.zrange(REVOKED_UNTIL_KEY, 0, -1)).sort(), ['c', 'd', 'e'], 'both keys agree');
  now += 100;
  await ch.revoke(['c']);
  t.same(await r.zrange(REVOKED_UNTIL_KEY, 0, -1), ['d', 'e', 'c'], 'a revoke again renews the id');
});

void t.test('RecentIds: LimitedSet in memory', async (t) => {
  const ids = new RecentIds(2, 1000);
  ids.add(['a', 'b'], 0);
  ids.add(['c'], 10);
  t.same(ids.list(10), ['b', 'c']);
  t.ok(ids.has('c', 1009));
  t.notOk(ids.has('c', 1010), 'gone after its time');
});
