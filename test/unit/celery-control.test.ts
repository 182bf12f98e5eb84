// Pure parts of Celery remote control: the pidbox wire format, node matching, routing replies, and commands
// driven through a fake NodeEnv (no broker: the e2e test covers the real one).
import t from 'tap';
import { runCommand, maskUrl, type NodeEnv } from '../../src/backends/celery/control/commands.js';
import { isForNode } from '../../src/backends/celery/control/wire.js';
import {
  BINDING_SEP,
  dbOf,
  fanoutChannel,
  parseRedisControl as parseControl,
  routeDirect,
} from '../../src/backends/celery/transports/redis-control.js';
import { encodeEnvelope } from '../../src/backends/celery/transports/redis-envelope.js';
import { pyRepr } from '../../src/tasks/pyfmt.js';
import type { WorkerConfig } from '../../src/config/types.js';

const control = (body: unknown, headers: Record<string, unknown> = {}): string =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    'content-type': 'application/json',
    headers,
    properties: { body_encoding: 'base64' },
  });

void t.test('wire: channels, parsing, matching', async (t) => {
  t.equal(fanoutChannel(0, 'celery.pidbox'), '/0.celery.pidbox');
  t.equal(fanoutChannel(3, 'celeryev', 'task.succeeded'), '/3.celeryev/task.succeeded');
  t.equal(dbOf('redis://:pw@h:6379/5'), 5);
  t.equal(dbOf('redis://h'), 0);
  const req = parseControl(
    control(
      {
        method: 'ping',
        arguments: {},
        destination: ['celery@a'],
        reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'oid' },
        ticket: 'tk',
      },
      { expires: 123 },
    ),
  );
  if (req instanceof Error) throw req;
  t.same(req.replyTo, { exchange: 'reply.celery.pidbox', routingKey: 'oid' });
  t.equal(req.expires, 123);
  t.ok(isForNode(req, 'celery@a'));
  t.notOk(isForNode(req, 'celery@b'), 'a broadcast for another node is ignored');
  const glob = parseControl(control({ method: 'ping', pattern: 'celery@w*', matcher: 'glob' }));
  if (glob instanceof Error) throw glob;
  t.ok(isForNode(glob, 'celery@worker1'));
  t.notOk(isForNode(glob, 'other@worker1'));
  for (const bad of [
    'not json',
    '[]',
    control({ arguments: {} }),
    control({ method: 'x', arguments: [1] }),
    control({ method: 'x', destination: 'a' }),
    JSON.stringify({ body: 'zz', 'content-type': 'application/x-python-serialize' }),
  ]) {
    t.type(parseControl(bad), Error, `malformed → Error, never a throw: ${bad.slice(0, 40)}`);
  }
  t.same(
    routeDirect([`oid${BINDING_SEP}${BINDING_SEP}oid.reply.celery.pidbox`, `x${BINDING_SEP}${BINDING_SEP}q2`], 'oid'),
    ['oid.reply.celery.pidbox'],
  );
  const reply = {
    body: Buffer.from(JSON.stringify({ a: 1 })),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { ticket: 't' },
    properties: {},
    exchange: 'e',
    routingKey: 'r',
    priority: 0,
  };
  const env = JSON.parse(encodeEnvelope(reply)) as {
    body: string;
    headers: unknown;
  };
  t.same(JSON.parse(Buffer.from(env.body, 'base64').toString()), { a: 1 });
  t.equal(pyRepr([1, 'a', null, true, { k: 1.5 }]), "[1, 'a', None, True, {'k': 1.5}]");
  t.equal(maskUrl('redis://:secret@h:1/0'), 'redis://:***@h:1/0');
  t.equal(maskUrl('redis://tok3n@h:6379/0'), 'redis://***@h:6379/0', 'a lone user part is treated as a secret');
  t.notMatch(maskUrl('redis://u:pw@h/0?password=x') ?? '', /pw|=x/, 'query-string passwords are masked too');
});

