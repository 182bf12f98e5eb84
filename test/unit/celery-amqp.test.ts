// The pure parts of the RabbitMQ transport: URLs as kombu parses them, the declarations Celery and kombu make
// (queues, native delayed delivery), AMQP messages ↔ protocol messages, the QoS mode, redial backoff, revoked ids.
import type { ConsumeMessage } from 'amqplib';
import t from 'tap';
import { RecentIds } from '../../src/backends/celery/recent-ids.js';
import { Acker } from '../../src/backends/celery/transports/amqp-ack.js';
import { qosMode } from '../../src/backends/celery/transports/amqp-consume.js';
import {
  amqpReason,
  errorCode,
  isAccessRefused,
  redialDelayMs,
} from '../../src/backends/celery/transports/amqp-connection.js';
import { pidboxQueue } from '../../src/backends/celery/transports/amqp-control.js';
import {
  deliveryCount,
  inboundOf,
  publishHeaders,
  publishOptions,
} from '../../src/backends/celery/transports/amqp-message.js';
import {
  delayedBindingPlan,
  delayedDeliveryPlan,
  delayedRoutingKey,
  queueSpec,
} from '../../src/backends/celery/transports/amqp-topology.js';
import { amqpTarget, amqpTls, amqpUrlProblem } from '../../src/backends/celery/transports/amqp-url.js';
import { loadTransport, transportProblem } from '../../src/backends/celery/transports/index.js';
import { buildTask, parseMessage } from '../../src/backends/celery/protocol.js';

void t.test('AMQP URLs as kombu parses them', async (t) => {
  const a = amqpTarget('amqp://user:p%40ss@rabbit:5673//');
  t.match(a, { hostname: 'rabbit', port: 5673, username: 'user', password: 'p@ss', vhost: '/', tls: false });
  t.equal(amqpTarget('amqp://rabbit').vhost, '/', 'no path: the default vhost');
  t.equal(amqpTarget('amqp://rabbit/').vhost, '/', 'an empty path too');
  t.equal(amqpTarget('amqp://rabbit/prod').vhost, 'prod', 'kombu strips one leading slash');
  t.equal(amqpTarget('amqp://rabbit/%2Fprod').vhost, '/prod', 'percent-decoded');
  t.equal(amqpTarget('amqp://rabbit//prod').vhost, '/prod');
  t.match(amqpTarget('amqp://rabbit'), { username: 'guest', password: 'guest', port: 5672 }, "kombu's defaults");
  t.match(amqpTarget('amqps://rabbit'), { port: 5671, tls: true });
  t.match(amqpTarget('pyamqp://rabbit:1//'), { port: 1, tls: false }, 'pyamqp:// is amqp://');
  t.match(amqpTarget('amqp://[::1]:5672//'), { hostname: '::1' });
  t.match(amqpTarget('amqp://h//?heartbeat=30&connect_timeout=2.5'), { heartbeatS: 30, connectTimeoutS: 2.5 });
  t.equal(
    amqpUrlProblem('amqp://h//?ssl_ca_certs=/x'),
    'has ssl_ca_certs but is not amqps:// (TLS needs the amqps:// scheme)',
  );
  t.match(amqpUrlProblem('amqps://h//?ssl_cert_reqs=maybe'), /ssl_cert_reqs=maybe/);
  t.match(amqpUrlProblem('amqp://h//?frame_max=1'), /unsupported parameter frame_max/);
  t.match(amqpUrlProblem('amqp://h//?heartbeat=soon'), /heartbeat=soon/);
  t.equal(amqpUrlProblem('amqps://h//?ssl_cert_reqs=CERT_NONE&ssl_check_hostname=false'), null);
  t.match(
    transportProblem('kafka://h'),
    /must be a redis:\/\/ or rediss:\/\/ or amqp:\/\/ or amqps:\/\/ or pyamqp:\/\/ URL/,
  );
});

