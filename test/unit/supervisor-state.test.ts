// The pool reducer without processes: fake time, seeded random, assertions on states and effects.
import t from 'tap';
import { CHILD_EXIT, EXIT } from '../../src/exit-codes.js';
import { nextWake, reduce } from '../../src/supervisor/state.js';
import { logged, of, Sim } from '../helpers/pool-sim.js';

void t.test('start forks N children; ready once all are ready', async (t) => {
  const sim = new Sim();
  const ids = sim.start();
  t.same(ids, [1, 2]);
  t.equal(sim.s.phase, 'starting');
  const [a, b] = ids as [number, number];
  t.same(of(sim.ready(a), 'notify'), [], 'not ready with one child');
  t.same(of(sim.ready(b), 'notify'), [{ type: 'notify', what: 'ready' }]);
  t.equal(sim.s.phase, 'running');
  t.equal(sim.phase(a), 'ready');
});

void t.test('the input state is never mutated', async (t) => {
  const sim = new Sim();
  sim.start();
  const before = structuredClone(sim.s);
  const frozen = sim.s;
  reduce(frozen, {
    type: 'childMessage',
    now: 1,
    id: 1,
    msg: { type: 'ready', backend: 'x', queues: [], concurrency: 1 },
  });
  t.same(frozen, before);
});

void t.test('a crash after ready is restarted with growing backoff, reset after a stable period', async (t) => {
  const sim = new Sim({ crashLoop: { max: 100, windowMs: 60_000 } });
  sim.running();
  let id = 1;
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const fx = sim.exit(id, 1);
    t.ok(logged(fx, 'child exited unexpectedly'));
    const restartAt = sim.s.slots[0]?.restartAt as number;
    delays.push(restartAt - sim.now);
    t.same(of(sim.wake(), 'spawn').length, 1, 'respawned at the restart time');
    id = sim.current(0) as number;
    sim.ready(id);
  }
  t.equal(delays[0], 0, 'the first restart of a slot is immediate (like Celery and gunicorn)');
  t.ok(delays[1]! >= 80 && delays[1]! <= 120, `second delay ~100: ${delays[1]}`);
  t.ok(delays[3]! >= 320 && delays[3]! <= 480, `fourth delay ~400: ${delays[3]}`);
  sim.at(60_000);
  sim.beat(id);
  sim.exit(id, 1);
  const d = (sim.s.slots[0]?.restartAt as number) - sim.now;
  t.equal(d, 0, 'after 60 s up, the slot starts over with an immediate restart');
});

void t.test(
  'boot failures wait from the first retry: the immediate restart is for children that were ready',
  async (t) => {
    const sim = new Sim({ concurrency: 1 });
    const [a] = sim.start() as [number];
    sim.exit(a, 1);
    const first = (sim.s.slots[0]?.restartAt as number) - sim.now;
    t.ok(first >= 80 && first <= 120, `crash at boot → ~100 ms: ${first}`);
    sim.wake();
    const b = sim.current(0) as number;
    sim.exit(b, CHILD_EXIT.RETRYABLE_BOOT);
    const second = (sim.s.slots[0]?.restartAt as number) - sim.now;
    t.ok(second >= 160 && second <= 240, `then ~200 ms: ${second}`);
  },
);

void t.test('K consecutive boot failures → exit BOOT_FAILURE with one fatal line', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.start() as [number, number];
  sim.ready(b);
  let id = a;
  for (let i = 1; i < 3; i++) {
    sim.exit(id, 1);
    t.equal(sim.s.bootFailures, i);
    sim.wake();
    id = sim.current(0) as number;
  }
  const fx = sim.exit(id, 1);
  const fatal = of(fx, 'log').find((l) => l.level === 'fatal');
  t.equal(fatal?.msg, 'pool giving up');
  t.match(String(fatal?.fields.reason), /3 consecutive boot failures/);
  t.equal(sim.s.phase, 'stopping-warm');
  t.same(
    of(fx, 'shutdown').map((s) => [s.id, s.mode]),
    [[b, 'warm']],
    'the healthy child is drained',
  );
  t.same(of(sim.exit(b, 0), 'exit'), [{ type: 'exit', code: EXIT.BOOT_FAILURE }]);
});

