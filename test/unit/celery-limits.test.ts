// Celery's per-task limits: rate strings as celery.utils.time.rate reads them, kombu's token bucket (capacity 1),
// the node's one bucket per task name for the whole pool (requests granted in order as it refills, a dead child's
// token passed on), the child's side of the token exchange, time-limit precedence, and the control replies.
import t from 'tap';
import type { WorkerConfig } from '../../src/config/types.js';
import { runCommand, type NodeEnv } from '../../src/backends/celery/control/commands.js';
import { limitsOf } from '../../src/backends/celery/execute.js';
import {
  ChildLimits,
  parseRate,
  PyError,
  TokenBucket,
  TOPIC_LIMITS,
  TOPIC_RATE,
} from '../../src/backends/celery/limits.js';
import { NodeLimits } from '../../src/backends/celery/node-limits.js';
import type { ParentMessage } from '../../src/ipc/messages.js';
import type { PoolSnapshot } from '../../src/supervisor/api.js';

void t.test('rate strings: N/s, N/m, N/h, bare numbers; Celery errors for the rest', async (t) => {
  t.equal(parseRate('2/m'), 2 / 60);
  t.equal(parseRate('10/s'), 10);
  t.equal(parseRate('1/h'), 1 / 3600);
  t.equal(parseRate('5'), 5);
  t.equal(parseRate('0.5/'), 0.5, 'an empty unit is seconds');
  for (const none of [null, undefined, '', 0, '0/s']) t.equal(parseRate(none), 0, `${String(none)}: no limit`);
  const bad = (v: string): PyError => {
    try {
      parseRate(v);
    } catch (e) {
      if (e instanceof PyError) return e;
    }
    throw new Error(`${v} parsed`);
  };
  t.equal(bad('abc/m').repr, 'ValueError("could not convert string to float: \'abc\'")');
  t.equal(bad('2/x').repr, "KeyError('x')");
});

void t.test('token bucket: capacity 1, starts full, refills at the rate', async (t) => {
  let now = 0;
  const b = new TokenBucket(2 / 60, () => now);
  t.ok(b.canConsume(), 'the first token is there');
  t.notOk(b.canConsume(), 'the second is not');
  t.equal(Math.round(b.expectedMs()), 30_000, '2/m: one token every 30 s');
  now = 29_000;
  t.notOk(b.canConsume());
  now = 30_000;
  t.ok(b.canConsume());
  now = 1_000_000;
  t.ok(b.canConsume());
  t.notOk(b.canConsume(), 'never more than one saved up');
});

