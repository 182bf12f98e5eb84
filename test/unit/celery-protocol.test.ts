// Protocol parsing/encoding (v1, v2, bad input) and result encoding, against envelopes captured from Python
// Celery 5.5 send_task (kombu 5.5 Redis transport): each raw entry goes through the Redis envelope decoding and
// the transport-neutral protocol parser, as the consumer does.
import t from 'tap';
import { parseTime } from '../../src/backends/celery/protocol.js';
import {
  buildMessage,
  consumeKeys,
  parseRedisMessage as parseMessage,
  queueKey,
  retryRedisMessage as retryMessage,
} from '../../src/backends/celery/transports/redis-envelope.js';
import { buildMeta, excInfo, excModule } from '../../src/backends/celery/results.js';

// Captured verbatim from `app.send_task('add_numbers', args=[2,3], kwargs={'x': 1})`.
const PY_V2 =
  '{"body": "W1syLCAzXSwgeyJ4IjogMX0sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "add_numbers", "id": "73addd5a-c5d8-40c7-805b-c8ae7976030f", "shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "73addd5a-c5d8-40c7-805b-c8ae7976030f", "parent_id": null, "argsrepr": "[2, 3]", "kwargsrepr": "{\'x\': 1}", "origin": "gen8452@vm", "ignore_result": false, "replaced_task_nesting": 0, "stamped_headers": null, "stamps": {}}, "properties": {"correlation_id": "73addd5a-c5d8-40c7-805b-c8ae7976030f", "reply_to": "eed326ef-6eaf-37dd-9552-d6717cd5bdcc", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "4cb495f7-78a3-430d-b45a-ebb07930a839"}}';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
const env = (over: Record<string, unknown>): string =>
  JSON.stringify({
    body: b64([[1], {}, {}]),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { task: 't', id: 'id-1' },
    properties: {
      body_encoding: 'base64',
      delivery_tag: 'tag-1',
      delivery_info: { exchange: '', routing_key: 'q' },
      priority: 0,
    },
    ...over,
  });

void t.test('protocol v2 from Python send_task', async (t) => {
  const r = parseMessage(PY_V2);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.msg.protocol, 2);
  t.equal(r.msg.task, 'add_numbers');
  t.equal(r.msg.id, '73addd5a-c5d8-40c7-805b-c8ae7976030f');
  t.same(r.msg.args, [2, 3]);
  t.same(r.msg.kwargs, { x: 1 });
  t.equal(r.msg.deliveryTag, '4cb495f7-78a3-430d-b45a-ebb07930a839');
  t.equal(r.msg.routingKey, 'celery');
  t.equal(r.msg.etaMs, null);
  t.equal(r.msg.chain, null);
});

void t.test('protocol v1 body dict', async (t) => {
  const raw = env({
    headers: {},
    body: b64({
      task: 'add_numbers',
      id: 'v1-id',
      args: [1, 2],
      kwargs: { z: 3 },
      retries: 2,
      eta: '2030-01-01T00:00:00+00:00',
      expires: null,
    }),
  });
  const r = parseMessage(raw);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.msg.protocol, 1);
  t.equal(r.msg.id, 'v1-id');
  t.same(r.msg.args, [1, 2]);
  t.same(r.msg.kwargs, { z: 3 });
  t.equal(r.msg.retries, 2);
  t.equal(r.msg.etaMs, Date.UTC(2030, 0, 1));
});