void t.test("loading a URL's transport (the pool's node, while the children boot) connects to nothing", async (t) => {
  // Port 1 on loopback: nothing listens there, so a connection attempt would be the only way to fail or hang.
  await t.resolves(loadTransport('amqp://guest:guest@127.0.0.1:1//'));
  await t.resolves(loadTransport('redis://127.0.0.1:1/0'));
  await t.rejects(loadTransport('kafka://h'), /broker URL .*must be a redis:\/\//);
  await t.rejects(loadTransport('amqp://h//?frame_max=1'), /broker URL .*unsupported parameter frame_max/);
});

void t.test('TLS options: certificates read through the seam, verification as kombu reads ssl_cert_reqs', async (t) => {
  const files: Record<string, string> = { '/ca.pem': 'CA', '/c.pem': 'CERT', '/k.pem': 'KEY' };
  const read = (p: string): Buffer => {
    if (!(p in files)) throw new Error('ENOENT');
    return Buffer.from(files[p]!);
  };
  const tls = amqpTls(
    amqpTarget('amqps://rabbit.example//?ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem'),
    read,
  );
  t.equal(tls.ca?.toString(), 'CA');
  t.equal(tls.cert?.toString(), 'CERT');
  t.equal(tls.key?.toString(), 'KEY');
  t.equal(tls.rejectUnauthorized, true);
  t.equal(tls.servername, 'rabbit.example');
  t.equal(tls.checkServerIdentity, undefined, 'hostname checked by default');
  const none = amqpTls(amqpTarget('amqps://10.0.0.1//?ssl_cert_reqs=none'), read);
  t.equal(none.rejectUnauthorized, false);
  t.equal(none.servername, undefined, 'no SNI for an IP address');
  t.type(none.checkServerIdentity, 'function');
  t.type(amqpTls(amqpTarget('amqps://h//?ssl_check_hostname=false'), read).checkServerIdentity, 'function');
  t.throws(() => amqpTls(amqpTarget('amqps://h//?ssl_ca_certs=/missing.pem'), read), /cannot read ssl_ca_certs file/);
});

void t.test("queue declarations as Celery's", async (t) => {
  const base = { queueType: 'classic', queueMaxPriority: null, exchangeType: 'direct' } as const;
  t.same(queueSpec('celery', base), {
    name: 'celery',
    exchange: 'celery',
    exchangeType: 'direct',
    routingKey: 'celery',
    arguments: {},
  });
  t.same(queueSpec('q', { ...base, queueMaxPriority: 10 }).arguments, { 'x-max-priority': 10 });
  t.same(queueSpec('q', { ...base, queueType: 'quorum', exchangeType: 'topic' }), {
    name: 'q',
    exchange: 'q',
    exchangeType: 'topic',
    routingKey: 'q',
    arguments: { 'x-queue-type': 'quorum' },
  });
  t.same(pidboxQueue('celery@h'), {
    name: 'celery@h.celery.pidbox',
    options: { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 300_000, 'x-expires': 10_000 } },
  });
});

