// The Redis consumer waits for work instead of polling for it (issue 21), on a real redis-server: the doorbell
// rings on a push to any watched list (priority sub-queues too), sets itself up again after the broker restarts,
// steps aside (the consumer polls) when CLIENT TRACKING is refused, and an idle consumer sends no fetch at all
// until a message arrives, which it then takes at once.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import type { Delivery } from '../../src/backends/celery/transport.js';
import { Doorbell } from '../../src/backends/celery/transports/redis-doorbell.js';
import { consumeKeys, queueKey } from '../../src/backends/celery/transports/redis-envelope.js';
import { openRedisTransport } from '../../src/backends/celery/transports/redis.js';
import { startRedis } from '../helpers/redis.js';

const logger = pino({ level: 'silent' });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** A consumer's transport on `url` as a child opens it (`env` adds settings). */
async function openTransport(url: string, nodename: string, env: Record<string, string> = {}) {
  const cfg = compileConfig({ env: { CELERY_BROKER_URL: url, ...env }, host: currentHost({}) }).celery;
  return openRedisTransport(url, {
    logger,
    role: 'broker',
    cfg,
    nodename,
    index: 0,
    pid: process.pid,
    connectTimeoutMs: 5000,
    now: Date.now,
    isAlive: () => true,
  });
}

const envelope = (tag: string, id: string): string =>
  JSON.stringify({
    body: 'W1tdLCB7fSwge31d',
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { lang: 'py', task: 'health_check', id, root_id: id },
    properties: {
      correlation_id: id,
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: 'celery' },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: tag,
    },
  });

void t.test('the doorbell rings on a push to a watched list, and again after the broker restarts', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const bell = new Doorbell(redis.url, logger, consumeKeys(['celery', 'other']));
  t.teardown(() => bell.close());
  let rings = 0;
  bell.onRing = () => rings++;

  await until('the doorbell to be set up', () => bell.ready);
  t.equal(await bell.arm(), false, 'armed on empty queues');
  bell.rung = false;
  await r.lpush(queueKey('other', 9), 'x');
  await until('a ring for a priority sub-queue of the second queue', () => bell.rung);
  t.equal(await bell.arm(), true, 'arming again says a queue holds something');
  await r.del(queueKey('other', 9));
  t.equal(await bell.arm(), false, 'empty again');
  bell.rung = false;
  await r.lpush('celery', 'y');
  await until('a ring for the first queue', () => bell.rung);

  // Only the tracker connection drops (the subscriber stays subscribed): tracking is set up again on it.
  const tracker = String(await r.client('LIST'))
    .split('\n')
    .find((l) => / flags=\S*t/.test(l));
  const trackerId = /\bid=(\d+)/.exec(tracker ?? '')?.[1];
  t.ok(trackerId, 'the tracking connection is listed (flag t)');
  await r.call('CLIENT', 'KILL', 'ID', trackerId ?? '0');
  await until('the doorbell to notice the drop', () => !bell.ready);
  await until('the doorbell to set up again on the new tracker connection', () => bell.ready);
  t.equal(await bell.arm(), true, 'the first queue still holds its message');
  await r.del('celery');
  t.equal(await bell.arm(), false, 'armed again');
  bell.rung = false;
  await r.lpush('celery', 'w');
  await until('a ring after the tracker reconnected', () => bell.rung);

  await r.del('celery');
  await redis.restart();
  await until('the doorbell to notice the restart and set up again', () => bell.ready, 20_000);
  t.equal(await bell.arm(), false, 'armed on the restarted (empty) broker');
  bell.rung = false;
  const r2 = new Redis(redis.url);
  t.teardown(() => void r2.disconnect());
  await r2.lpush('celery', 'z');
  await until('a ring after the restart', () => bell.rung);
  t.ok(rings >= 3, `told its listener (${rings} rings)`);
});

void t.test('a broker user without CLIENT: the doorbell steps aside and the consumer polls', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  await r.call('ACL', 'SETUSER', 'worker', 'on', '>pw', '~*', '&*', '+@all', '-client');
  const url = redis.url.replace('redis://', 'redis://worker:pw@');
  const bell = new Doorbell(url, logger, consumeKeys(['celery']));
  t.teardown(() => bell.close());
  await until('the refusal', () => bell.state === 'unsupported');
  t.equal(bell.ready, false, 'never ready');

  // The consumer still takes work, by polling.
  const tr = await openTransport(url, 'celery@doorbell-acl');
  t.teardown(() => tr.close());
  const got: Delivery[] = [];
  await tr.consume({ queues: ['celery'], prefetch: 4, onDelivery: (d) => void got.push(d) });
  await r.lpush('celery', envelope('tag-acl', 'id-acl'));
  await until('the polled delivery', () => got.length === 1);
  t.equal(got[0]?.kind === 'message' ? got[0].message.headers.id : null, 'id-acl', 'delivered while polling');
});

void t.test('an idle consumer sends no fetch until work arrives, then takes it at once', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const tr = await openTransport(redis.url, 'celery@doorbell');
  t.teardown(() => tr.close());
  const got: Delivery[] = [];
  const sub = await tr.consume({ queues: ['celery'], prefetch: 4, onDelivery: (d) => void got.push(d) });
  // Idle = armed: the tracker connection has read the queue keys (an EXISTS) after the consumer's empty fetch.
  const exists = async (): Promise<number> => {
    const m = /cmdstat_exists:calls=(\d+)/.exec(await r.info('commandstats'));
    return Number(m?.[1] ?? 0);
  };
  await until('the consumer to arm its doorbell', async () => (await exists()) > 0);
  await r.config('RESETSTAT');
  // The old loop polled every 1-50 ms: over this window it would have run dozens of fetch scripts.
  await new Promise((res) => setTimeout(res, 1500));
  const stats = await r.info('commandstats');
  t.notMatch(stats, /cmdstat_evalsha:/, 'no fetch script ran while the queues were empty');
  t.notMatch(stats, /cmdstat_lindex:/, 'and nothing read the lists');

  await r.lpush(queueKey('celery', 6), envelope('tag-1', 'id-1'));
  await until('the delivery', () => got.length === 1);
  t.equal(
    got[0]?.kind === 'message' ? got[0].message.headers.id : null,
    'id-1',
    'the pushed message, from a sub-queue',
  );
  t.equal(await r.hexists('unacked', 'tag-1'), 1, 'held in unacked by the same atomic fetch as before');
  t.ok(sub.lastPollAt !== null, 'the consumer reports its last poll');
  const d = got[0];
  if (d?.kind === 'message') await tr.ack([d]);
  t.equal(await r.hlen('unacked'), 0, 'acked');
});

void t.test('an idle consumer still reports a recent poll (the health check reads it)', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const tr = await openTransport(redis.url, 'celery@doorbell-poll', { CELERY_VISIBILITY_TIMEOUT: '2' });
  t.teardown(() => tr.close());
  const sub = await tr.consume({ queues: ['celery'], prefetch: 1, onDelivery: () => undefined });
  await until('a first poll', () => sub.lastPollAt !== null);
  const first = sub.lastPollAt ?? 0;
  // The upkeep tick (visibility/4 = 500 ms here) re-arms the doorbell and counts as a poll.
  await until('a later poll while idle', () => (sub.lastPollAt ?? 0) > first + 400);
  t.pass(`last poll moved on by ${(sub.lastPollAt ?? 0) - first} ms with no work`);
});