void t.test('messages without a task id run (Celery hybrid_to_proto2 / protocol 1), marked anonymous', async (t) => {
  // The platform's log publisher: headers {task}, body {args, kwargs, retries, utc}.
  const hybrid = parseMessage(
    env({
      headers: { task: 'log.write' },
      body: b64({ args: ['line'], kwargs: { level: 'info' }, retries: 0, utc: true }),
    }),
  );
  t.ok(hybrid.ok);
  if (hybrid.ok) {
    t.equal(hybrid.msg.task, 'log.write');
    t.equal(hybrid.msg.anonymous, true);
    t.equal(hybrid.msg.protocol, 2, 'a retry re-sends it with new headers, which override the body');
    t.same(hybrid.msg.args, ['line']);
    t.same(hybrid.msg.kwargs, { level: 'info' });
    t.match(hybrid.msg.id, /^[0-9a-f-]{36}$/, 'an id for bookkeeping only');
  }
  // Headers win over the body's fields, as headers.update() does in Celery.
  const over = parseMessage(env({ headers: { task: 't', id: 'h-1', retries: 2 }, body: b64({ args: [], id: 'b-1' }) }));
  t.equal(over.ok && over.msg.id, 'h-1');
  t.equal(over.ok && over.msg.retries, 2);
  t.equal(over.ok && over.msg.anonymous, false);
  const v1 = parseMessage(env({ headers: {}, body: b64({ task: 'log.write', args: [1] }) }));
  t.equal(v1.ok && v1.msg.protocol, 1);
  t.equal(v1.ok && v1.msg.anonymous, true);
  const normal = parseMessage(PY_V2);
  t.equal(normal.ok && normal.msg.anonymous, false);
});

void t.test('Celery times: microseconds, offsets, naive = UTC', async (t) => {
  t.equal(parseTime('2026-11-26T08:02:44.888064+00:00'), Date.UTC(2026, 10, 26, 8, 2, 44, 888));
  t.equal(parseTime('2026-11-26T10:02:44+02:00'), Date.UTC(2026, 10, 26, 8, 2, 44));
  t.equal(parseTime('2026-11-26T08:02:44'), Date.UTC(2026, 10, 26, 8, 2, 44));
  t.equal(parseTime(null), null);
  t.equal(parseTime('tomorrow'), undefined);
});

void t.test('bad input is rejected with a type and, where known, the id', async (t) => {
  const cases: [string, string, string | null][] = [
    ['not json at all', 'DecodeError', null],
    ['[1,2]', 'DecodeError', null],
    [env({ 'content-type': 'application/x-python-serialize' }), 'ContentDisallowed', 'id-1'],
    [env({ body: '!!!not base64!!!' }), 'DecodeError', 'id-1'],
    [env({ body: Buffer.from('{nope').toString('base64') }), 'DecodeError', 'id-1'],
    [env({ headers: { task: 't' } }), 'InvalidTaskError', null],
    [env({ body: b64({ args: [], kwargs: [] }) }), 'InvalidTaskError', 'id-1'],
    [env({ body: b64({ args: 'x' }) }), 'InvalidTaskError', 'id-1'],
    [env({ body: b64(['notalist', {}, {}]) }), 'InvalidTaskError', 'id-1'],
    [env({ body: b64([[], [], {}]) }), 'InvalidTaskError', 'id-1'],
    [env({ headers: { task: 't', id: 'id-1', eta: 'soon' } }), 'InvalidTaskError', 'id-1'],
    [env({ headers: {}, body: b64({ nothing: true }) }), 'InvalidTaskError', null],
  ];
  for (const [raw, type, id] of cases) {
    const r = parseMessage(raw);
    t.notOk(r.ok, raw.slice(0, 60));
    if (r.ok) continue;
    t.equal(r.type, type, raw.slice(0, 60));
    t.equal(r.id, id, raw.slice(0, 60));
    t.type(r.reason, 'string');
  }
  const big = parseMessage(env({}), 10);
  t.equal(big.ok ? null : big.type, 'MessageTooLarge');
  t.equal(big.ok ? null : big.id, 'id-1');
});

