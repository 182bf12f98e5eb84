// The fetch script's envelope reader on a real redis-server: the substring fast path and the cjson fallback
// must agree on delivery tag, exchange, routing key (what kombu's restore needs) and the revoked check.
import { Redis } from 'ioredis';
import t from 'tap';
import { Broker, REVOKED_KEY, UNACKED } from '../../src/backends/celery/transports/redis-broker.js';
import { startRedis } from '../helpers/redis.js';

const py = (tag: string, id: string, extraHeaders = ''): string =>
  `{"body": "W1sxLCAyXSwge30sIHt9XQ==", "content-encoding": "utf-8", "content-type": "application/json", ` +
  `"headers": {"lang": "py", "task": "add", "id": "${id}", "root_id": "${id}"${extraHeaders}}, ` +
  `"properties": {"correlation_id": "${id}", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, ` +
  `"priority": 0, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;

void t.test('fetch reads kombu envelopes by substring and by cjson alike', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const broker = new Broker(r, { hostname: 'h', index: 0, pid: 1, deadLetterKey: 'dl', visibilityTimeoutS: 60 });

  const compact = JSON.stringify({
    body: 'e30=',
    headers: { id: 'id-c', task: 'x' },
    properties: { delivery_info: { exchange: 'ex1', routing_key: 'rk1' }, delivery_tag: 'tag-c' },
  });
  const messages = [
    py('tag-a', 'id-a'),
    compact,
    // A custom header named like an envelope key: ambiguous, so the script decodes and uses the properties' tag.
    py('tag-b', 'id-b', ', "delivery_tag": "fake"'),
    // An escaped quote in the routing key: only the decoder reads it right.
    JSON.stringify({
      body: 'e30=',
      headers: { id: 'id-e' },
      properties: { delivery_info: { exchange: '', routing_key: 'q"x' }, delivery_tag: 'tag-e' },
    }),
  ];
  for (const m of messages) await r.lpush('celery', m);
  const got = await broker.fetch(['celery'], 10, Date.now());
  t.same(
    got.map((f) => f.tag),
    ['tag-a', 'tag-c', 'tag-b', 'tag-e'],
    'delivery tags (RPOP order)',
  );
  const held = async (tag: string): Promise<unknown[]> =>
    JSON.parse((await r.hget(UNACKED, tag)) ?? 'null') as unknown[];
  t.same((await held('tag-a')).slice(1), ['', 'celery'], 'python envelope: exchange and routing key');
  t.same((await held('tag-c')).slice(1), ['ex1', 'rk1'], 'compact envelope');
  t.same((await held('tag-b')).slice(1), ['', 'celery'], 'ambiguous envelope via cjson');
  t.same((await held('tag-e')).slice(1), ['', 'q"x'], 'escaped routing key via cjson');
  t.same((await held('tag-a'))[0], JSON.parse(messages[0] as string), 'the held message is the message');

  await r.sadd(REVOKED_KEY, 'id-r');
  await r.lpush('celery', py('tag-r', 'id-r'), py('tag-ok', 'id-ok'));
  const second = await broker.fetch(['celery'], 10, Date.now());
  t.same(
    second.map((f) => [f.tag, f.flag]),
    [
      ['tag-r', 'revoked'],
      ['tag-ok', '0'],
    ],
    'revoked ids flagged when the set is non-empty',
  );
});
