// The reducer's named events: what it tells the rest of the process (metrics, systemd, extensions) about exits,
// replacements, rolling restarts, phases and resizes, with the reasons the metrics count by.
import t from 'tap';
import { CHILD_EXIT, EXIT } from '../../src/exit-codes.js';
import type { PoolEvent } from '../../src/supervisor/types.js';
import { Sim } from '../helpers/pool-sim.js';

const named = <K extends PoolEvent['type']>(sim: Sim, type: K): Extract<PoolEvent, { type: K }>[] =>
  sim.events.filter((e): e is Extract<PoolEvent, { type: K }> => e.type === type);

void t.test('start to ready: childReady per child, one phaseChanged and one poolReady', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.start() as [number, number];
  t.same(sim.events, [], 'forking announces nothing yet');
  sim.now += 40;
  sim.ready(a);
  sim.ready(b);
  t.same(
    named(sim, 'childReady').map((e) => [e.id, e.slot, e.bootMs]),
    [
      [a, 0, 40],
      [b, 1, 40],
    ],
  );
  t.same(named(sim, 'phaseChanged'), [{ type: 'phaseChanged', from: 'starting', to: 'running', reason: null }]);
  t.same(named(sim, 'poolReady'), [{ type: 'poolReady', children: 2 }]);
});

void t.test('a crash: childExited with reason, code and hint, then childReplaced with the same reason', async (t) => {
  const sim = new Sim();
  const [a] = sim.running() as [number];
  sim.now += 5000;
  sim.exit(a, CHILD_EXIT.HARD_TIME_LIMIT);
  const [exit] = named(sim, 'childExited');
  t.match(exit, { id: a, slot: 0, code: 70, signal: null, reason: 'crash', upMs: 5000 });
  t.match(exit?.hint, /hard time limit/, 'the hint comes from the one exit-code table');
  sim.wake();
  t.same(
    named(sim, 'childReplaced').map((e) => [e.slot, e.reason]),
    [[0, 'crash']],
  );
});

void t.test('kills, retirements and boot failures carry their own reasons', async (t) => {
  const sim = new Sim({ maxTasksPerChild: 1 });
  const [a, b] = sim.running() as [number, number];
  sim.now += 4000; // heartbeat timeout for a (3000 ms), b keeps beating below
  sim.beat(b, 0, 1); // b reached max tasks: retired and replaced
  sim.tick();
  sim.exit(a, null, 'SIGKILL');
  const replaced = named(sim, 'childReplaced').map((e) => [e.slot, e.reason]);
  t.same(replaced, [[1, 'max-tasks']], 'the retirement forks the successor at once, with its reason');
  t.same(
    named(sim, 'childExited').map((e) => [e.id, e.reason, e.hint]),
    [[a, 'heartbeat-timeout', 'no heartbeat in time: the event loop was blocked or the child hung']],
  );
  sim.wake();
  t.same(named(sim, 'childReplaced').at(-1), {
    type: 'childReplaced',
    id: sim.current(0),
    slot: 0,
    reason: 'heartbeat-timeout',
  });
  const boot = new Sim();
  const [c] = boot.start() as [number];
  boot.exit(c, CHILD_EXIT.RETRYABLE_BOOT);
  t.equal(named(boot, 'childExited')[0]?.reason, 'boot-failure', 'a child that never got ready');
  t.match(named(boot, 'childExited')[0]?.hint, /unreachable at start/);
});

void t.test('HUP: rollingRestartStarted, a reload replacement per slot, rollingRestartDone', async (t) => {
  const sim = new Sim();
  sim.running();
  sim.signal('HUP');
  t.same(named(sim, 'rollingRestartStarted'), [{ type: 'rollingRestartStarted', children: 2 }]);
  for (let slot = 0; slot < 2; slot++) {
    const fresh = sim.current(slot) as number;
    const old = sim.s.children.find((c) => c.slot === slot && c.id !== fresh)?.id as number;
    sim.ready(fresh);
    sim.exit(old, 0);
  }
  t.same(
    named(sim, 'childReplaced').map((e) => [e.slot, e.reason]),
    [
      [0, 'reload'],
      [1, 'reload'],
    ],
  );
  t.same(
    named(sim, 'childExited').map((e) => [e.reason, e.hint]),
    [
      ['reload', null],
      ['reload', null],
    ],
    'planned exits carry no hint',
  );
  t.same(named(sim, 'rollingRestartDone'), [{ type: 'rollingRestartDone', children: 2 }]);
});

void t.test('resizes, heartbeats, shutdown phases and giving up', async (t) => {
  const sim = new Sim();
  const [a] = sim.running() as [number];
  sim.signal('TTIN');
  sim.signal('TTOU');
  t.same(
    named(sim, 'poolResized').map((e) => [e.from, e.to, e.why]),
    [
      [2, 3, 'SIGTTIN'],
      [3, 2, 'SIGTTOU'],
    ],
  );
  sim.beat(a, 1, 7);
  t.match(named(sim, 'childHeartbeat'), [{ id: a, slot: 0, active: 1, processed: 7, failed: 0 }]);
  sim.signal('TERM');
  for (const c of [...sim.s.children]) sim.exit(c.id, 0);
  t.same(
    named(sim, 'phaseChanged')
      .slice(1)
      .map((e) => [e.from, e.to]),
    [
      ['running', 'stopping-warm'],
      ['stopping-warm', 'exited'],
    ],
  );
  t.same(
    [...new Set(named(sim, 'childExited').map((e) => e.reason))].sort(),
    ['scale-down', 'shutdown'],
    'exits while stopping count as shutdown (the scaled-down one kept its reason)',
  );
  const crashy = new Sim({ crashLoop: { max: 2, windowMs: 60_000 } });
  const [x] = crashy.running() as [number];
  crashy.exit(x, 1);
  crashy.wake();
  crashy.ready(crashy.current(0) as number);
  crashy.exit(crashy.current(0) as number, 1);
  t.same(named(crashy, 'gaveUp'), [
    { type: 'gaveUp', code: EXIT.CRASH_LOOP, reason: '2 child crashes within 60000 ms (no task explains them)' },
  ]);
});

void t.test('autoscale bounds: ignored without --autoscale, applied with it', async (t) => {
  const fixed = new Sim();
  fixed.running();
  fixed.ev({ type: 'autoscale', now: fixed.now, max: 1, min: 1 });
  t.equal(fixed.s.slots.length, 2, 'a fixed pool keeps its size');
  t.equal(fixed.s.autoscale, null);
  const auto = new Sim({ autoscale: { max: 4, min: 2 } });
  auto.running();
  auto.ev({ type: 'autoscale', now: auto.now, max: 6, min: 3 });
  t.same(auto.s.autoscale, { max: 6, min: 3 });
  t.equal(auto.s.slots.length, 3, 'a higher min grows the pool to it');
  auto.ev({ type: 'autoscale', now: auto.now, max: 1, min: null });
  t.same(auto.s.autoscale, { max: 1, min: 1 }, 'min never above max');
  t.equal(auto.s.slots.length, 1, 'a lower max shrinks the pool to it');
});