void t.test('priority sub-queues follow kombu (sep \\x06\\x16, steps 0,3,6,9, 0 first)', async (t) => {
  t.equal(queueKey('q', 0), 'q');
  t.equal(queueKey('q', 2), 'q');
  t.equal(queueKey('q', 5), 'q\x06\x163');
  t.equal(queueKey('q', 9), 'q\x06\x169');
  t.same(consumeKeys(['a', 'b']), [
    'a',
    'b',
    'a\x06\x163',
    'b\x06\x163',
    'a\x06\x166',
    'b\x06\x166',
    'a\x06\x169',
    'b\x06\x169',
  ]);
});

void t.test('buildMessage makes what Python send_task makes, and it parses back', async (t) => {
  const m = buildMessage({
    task: 'echo',
    args: ['hi'],
    kwargs: { k: 1 },
    queue: 'other',
    priority: 6,
    etaMs: Date.UTC(2030, 0, 1),
  });
  t.equal(m.key, 'other\x06\x166');
  const r = parseMessage(m.raw);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.msg.id, m.id);
  t.equal(r.msg.rootId, m.id);
  t.same(r.msg.args, ['hi']);
  t.same(r.msg.kwargs, { k: 1 });
  t.equal(r.msg.routingKey, 'other');
  t.equal(r.msg.priority, 6);
  t.equal(r.msg.etaMs, Date.UTC(2030, 0, 1));
  const env2 = JSON.parse(m.raw) as { headers: Record<string, unknown>; properties: Record<string, unknown> };
  t.equal(env2.headers.eta, '2030-01-01T00:00:00.000+00:00');
  t.type(env2.properties.delivery_tag, 'string');
  // A retry keeps the id, bumps retries, sets eta and a fresh delivery tag.
  const again = retryMessage(r.msg, Date.UTC(2031, 0, 1), 'other');
  const r2 = parseMessage(again.raw);
  t.ok(r2.ok);
  if (!r2.ok) return;
  t.equal(r2.msg.id, m.id);
  t.equal(r2.msg.retries, 1);
  t.equal(r2.msg.etaMs, Date.UTC(2031, 0, 1));
  t.not(r2.msg.deliveryTag, r.msg.deliveryTag);
  t.equal(again.key, 'other\x06\x166');
});

void t.test('results: exceptions Python can re-raise, meta in Celery order', async (t) => {
  t.same(excInfo('ValueError', 'bad'), { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
  t.equal(excInfo('RangeError', 'x').exc_type, 'ValueError');
  t.equal(excModule('NotRegistered'), 'celery.exceptions');
  t.equal(excModule('TimeLimitExceeded'), 'celery.exceptions');
  t.equal(excModule('DecodeError'), 'kombu.exceptions');
  t.equal(excModule('MyDomainError'), null);
  t.equal(excInfo('not a name!', 'x').exc_type, 'Exception');
  const req = { id: 'i', task: 'add', args: [1], kwargs: {}, retries: 0, group: 'g', parentId: null, queue: 'celery' };
  const meta = buildMeta('SUCCESS', 3, req, { extended: false, worker: 'celery@h', nowMs: Date.UTC(2030, 0, 1) });
  t.same(Object.keys(meta), ['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'task_id']);
  t.equal(meta.date_done, '2030-01-01T00:00:00.000+00:00');
  const opts = (nowMs: number) => ({ extended: false, worker: 'celery@h', nowMs });
  t.equal(
    buildMeta('SUCCESS', 3, req, opts(Date.UTC(2030, 0, 1, 0, 0, 0, 7))).date_done,
    '2030-01-01T00:00:00.007+00:00',
  );
  t.equal(
    buildMeta('SUCCESS', 3, req, opts(Date.UTC(2030, 0, 1))).date_done,
    '2030-01-01T00:00:00.000+00:00',
    'the same ms again',
  );
  const ext = buildMeta('STARTED', null, req, { extended: true, worker: 'celery@h', nowMs: 0 });
  t.equal(ext.date_done, null);
  t.equal(ext.name, 'add');
  t.equal(ext.worker, 'celery@h');
  t.equal(ext.queue, 'celery');
});