function fakePool(children: number[]) {
  const sent: { gen: number; msg: ParentMessage }[] = [];
  const gone = new Set<number>();
  let config = { celery: {} } as unknown as WorkerConfig;
  const pool = {
    logger: undefined as never,
    send: (gen: number, msg: ParentMessage) => {
      if (gone.has(gen)) return false;
      sent.push({ gen, msg });
      return true;
    },
    snapshot: () => ({ children: children.map((gen) => ({ gen })) }) as unknown as PoolSnapshot,
    childConfig: () => config,
    setChildConfig: (u: (c: WorkerConfig) => WorkerConfig) => void (config = u(config)),
  };
  const grants = (): [number, unknown][] =>
    sent
      .filter((s) => s.msg.type === 'extension' && s.msg.topic === TOPIC_RATE)
      .map((s) => [s.gen, s.msg.type === 'extension' ? s.msg.data : null]);
  return { pool, sent, gone, grants, config: () => config };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

void t.test('the node: one bucket per task for the whole pool, granted in request order', async (t) => {
  const f = fakePool([1, 2]);
  const node = new NodeLimits(f.pool);
  t.teardown(() => node.close());
  node.set('add', { rateLimit: '20/s' });
  t.same(f.config().celery.taskLimits, { add: { rateLimit: '20/s', time: null } }, 'later forks get the table');
  t.same(
    f.sent.filter((s) => s.msg.type === 'extension' && s.msg.topic === TOPIC_LIMITS).map((s) => s.gen),
    [1, 2],
    'running children are told',
  );
  node.request(1, { req: 1, task: 'add' });
  node.request(2, { req: 7, task: 'add' });
  node.request(1, { req: 2, task: 'add' });
  node.request(2, { req: 8, task: 'other' });
  t.same(
    f.grants(),
    [
      [1, { req: 1 }],
      [2, { req: 8 }],
    ],
    'one token at once across children; a task without a limit is granted at once',
  );
  await until('all three granted', () => f.grants().length === 4);
  t.same(
    f.grants().map(([gen, d]) => [gen, (d as { req: number }).req]),
    [
      [1, 1],
      [2, 8],
      [2, 7],
      [1, 2],
    ],
    'in request order, one per refill',
  );
  f.gone.add(2);
  node.set('add', { rateLimit: '1/h' });
  node.request(2, { req: 9, task: 'add' });
  node.request(1, { req: 3, task: 'add' });
  t.same(f.grants().at(-1), [1, { req: 3 }], "a gone child's token goes to the next request");
  node.request(1, { req: 4, task: 'add' });
  t.equal(f.grants().length, 5, 'then the bucket is empty for an hour');
  node.set('add', { rateLimit: null });
  t.same(f.grants().at(-1), [1, { req: 4 }], 'disabling the limit lets the waiting run');
});

void t.test('the child: asks for a token only for limited tasks; release ends the wait', async (t) => {
  const asked: unknown[] = [];
  const c = new ChildLimits({ add: { rateLimit: '2/m', time: null } }, (topic, data) => void asked.push([topic, data]));
  t.equal(c.token('echo'), null, 'no limit: run now');
  const p = c.token('add');
  t.same(asked, [[TOPIC_RATE, { req: 1, task: 'add' }]]);
  c.granted({ req: 1 });
  t.equal(await p, true);
  const q = c.token('add');
  c.release();
  t.equal(await q, false, 'a cold stop stops waiting');
  c.set({ add: { rateLimit: null, time: { softS: 1, hardS: 2 } } });
  t.equal(c.token('add'), null, 'a new table applies to later runs');
  t.same(c.timeLimits('add'), { softS: 1, hardS: 2 });
  t.equal(c.timeLimits('echo'), null);
});

void t.test('time limits: message header, then remote control, then the task', async (t) => {
  const none = { softLimitS: null, hardLimitS: null };
  t.same(limitsOf(none, 5000, null, 2000), { softMs: 5000, hardMs: 7000 }, "the task's own timeout plus grace");
  t.same(limitsOf(none, 5000, { softS: 1, hardS: 3 }, 2000), { softMs: 1000, hardMs: 3000 }, 'time_limit wins');
  t.same(limitsOf(none, 5000, { softS: null, hardS: 3 }, 2000), { softMs: undefined, hardMs: 3000 });
  t.same(limitsOf({ softLimitS: 9, hardLimitS: null }, 5000, { softS: 1, hardS: 3 }, 2000), {
    softMs: 9000,
    hardMs: 3000,
  });
  t.same(limitsOf(none, undefined, null, 2000), { softMs: undefined, hardMs: undefined });
});

void t.test('control replies: rate_limit, time_limit, registered with attributes, autoscale', async (t) => {
  const f = fakePool([1]);
  const node = new NodeLimits(f.pool);
  t.teardown(() => node.close());
  let autoscale: { max: number; min: number } | null = { max: 4, min: 1 };
  const env = {
    nodename: 'celery@x',
    transport: 'redis',
    limits: node,
    pool: () => ({ target: 1, autoscale, children: [] }),
    setAutoscale: (max: number | null, min: number | null) => {
      if (autoscale) autoscale = { max: max ?? autoscale.max, min: min ?? autoscale.min };
    },
    ask: async (what: string) => (what === 'registered' ? [{ index: 0, pid: 1, data: ['add', 'echo'] }] : []),
  } as unknown as NodeEnv;
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: 'x/m' }, env), {
    error: 'Invalid rate limit string: ValueError("could not convert string to float: \'x\'")',
  });
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: '2/d' }, env), { error: "KeyError('d')" });
  t.same(await runCommand('rate_limit', { task_name: 'nope', rate_limit: '2/m' }, env), { error: 'unknown task' });
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: '2/m' }, env), {
    ok: 'new rate limit set successfully',
  });
  t.same(await runCommand('registered', {}, env), ['add [rate_limit=2/m]', 'echo'], "Celery's default items");
  t.same(await runCommand('time_limit', { task_name: 'add', soft: 10, hard: 20 }, env), {
    ok: 'time limits set successfully',
  });
  t.same(await runCommand('registered', { taskinfoitems: ['time_limit', 'soft_time_limit'] }, env), [
    'add [time_limit=20.0 soft_time_limit=10.0]',
    'echo',
  ]);
  t.same(await runCommand('rate_limit', { task_name: 'add', rate_limit: '' }, env), {
    ok: 'rate limit disabled successfully',
  });
  t.same(node.table().add, { rateLimit: null, time: { softS: 10, hardS: 20 } });
  t.same(await runCommand('autoscale', { max: 6, min: 2 }, env), { ok: 'autoscale now max=6 min=2' });
  autoscale = null;
  t.same(await runCommand('autoscale', { max: 6 }, env), { error: "ValueError('Autoscale not enabled')" });
});