void t.test('a ready child resets the consecutive boot failure count', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.start() as [number, number];
  sim.exit(a, 1);
  sim.exit(b, 1);
  t.equal(sim.s.bootFailures, 2);
  sim.wake();
  sim.ready(sim.current(0) as number);
  t.equal(sim.s.bootFailures, 0);
});

void t.test('exit code BOOT_ERROR or a non-retryable fatal stops at once', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.start() as [number, number];
  sim.msg(a, { type: 'fatal', error: { name: 'BootError', message: 'bad token' }, retryable: false });
  const fx = sim.exit(a, CHILD_EXIT.BOOT_ERROR);
  t.match(
    String(of(fx, 'log').find((l) => l.level === 'fatal')?.fields.reason),
    /child 0 cannot boot \(BootError: bad token\)/,
  );
  t.same(of(fx, 'spawn'), [], 'no restart');
  t.same(
    of(fx, 'shutdown').map((s) => s.id),
    [b],
    'the starting sibling is told to stop',
  );
  t.same(of(sim.exit(b, 0), 'exit'), [{ type: 'exit', code: EXIT.BOOT_FAILURE }]);
});

void t.test('RETRYABLE_BOOT is retried with backoff indefinitely, never counted as a boot failure', async (t) => {
  const sim = new Sim({ concurrency: 1 });
  const [a] = sim.start() as [number];
  let id = a;
  let last = 0;
  for (let i = 0; i < 20; i++) {
    const fx = sim.exit(id, CHILD_EXIT.RETRYABLE_BOOT);
    t.ok(logged(fx, 'child could not reach its backend, retrying'));
    last = (sim.s.slots[0]?.restartAt as number) - sim.now;
    sim.wake();
    id = sim.current(0) as number;
  }
  t.equal(sim.s.bootFailures, 0);
  t.equal(sim.s.phase, 'starting');
  t.equal(last, 30_000, 'capped at 30 s');
});

void t.test('M crashes within the window → CRASH_LOOP', async (t) => {
  const sim = new Sim();
  sim.running();
  for (let i = 0; i < 3; i++) {
    const id = sim.current(i % 2) as number;
    sim.exit(id, 1);
    sim.wake();
    sim.ready(sim.current(i % 2) as number);
  }
  const fx = sim.exit(sim.current(1) as number, null, 'SIGKILL');
  t.match(String(of(fx, 'log').find((l) => l.msg === 'child exited unexpectedly')?.fields.hint), /out of memory/);
  t.match(String(of(fx, 'log').find((l) => l.level === 'fatal')?.fields.reason), /4 child crashes within 60000 ms/);
  sim.exit(sim.s.children[0]!.id, 0);
  t.same(of(sim.fx, 'exit'), [{ type: 'exit', code: EXIT.CRASH_LOOP }]);
});

void t.test('crashes outside the window do not add up', async (t) => {
  const sim = new Sim();
  sim.running();
  for (let i = 0; i < 6; i++) {
    sim.at(30_000);
    sim.beat(sim.current(1) as number);
    sim.exit(sim.current(0) as number, 1);
    sim.wake();
    sim.ready(sim.current(0) as number);
  }
  t.equal(sim.s.phase, 'running');
});

void t.test('ready timeout kills the child and counts as a boot failure', async (t) => {
  const sim = new Sim();
  const [a] = sim.start() as [number];
  const fx = sim.wake();
  t.ok(logged(fx, 'child not ready in time, killing'));
  t.same(of(fx, 'kill'), [
    { type: 'kill', id: a, signal: 'SIGKILL' },
    { type: 'kill', id: 2, signal: 'SIGKILL' },
  ]);
  const ex = sim.exit(a, null, 'SIGKILL');
  t.match(String(of(ex, 'log').find((l) => l.msg === 'child failed to boot')?.fields.hint), /not ready in time/);
  t.equal(sim.s.bootFailures, 1);
});