void t.test('native delayed delivery: the routing key and the topology of kombu 5.5', async (t) => {
  // Expected values printed by kombu.transport.native_delayed_delivery.calculate_routing_key (kombu 5.5.4).
  t.equal(delayedRoutingKey(2, 'celery'), '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.celery');
  t.equal(delayedRoutingKey(268_435_455, 'q.x'), '1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.q.x');
  t.equal(delayedRoutingKey(37, 'rk'), '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.1.0.1.rk');
  t.throws(() => delayedRoutingKey(0, 'rk'));
  const plan = delayedDeliveryPlan('quorum');
  t.equal(plan.filter((s) => s.op === 'exchange').length, 29, '28 levels and celery_delayed_delivery');
  t.equal(plan.filter((s) => s.op === 'queue').length, 28);
  t.equal(plan.filter((s) => s.op === 'bindQueue').length, 28);
  t.equal(plan.filter((s) => s.op === 'bindExchange').length, 28);
  t.same(plan[1], {
    op: 'queue',
    name: 'celery_delayed_27',
    arguments: {
      'x-queue-type': 'quorum',
      'x-overflow': 'reject-publish',
      'x-message-ttl': 2 ** 27 * 1000,
      'x-dead-letter-exchange': 'celery_delayed_26',
      'x-dead-letter-strategy': 'at-least-once',
    },
  });
  t.same(plan[2], { op: 'bindQueue', queue: 'celery_delayed_27', source: 'celery_delayed_27', pattern: '1.#' });
  const level0 = plan.find((s) => s.op === 'queue' && s.name === 'celery_delayed_0');
  t.match(level0, { arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'celery_delayed_delivery' } });
  t.same(
    plan.find((s) => s.op === 'bindQueue' && s.queue === 'celery_delayed_0'),
    {
      op: 'bindQueue',
      queue: 'celery_delayed_0',
      source: 'celery_delayed_0',
      pattern: `${'*.'.repeat(27)}1.#`,
    },
  );
  t.same(plan[plan.length - 1], {
    op: 'bindExchange',
    destination: 'celery_delayed_delivery',
    source: 'celery_delayed_0',
    pattern: `${'*.'.repeat(27)}0.#`,
  });
  t.notOk('x-dead-letter-strategy' in ((delayedDeliveryPlan('classic')[1] as { arguments: object }).arguments ?? {}));
  t.same(
    delayedBindingPlan(queueSpec('tasks', { queueType: 'quorum', queueMaxPriority: null, exchangeType: 'topic' })),
    [
      { op: 'bindExchange', destination: 'tasks', source: 'celery_delayed_delivery', pattern: '#.tasks' },
      { op: 'bindQueue', queue: 'tasks', source: 'tasks', pattern: '#.tasks' },
    ],
  );
});

void t.test('QoS: channel-wide only for several queues all known to be classic', async (t) => {
  t.equal(qosMode([{ quorum: false }, { quorum: false }]), 'channel');
  t.equal(qosMode([{ quorum: false }]), 'consumer', 'one queue: the same bound, less work for the broker');
  t.equal(
    qosMode([{ quorum: false }, { quorum: true }]),
    'consumer',
    'global QoS on a quorum queue kills the connection',
  );
  t.equal(qosMode([{ quorum: null }]), 'consumer', 'a queue found as it is: its type is unknown');
});

function received(over: Partial<ConsumeMessage['fields']>, props: Partial<ConsumeMessage['properties']>, body: Buffer) {
  return {
    content: body,
    fields: { deliveryTag: 7, redelivered: false, exchange: 'celery', routingKey: 'celery', consumerTag: 'c', ...over },
    properties: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
      ...props,
    },
  } as ConsumeMessage;
}

void t.test('AMQP messages ↔ protocol messages', async (t) => {
  const { id, message: out } = buildTask({ task: 'add', args: [1, 2], priority: 5, replyTo: 'reply-q' });
  const opts = publishOptions(out);
  t.match(opts, {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryMode: 2,
    priority: 5,
    correlationId: id,
    replyTo: 'reply-q',
  });
  // What the broker would hand back for it: protocol.ts reads it exactly as it was built.
  const m = received({}, { headers: opts.headers, correlationId: id, replyTo: 'reply-q', priority: 5 }, out.body);
  const inbound = inboundOf(m, '3.7');
  t.match(inbound, {
    properties: { correlation_id: id, reply_to: 'reply-q', priority: 5, delivery_mode: 2 },
    deliveryInfo: { exchange: 'celery', routingKey: 'celery', deliveryTag: '3.7' },
    redelivered: false,
    size: out.body.length,
  });
  t.notOk('deliveryCount' in inbound, 'a classic queue does not count deliveries');
  const parsed = parseMessage(inbound);
  t.ok(parsed.ok && parsed.msg.id === id && parsed.msg.priority === 5 && parsed.msg.task === 'add');

  const quorum = inboundOf(received({}, { headers: { 'x-delivery-count': 2, id } }, out.body), '1.1');
  t.equal(quorum.redelivered, true, "a quorum queue's x-delivery-count means delivered before");
  t.equal(quorum.deliveryCount, 2);
  t.equal(inboundOf(received({ redelivered: true }, {}, out.body), '1.2').redelivered, true);
  t.equal(deliveryCount({ 'x-delivery-count': 'x' }), null);

  t.same(
    publishHeaders({
      id,
      'x-delivery-count': 3,
      'x-death': [],
      'x-first-death-queue': 'q',
      gone: undefined,
      keep: null,
    }),
    { id, keep: null },
    "the broker's own headers never travel on with a message we publish again",
  );
  const o = publishOptions({
    ...out,
    priority: 0,
    properties: { delivery_mode: 1, expiration: '1500', user_id: 'eve' },
  });
  t.equal(o.deliveryMode, 1);
  t.equal(o.expiration, '1500');
  t.notOk('priority' in o);
  t.notOk('userId' in o, 'user_id is not sent: RabbitMQ refuses another user than the connection');
});

