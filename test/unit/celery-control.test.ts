// Pure parts of Celery remote control: the pidbox wire format, node matching, routing replies, and commands
// driven through a fake NodeEnv (no broker: the e2e test covers the real one).
import t from 'tap';
import { runCommand, type NodeEnv } from '../../src/backends/celery/control/commands.js';
import { maskUrl } from '../../src/backends/celery/control/info.js';
import { NodeCounters } from '../../src/backends/celery/control/counters.js';
import { signum, truthy } from '../../src/backends/celery/control/revoke.js';
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
  const counters = new NodeCounters();
  counters.report(1, { totals: { add: 2 }, processed: 2 });
  counters.report(7, { totals: { add: 1 }, processed: 1 });
  counters.exited(7);
  const askedArgs: Record<string, unknown>[] = [];
  let heartbeats = 0;
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
    ask: async (what, args = {}) => {
      asked.push(what);
      askedArgs.push(args);
      if (what === 'registered') return [{ index: 0, pid: 11, data: ['add', 'echo'] }];
      if (what === 'totals')
        return [
          { index: 0, pid: 11, data: { add: 2 } },
          { index: 1, pid: 12, data: { add: 1 } },
        ];
      if (what === 'revoke') return [{ index: 0, pid: 11, data: { terminated: ['t1'], revoked: [] } }];
      if (what === 'query_task') return [{ index: 0, pid: 11, data: { t1: ['active', { id: 't1' }] } }];
      return [
        { index: 0, pid: 11, data: [{ id: 'a' }] },
        { index: 1, pid: 12, data: [{ id: 'b' }] },
      ];
    },
    revoke: async (ids) => void revoked.push(...ids),
    revokedIds: () => [...revoked],
    events: null,
    setTaskEvents: async () => undefined,
    heartbeat: async () => void heartbeats++,
    counters,
    setQueues: async (qs) => {
      signals.push(`queues:${qs.join(',')}`);
      config.queues = qs;
    },
  };
  t.same(await runCommand('ping', {}, env), { ok: 'pong' });
  t.same(await runCommand('active', {}, env), [{ id: 'a' }, { id: 'b' }], 'children merged');
  t.same(await runCommand('registered', {}, env), ['add', 'echo']);
  const stats = (await runCommand('stats', {}, env)) as Record<string, Record<string, unknown>>;
  t.same(stats.total, { add: 3 }, 'totals of live and exited children');
  t.same(
    stats.pool?.writes,
    { total: 2, avg: '100.00%', all: '100.00%', raw: '2', strategy: 'fair', inqueues: { total: 1, active: 0 } },
    "writes: what each live child was handed, as billiard's human_write_stats",
  );
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
  t.same(await runCommand('revoke', { task_id: ['t1', 't2'], terminate: 1 }, env), { ok: 'terminate: t1' });
  t.same(askedArgs.at(-1), { ids: ['t1', 't2'], signum: 15 }, "Flower's terminate=1 is a terminate; SIGTERM default");
  t.same(revoked, ['t1', 't2'], 'revoked ids go to the set the fetch checks');
  t.same(await runCommand('revoke', { task_id: 't3' }, env), { ok: "tasks {'t3'} flagged as revoked" });
  t.same(askedArgs.at(-1), { ids: ['t3'], signum: null }, 'children still revoke what they hold');
  t.same(await runCommand('revoke', { task_id: 't4', terminate: true, signal: 'KILL' }, env), { ok: 'terminate: t1' });
  t.same(askedArgs.at(-1), { ids: ['t4'], signum: 9 }, 'the signal is passed on');
  t.same(await runCommand('revoke', { task_id: 't5', terminate: true, signal: 'kill' }, env), {
    error: "TypeError('signal name must be uppercase string.')",
  });
  t.same(askedArgs.at(-1), { ids: ['t5'], signum: null }, 'a bad signal still revokes, terminates nothing');
  t.same(await runCommand('terminate', { signal: 'SIGUSR1', task_id: ['t1'] }, env), { ok: 'terminate: t1' });
  t.same(askedArgs.at(-1), { ids: ['t1'], signum: 10 });
  t.same(await runCommand('revoked', {}, env), ['t1', 't2', 't3', 't4', 't5', 't1']);
  t.same(await runCommand('query_task', { ids: ['t1', 'zz'] }, env), { t1: ['active', { id: 't1' }] });
  t.same(await runCommand('add_consumer', { queue: 'q2' }, env), { ok: 'add consumer q2' });
  t.same(signals.splice(0), ['queues:celery,q2'], 'every child changes its queues in place (no HUP)');
  t.same(await runCommand('cancel_consumer', { queue: 'q2' }, env), { ok: 'no longer consuming from q2' });
  t.same(signals.splice(0), ['queues:celery']);
  t.same(await runCommand('cancel_consumer', { queue: 'celery' }, env), {
    error: 'cannot cancel the last queue celery',
  });
  t.same(await runCommand('time_limit', { task_name: 'nope', hard: 1 }, env), { error: 'unknown task' });
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: '1/s' }, env), {
    ok: 'new rate limit set successfully',
  });
  t.same(limitsSet.splice(0), [['add', { rateLimit: '1/s' }]], 'the rate limit is applied to the node');
  t.same(await runCommand('shutdown', {}, env), { ok: 'shutdown started' });
  t.same(signals.splice(0), ['TERM']);
  t.same(await runCommand('nosuch', {}, env), { error: 'No such control command: nosuch' });
  t.same(await runCommand('memdump', {}, env), {
    error: 'No such control command: memdump (not implemented by task-backend-worker)',
  });
  t.same(await runCommand('dump_active', {}, env), [{ id: 'a' }, { id: 'b' }], "Celery's aliases are accepted");
  t.equal(await runCommand('heartbeat', {}, env), null, "heartbeat answers None, as Celery's does");
  t.equal(heartbeats, 1, 'and a worker-heartbeat went out');
  t.equal(await runCommand('hello', { from_node: 'celery@x' }, env), undefined, 'our own hello gets no reply');
});

void t.test("Python's truth and signal rules", async (t) => {
  for (const v of [1, '1', true, 'false', [0], { a: 1 }]) t.ok(truthy(v), JSON.stringify(v));
  for (const v of [0, '', false, null, undefined, [], {}]) t.notOk(truthy(v), JSON.stringify(v));
  t.equal(signum('TERM'), 15);
  t.equal(signum('SIGKILL'), 9);
  t.equal(signum(2), 2);
  t.throws(() => signum('term'), /uppercase/);
  t.throws(() => signum('NOPE'), /SIGNOPE/);
});

void t.test('counters survive a child that exits', async (t) => {
  const c = new NodeCounters();
  c.report(1, { totals: { a: 3 }, processed: 3 });
  c.report(2, { totals: { a: 1, b: 1 }, processed: 2 });
  c.exited(1);
  c.report(3, { totals: { a: 1 }, processed: 1 });
  t.same(c.totals(), { a: 5, b: 1 });
  t.equal(c.processed(), 6);
  t.equal(c.writes(2), 2);
  t.equal(c.writes(1), 0, 'an exited child writes nothing any more');
  c.exited(99);
  t.equal(c.processed(), 6, 'an unknown child changes nothing');
});