void t.test('heartbeat timeout kills a ready child, which is then replaced', async (t) => {
  const sim = new Sim();
  const [a] = sim.running() as [number];
  sim.at(2000);
  sim.beat(2);
  t.equal(nextWake(sim.s), 1_000_000 + 3000, 'next wake is the oldest heartbeat deadline');
  const fx = sim.wake();
  t.ok(logged(fx, 'child heartbeat timeout, killing'));
  t.same(
    of(fx, 'kill').map((k) => k.id),
    [a],
  );
  t.equal(sim.phase(a), 'killed');
  sim.exit(a, null, 'SIGKILL');
  t.equal(sim.s.slots[0]?.current, null);
  t.same(of(sim.wake(), 'spawn').length, 1);
});

void t.test('warm shutdown: drain, cold at the deadline, SIGKILL after the grace, exit 0', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.running() as [number, number];
  const fx = sim.signal('TERM');
  t.same(
    of(fx, 'shutdown').map((s) => s.mode),
    ['warm', 'warm'],
  );
  t.same(of(fx, 'notify'), [{ type: 'notify', what: 'stopping' }]);
  sim.exit(a, 0);
  const cold = sim.wake();
  t.same(
    of(cold, 'shutdown').map((s) => [s.id, s.mode]),
    [[b, 'cold']],
  );
  const kill = sim.wake();
  t.same(
    of(kill, 'kill').map((k) => k.id),
    [b],
  );
  t.same(of(sim.exit(b, null, 'SIGKILL'), 'exit'), [{ type: 'exit', code: 0 }]);
});

void t.test('second TERM or QUIT → cold at once; nothing respawns while stopping', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.running() as [number, number];
  sim.signal('INT');
  const fx = sim.signal('TERM');
  t.same(
    of(fx, 'shutdown').map((s) => s.mode),
    ['cold', 'cold'],
  );
  t.equal(sim.s.phase, 'stopping-cold');
  t.same(of(sim.signal('QUIT'), 'shutdown'), [], 'idempotent');
  t.same(of(sim.exit(a, 1), 'spawn'), [], 'a crash while stopping is not replaced');
  t.same(of(sim.signal('HUP'), 'spawn'), []);
  t.same(of(sim.signal('TTIN'), 'spawn'), []);
  t.same(of(sim.exit(b, 0), 'exit'), [{ type: 'exit', code: 0 }]);
  t.same(reduce(sim.s, { type: 'tick', now: sim.now }).effects, [], 'exited is final');
});

void t.test('QUIT while starting stops cold the children that are still booting', async (t) => {
  const sim = new Sim();
  sim.start();
  const fx = sim.signal('QUIT');
  t.same(
    of(fx, 'shutdown').map((s) => s.mode),
    ['cold', 'cold'],
  );
});

void t.test('HUP rolls one slot at a time; the old child drains only after its successor is ready', async (t) => {
  const sim = new Sim();
  const [a, b] = sim.running() as [number, number];
  const fx = sim.signal('HUP');
  t.same(of(fx, 'notify'), [{ type: 'notify', what: 'reloading' }]);
  const spawns = of(fx, 'spawn');
  t.same(
    spawns.map((s) => s.slot),
    [0],
    'one replacement at a time',
  );
  t.same(of(fx, 'shutdown'), [], 'old child keeps serving');
  const a2 = spawns[0]!.id;
  const r = sim.ready(a2);
  t.same(
    of(r, 'shutdown').map((s) => [s.id, s.mode]),
    [[a, 'warm']],
  );
  t.same(of(r, 'spawn'), [], 'next slot waits for the old child to exit');
  const e = sim.exit(a, 0);
  t.same(
    of(e, 'spawn').map((s) => s.slot),
    [1],
  );
  const b2 = of(e, 'spawn')[0]!.id;
  sim.ready(b2);
  const done = sim.exit(b, 0);
  t.ok(logged(done, 'rolling restart complete'));
  t.same(
    sim.s.slots.map((s) => s.current),
    [a2, b2],
  );
  t.equal(sim.s.bootFailures, 0);
});