void t.test('redial backoff and error codes', async (t) => {
  t.equal(
    redialDelayMs(1, () => 0),
    100,
  );
  t.equal(
    redialDelayMs(2, () => 0),
    200,
  );
  t.equal(
    redialDelayMs(30, () => 0),
    2000,
    'capped: a broker back is used within ~2.4 s',
  );
  t.equal(
    redialDelayMs(30, () => 1),
    2400,
    'at most 20% jitter',
  );
  t.equal(errorCode(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  t.equal(errorCode(Object.assign(new Error('x'), { code: 320 })), 320);
  t.equal(errorCode(new Error('x')), null);
  // The reason in the shared connection lines: errno code, ACCESS_REFUSED, the AMQP reply's word, else the text.
  const refused = new Error(
    'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"',
  );
  t.ok(isAccessRefused(refused));
  t.equal(amqpReason(refused), 'ACCESS_REFUSED');
  t.equal(
    amqpReason(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
    'ECONNREFUSED',
  );
  t.equal(
    amqpReason(new Error('Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - shutdown"')),
    'CONNECTION_FORCED',
  );
  t.notOk(isAccessRefused(new Error('socket hang up')));
  t.equal(amqpReason(new Error('socket hang up')), 'socket hang up');
});

void t.test("revoked ids: Celery's LimitedSet (bounded, expiring)", async (t) => {
  const r = new RecentIds(3, 1000);
  r.add(['a', 'b'], 0);
  t.ok(r.has('a', 500));
  t.notOk(r.has('a', 1000), 'expired');
  r.add(['c', 'd', 'e', 'f'], 2000);
  t.equal(r.size, 3, 'at most max ids');
  t.notOk(r.has('c', 2001), 'the oldest went first');
  t.same(r.list(2001), ['d', 'e', 'f']);
  t.same(r.list(5000), []);
});

void t.test('acks coalesced per turn: one multiple ack for the run from the oldest unsettled delivery', async (t) => {
  const sent: [number, boolean][] = [];
  const acker = new Acker({ ack: (m, all) => void sent.push([m.fields.deliveryTag, all === true]) });
  const msg = (tag: number) => ({ fields: { deliveryTag: tag } }) as ConsumeMessage;
  const m = [1, 2, 3, 4, 5, 6].map(msg);
  for (const x of m) acker.hold(x);
  acker.ack(m[1]!);
  acker.ack(m[0]!);
  acker.ack(m[2]!);
  acker.ack(m[5]!);
  acker.flush();
  t.same(
    sent,
    [
      [3, true],
      [6, false],
    ],
    '1-3 in one frame; 6 alone while 4 and 5 are unsettled',
  );
  acker.drop(m[3]!); // 4 was rejected on its own
  acker.ack(m[4]!);
  await new Promise((r) => setImmediate(r));
  t.same(sent.at(-1), [5, true], 'flushed on the next turn; nothing below 5 is unsettled any more');
  t.equal(acker.outstanding, 0);
});
