// Real processes: HUP replaces every child one at a time without dropping below N-1 ready; TTIN/TTOU resize.
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { byMsg, startPool } from './_helpers.js';

void t.test('HUP: rolling restart, one at a time, replacement ready before the old child drains', async (t) => {
  const p = startPool(t, 'ok', { concurrency: 2 });
  await p.seen('ready');
  const before = p.h.snapshot().children.map((c) => c.pid);
  let minReady = Infinity;
  const watch = setInterval(() => {
    const ready = p.h.snapshot().children.filter((c) => c.state === 'ready' && c.retiring === null).length;
    minReady = Math.min(minReady, ready);
  }, 5);
  p.signals.emit('SIGHUP');
  await p.waitFor(byMsg('rolling restart complete'));
  clearInterval(watch);
  const after = p.h.snapshot().children;
  t.equal(after.length, 2);
  t.ok(
    after.every((c) => c.state === 'ready' && !before.includes(c.pid)),
    'every child is new',
  );
  t.ok(minReady >= 1, `capacity never below N-1 (min ready ${minReady})`);
  // Order: for each slot, the successor's ready precedes the old child's drain.
  for (const slot of [0, 1]) {
    const readyIdx = p.lines.findIndex((l) => l.msg === 'child ready' && l.child === slot && (l.gen as number) > 2);
    const drainIdx = p.lines.findIndex((l) => l.msg === 'child drained' && l.child === slot);
    t.ok(
      readyIdx >= 0 && drainIdx > readyIdx,
      `slot ${slot}: new ready (${readyIdx}) before old drained (${drainIdx})`,
    );
  }
  const slot1Spawn = p.lines.findIndex((l) => l.msg === 'child spawned' && l.child === 1 && (l.gen as number) > 2);
  const slot0Exit = p.lines.findIndex((l) => l.msg === 'child exited' && l.child === 0);
  t.ok(slot1Spawn > slot0Exit, 'slot 1 is replaced only after slot 0 is done');
  t.same(p.lifecycle, ['ready', 'reloading']);
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});

void t.test('TTIN adds a child, TTOU removes one, never below 1', async (t) => {
  const p = startPool(t, 'ok', { concurrency: 1 });
  await p.seen('ready');
  p.signals.emit('SIGTTIN');
  await p.waitFor(byMsg('child ready', (l) => l.child === 1));
  t.equal(p.h.snapshot().target, 2);
  p.signals.emit('SIGTTOU');
  await p.waitFor(byMsg('child exited', (l) => l.child === 1 && l.reason === 'scale-down'));
  p.signals.emit('SIGTTOU');
  await p.waitFor(byMsg('pool already at one child'));
  const snap = p.h.snapshot();
  t.equal(snap.target, 1);
  t.equal(snap.children.length, 1);
  t.equal(snap.children[0]?.index, 0);
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});

void t.test('--autoscale: grows while every child is busy', async (t) => {
  const p = startPool(
    t,
    'ok',
    { concurrency: 1, autoscale: { max: 2, min: 1 }, heartbeatIntervalMs: 50 },
    { env: { ...process.env, FAKE_ACTIVE: '1' } },
  );
  await p.seen('ready');
  await p.waitFor(byMsg('pool resized', (l) => l.children === 2));
  await p.waitFor(byMsg('child ready', (l) => l.child === 1));
  t.equal(p.h.snapshot().target, 2, 'stops at max');
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});