void t.test('commands through a fake pool', async (t) => {
  const signals: string[] = [];
  const revoked: string[] = [];
  const asked: string[] = [];
  let target = 2;
  const config = {
    concurrency: 2,
    childConcurrency: 4,
    queues: null,
    hostname: 'celery@x',
    maxTasksPerChild: null,
    maxMemoryPerChildKiB: null,
    taskModules: [],
    celery: {
      brokerUrl: 'redis://:pw@127.0.0.1:6379/0',
      resultBackend: null,
      visibilityTimeoutS: 3600,
      sendEvents: false,
      resultExpiresS: 1,
      resultExtended: false,
      acksLate: true,
      trackStarted: false,
    },
  } as unknown as WorkerConfig;
  const limitsSet: [string, unknown][] = [];
  const env: NodeEnv = {
    nodename: 'celery@x',
    transport: 'redis',
    setAutoscale: (max, min) => void signals.push(`autoscale:${max},${min}`),
    limits: { set: (task, change) => void limitsSet.push([task, change]), table: () => ({}) },
    config: () => config,
    startedAt: 0,
    now: () => 5000,
    clock: () => 7,
    pool: () => ({
      target,
      ceiling: 4,
      children: [{ index: 0, gen: 1, pid: 11, state: 'ready', active: 0, processed: 3 }],
    }),
    signal: (s) => void signals.push(s),
    ask: async (what) => {
      asked.push(what);
      if (what === 'registered') return [{ index: 0, pid: 11, data: ['add', 'echo'] }];
      if (what === 'totals')
        return [
          { index: 0, pid: 11, data: { add: 2 } },
          { index: 1, pid: 12, data: { add: 1 } },
        ];
      if (what === 'terminate') return [{ index: 0, pid: 11, data: ['t1'] }];
      return [
        { index: 0, pid: 11, data: [{ id: 'a' }] },
        { index: 1, pid: 12, data: [{ id: 'b' }] },
      ];
    },
    revoke: async (ids) => void revoked.push(...ids),
    events: null,
    setQueues: (qs) => void signals.push(`queues:${qs.join(',')}`),
  };
  t.same(await runCommand('ping', {}, env), { ok: 'pong' });
  t.same(await runCommand('active', {}, env), [{ id: 'a' }, { id: 'b' }], 'children merged');
  t.same(await runCommand('registered', {}, env), ['add', 'echo']);
  const stats = (await runCommand('stats', {}, env)) as Record<string, Record<string, unknown>>;
  t.same(stats.total, { add: 3 }, 'totals summed over children');
  t.same(stats.pool?.processes, [11]);
  t.notMatch(JSON.stringify(await runCommand('conf', {}, env)), /pw/, 'conf carries no password');
  t.same(await runCommand('pool_grow', { n: 2 }, env), { ok: 'pool will grow' });
  t.same(await runCommand('pool_shrink', {}, env), { ok: 'pool will shrink' });
  t.same(signals.splice(0), ['TTIN', 'TTIN', 'TTOU']);
  t.same(
    await runCommand('pool_grow', { n: 30 }, env),
    { error: `pool_grow 30: the pool has ${target} children and may grow to at most 4` },
    'no growth past the ceiling',
  );
  t.same(signals.splice(0), [], 'nothing was signalled');
  target = 5;
  t.same(
    await runCommand('autoscale', { max: 3, min: 1 }, env),
    { error: "ValueError('Autoscale not enabled')" },
    "a pool started without --autoscale answers Celery's error",
  );
  t.same(signals.splice(0), [], 'and changes nothing');
  t.same(await runCommand('revoke', { task_id: ['t1', 't2'], terminate: true }, env), { ok: 'terminate: t1' });
  t.same(revoked, ['t1', 't2'], 'revoked ids go to the set the fetch checks');
  t.same(await runCommand('add_consumer', { queue: 'q2' }, env), { ok: 'add consumer q2' });
  t.same(signals.splice(0), ['queues:celery,q2']);
  t.same(await runCommand('time_limit', { task_name: 'nope', hard: 1 }, env), { error: 'unknown task' });
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: '1/s' }, env), {
    ok: 'new rate limit set successfully',
  });
  t.same(limitsSet.splice(0), [['add', { rateLimit: '1/s' }]], 'the rate limit is applied to the node');
  t.same(await runCommand('shutdown', {}, env), { ok: 'shutdown started' });
  t.same(signals.splice(0), ['TERM']);
  t.same(await runCommand('nosuch', {}, env), { error: 'No such control command: nosuch' });
  t.equal(await runCommand('heartbeat', {}, env), null, 'peer heartbeats get no reply');
});