void t.test('TTIN / TTOU add and remove one child, never below 1', async (t) => {
  const sim = new Sim();
  sim.running();
  const up = sim.signal('TTIN');
  t.same(
    of(up, 'spawn').map((s) => s.slot),
    [2],
  );
  const down = sim.signal('TTOU');
  t.same(
    of(down, 'shutdown').map((s) => s.mode),
    ['warm'],
    'highest slot drains',
  );
  sim.signal('TTOU');
  t.equal(sim.s.slots.length, 1);
  const fx = sim.signal('TTOU');
  t.ok(logged(fx, 'pool already at one child'));
  t.equal(sim.s.slots.length, 1);
  const removed = sim.s.children.find((c) => c.slot === 1)!;
  t.same(of(sim.exit(removed.id, 0), 'spawn'), [], 'a removed child is not replaced');
});

void t.test('max-tasks-per-child: drained and replaced, not a crash', async (t) => {
  const sim = new Sim({ maxTasksPerChild: 10 });
  const [a] = sim.running() as [number];
  t.same(of(sim.beat(a, 0, 9), 'shutdown'), []);
  const fx = sim.beat(a, 0, 10);
  t.same(
    of(fx, 'shutdown').map((s) => [s.id, s.mode]),
    [[a, 'warm']],
  );
  t.same(
    of(fx, 'spawn').map((s) => s.slot),
    [0],
  );
  const ex = sim.exit(a, 0);
  t.ok(logged(ex, 'child exited'));
  t.same(sim.s.crashTimes, []);
  t.equal(sim.s.slots[0]?.attempts, 0);
});

void t.test('max-memory: a sample over the limit drains and replaces the child', async (t) => {
  const sim = new Sim({ maxMemoryBytes: 1000 });
  const [a] = sim.running() as [number];
  t.same(sim.ev({ type: 'memorySample', now: sim.now, id: a, rss: 999 }), []);
  const fx = sim.ev({ type: 'memorySample', now: sim.now, id: a, rss: 1001 });
  t.ok(logged(fx, 'child over memory limit'));
  t.same(
    of(fx, 'shutdown').map((s) => s.id),
    [a],
  );
  t.equal(of(fx, 'spawn').length, 1);
});

void t.test('autoscale grows when every child is busy and shrinks after the keepalive', async (t) => {
  const sim = new Sim({ autoscale: { max: 3, min: 1 }, heartbeatTimeoutMs: 0 });
  const [a] = sim.running() as [number];
  t.equal(sim.s.slots.length, 1, 'starts at the minimum');
  const grow = sim.beat(a, 1);
  t.same(
    of(grow, 'spawn').map((s) => s.slot),
    [1],
  );
  const b = sim.current(1) as number;
  t.same(of(sim.beat(a, 1), 'spawn'), [], 'no growth while a child is starting');
  sim.ready(b);
  sim.beat(b, 1);
  t.equal(sim.s.slots.length, 3);
  sim.ready(sim.current(2) as number);
  t.same(of(sim.beat(a, 1), 'spawn'), [], 'never above max');
  for (const c of sim.s.children) sim.beat(c.id, 0);
  const shrink = sim.wake();
  t.ok(logged(shrink, 'pool resized'));
  t.equal(sim.s.slots.length, 2);
});

void t.test('a drained child that never exits is killed after the grace', async (t) => {
  const sim = new Sim({ maxTasksPerChild: 1 });
  const [a] = sim.running() as [number];
  sim.beat(a, 0, 1);
  sim.ready(sim.current(0) as number);
  sim.beat(2, 0, 0);
  t.equal(sim.phase(a), 'draining');
  sim.now += 10_000;
  const fx = sim.tick();
  t.same(
    of(fx, 'shutdown').map((s) => [s.id, s.mode]),
    [[a, 'cold']],
  );
  sim.now += 2000;
  t.same(
    of(sim.tick(), 'kill').map((k) => k.id),
    [a],
  );
});

void t.test('unknown children and unexpected messages are logged, not fatal', async (t) => {
  const sim = new Sim();
  sim.running();
  t.ok(logged(sim.exit(99, 0), 'exit of unknown child ignored'));
  t.ok(logged(sim.ready(1), 'unexpected child message ignored'));
  t.same(of(sim.signal('USR2'), 'dumpStatus'), [{ type: 'dumpStatus' }]);
});
