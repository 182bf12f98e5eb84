// Pool extensions around real fixture children: attached before the first fork, started once the pool is ready,
// closed (bounded) at exit; events reach listeners after the effects ran and a throwing listener cannot break the
// pool; extension IPC both ways; the config later forks get changes only through setChildConfig.
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import type { PoolExtension, PoolHandle } from '../../src/supervisor/api.js';
import { byMsg, startPool, until } from './_helpers.js';

void t.test('lifecycle: attach → ready events → start → close, with a guarded listener', async (t) => {
  const calls: string[] = [];
  const ext: PoolExtension = {
    name: 'probe',
    attach(pool) {
      calls.push(`attach:${pool.snapshot().children.length}`);
      pool.on('childReady', (e) => {
        calls.push(`childReady:${e.slot}`);
        throw new Error('listener bug');
      });
      pool.on('poolReady', (e) => void calls.push(`poolReady:${e.children}`));
    },
    async start() {
      calls.push('start');
    },
    async close() {
      calls.push('close');
    },
  };
  const p = startPool(t, 'ok', { concurrency: 2 }, { extensions: [ext] });
  await p.seen('ready');
  await until(() => calls.includes('start'), 5000, 'extension started');
  t.same(calls.slice(0, 1), ['attach:0'], 'attached before the first fork');
  t.same(calls.filter((c) => c.startsWith('childReady')).sort(), ['childReady:0', 'childReady:1']);
  t.ok(calls.indexOf('poolReady:2') < calls.indexOf('start'), 'started after the pool was ready');
  t.equal(p.lines.filter(byMsg('pool event listener failed')).length, 2, 'each throw logged once');
  t.equal(p.h.snapshot().phase, 'running', 'the throwing listener did not stop the pool');
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
  t.equal(calls.at(-1), 'close', 'closed at exit');
});

void t.test('an extension that never closes does not hold the exit for more than the bound', async (t) => {
  const ext: PoolExtension = { name: 'stuck', close: () => new Promise(() => undefined) };
  const p = startPool(t, 'ok', { concurrency: 1 }, { extensions: [ext] });
  await p.seen('ready');
  const t0 = Date.now();
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
  const ms = Date.now() - t0;
  t.ok(ms < 6000, `exit within the drain + the 2 s close bound (${ms} ms)`);
});

void t.test('extension IPC both ways, and setChildConfig reaching the next forks only', async (t) => {
  const echoes: unknown[] = [];
  let pool!: PoolHandle;
  const ext: PoolExtension = {
    name: 'echo',
    attach(p) {
      pool = p;
      p.onChildMessage((_gen, msg) => {
        if (msg.type === 'extension' && msg.topic === 'echo') echoes.push(msg.data);
      });
    },
  };
  const p = startPool(t, 'ok', { concurrency: 2, queues: ['a'] }, { extensions: [ext] });
  await p.seen('ready');
  for (const c of pool.snapshot().children)
    pool.send(c.gen, { type: 'extension', topic: 'ping', data: { n: c.index } });
  await until(() => echoes.length === 2, 5000, 'two echoes');
  t.same(
    (echoes as { index: number }[]).sort((a, b) => a.index - b.index),
    [
      { topic: 'ping', data: { n: 0 }, index: 0 },
      { topic: 'ping', data: { n: 1 }, index: 1 },
    ],
  );
  const before = pool.childConfig();
  pool.setChildConfig((c) => ({ ...c, queues: ['a', 'b'] }));
  t.same(before.queues, ['a'], 'the previous config object is not mutated');
  pool.signal('HUP');
  await p.waitFor(byMsg('rolling restart complete'));
  const readies = p.lines.filter(byMsg('child ready')).map((l) => l.queues);
  t.same(readies.slice(0, 2), [['a'], ['a']], 'the first children got the first config');
  t.same(readies.slice(2), [
    ['a', 'b'],
    ['a', 'b'],
  ]);
});
