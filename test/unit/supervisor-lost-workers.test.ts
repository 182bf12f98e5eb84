// The crash policy of docs/supervisor.md: a ready child that dies running tasks is a lost worker (its tasks are
// charged by the backend, the crash-loop guard does not count it, the slot restarts at once); exit codes of a ready
// child are never boot errors; a child that served tasks restarts without a grown backoff.
import t from 'tap';
import { CHILD_EXIT, EXIT } from '../../src/exit-codes.js';
import { logged, of, Sim } from '../helpers/pool-sim.js';

const restartDelay = (sim: Sim, slot = 0): number => (sim.s.slots[slot]?.restartAt as number) - sim.now;

void t.test('a child that dies while running tasks is a lost worker: never counted, restarted at once', async (t) => {
  const sim = new Sim({ concurrency: 1, crashLoop: { max: 3, windowMs: 60_000 } });
  sim.running();
  for (let i = 0; i < 20; i++) {
    const id = sim.current(0) as number;
    sim.msg(id, { type: 'busy', active: 1 });
    const fx = sim.exit(id, null, i % 2 === 0 ? 'SIGKILL' : 'SIGABRT');
    const line = of(fx, 'log').find((l) => l.msg === 'child exited unexpectedly');
    t.equal(line?.fields.lostWorker, true, `death ${i + 1} is a lost worker`);
    t.equal(restartDelay(sim), 0, `death ${i + 1}: restarted at once`);
    sim.wake();
    sim.ready(sim.current(0) as number);
  }
  t.equal(sim.s.phase, 'running', 'twenty deaths in a row, the pool runs on');
  t.same(sim.s.crashTimes, [], 'none counted by the crash-loop guard');
});

void t.test('a heartbeat kill of a child blocked in a task is charged to the task, not the pool', async (t) => {
  const sim = new Sim({ concurrency: 1, crashLoop: { max: 2, windowMs: 60_000 } });
  sim.running();
  for (let i = 0; i < 5; i++) {
    const id = sim.current(0) as number;
    sim.beat(id, 0, 3);
    sim.msg(id, { type: 'busy', active: 2 });
    sim.at(3000);
    const fx = sim.tick();
    t.ok(logged(fx, 'child heartbeat timeout, killing'));
    sim.exit(id, null, 'SIGKILL');
    sim.wake();
    sim.ready(sim.current(0) as number);
  }
  t.equal(sim.s.phase, 'running');
  t.equal(sim.s.crashTimes.length, 0);
});

void t.test('exit HARD_TIME_LIMIT is explained by its task even when the heartbeat said idle', async (t) => {
  const sim = new Sim({ concurrency: 1, crashLoop: { max: 2, windowMs: 60_000 } });
  sim.running();
  for (let i = 0; i < 10; i++) {
    sim.exit(sim.current(0) as number, CHILD_EXIT.HARD_TIME_LIMIT);
    t.equal(restartDelay(sim), 0);
    sim.wake();
    sim.ready(sim.current(0) as number);
  }
  t.equal(sim.s.phase, 'running', 'ten hard time limits in a row do not stop the pool');
});

void t.test('exit code 3 from a READY child is a crash, not a boot error', async (t) => {
  const sim = new Sim({ concurrency: 1 });
  sim.running();
  const id = sim.current(0) as number;
  sim.msg(id, { type: 'busy', active: 1 });
  const fx = sim.exit(id, CHILD_EXIT.BOOT_ERROR);
  t.notOk(logged(fx, 'child cannot boot'));
  t.equal(
    of(fx, 'log').find((l) => l.level === 'fatal'),
    undefined,
    'no giving up',
  );
  t.equal(sim.s.phase, 'running');
  t.equal(restartDelay(sim), 0);
  // Idle: still a crash (counted), never a boot error.
  sim.wake();
  sim.ready(sim.current(0) as number);
  sim.exit(sim.current(0) as number, CHILD_EXIT.BOOT_ERROR);
  t.equal(sim.s.phase, 'running');
  t.equal(sim.s.crashTimes.length, 1, 'an idle exit 3 is counted as a crash');
});

void t.test(
  'a child that runs tasks before its ready message was read has booted: exit 3 is a lost worker',
  async (t) => {
    const sim = new Sim({ concurrency: 1 });
    sim.running();
    sim.exit(sim.current(0) as number, null, 'SIGKILL');
    sim.wake();
    // The new child: a broker (RabbitMQ) pushed it a task that kills it before the supervisor read `ready`.
    const id = sim.current(0) as number;
    sim.msg(id, { type: 'busy', active: 1 });
    const fx = sim.exit(id, CHILD_EXIT.BOOT_ERROR);
    t.notOk(logged(fx, 'child cannot boot'), 'not a boot error');
    t.equal(of(fx, 'log').find((l) => l.msg === 'child exited unexpectedly')?.fields.lostWorker, true, 'a lost worker');
    t.equal(sim.s.phase, 'running', 'the pool runs on');
  },
);

void t.test('a busy signal is cleared by a heartbeat that reports no task', async (t) => {
  const sim = new Sim({ concurrency: 1, crashLoop: { max: 2, windowMs: 60_000 } });
  sim.running();
  const id = sim.current(0) as number;
  sim.msg(id, { type: 'busy', active: 1 });
  sim.beat(id, 0, 1);
  sim.exit(id, 1);
  t.equal(sim.s.crashTimes.length, 1, 'idle at its death: counted');
});

void t.test('crashes no task explains still give up; a child that served tasks restarts without backoff', async (t) => {
  const sim = new Sim({ concurrency: 1, crashLoop: { max: 5, windowMs: 60_000 } });
  sim.running();
  // Children that never ran a task and die idle: the slot's backoff grows.
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    sim.exit(sim.current(0) as number, 1);
    delays.push(restartDelay(sim));
    sim.wake();
    sim.ready(sim.current(0) as number);
  }
  t.equal(delays[0], 0, 'the first restart is immediate');
  t.ok((delays[2] as number) > (delays[1] as number) && (delays[1] as number) > 0, `then it grows: ${delays}`);
  // One that served tasks before dying idle: counted, but restarted at once.
  const served = sim.current(0) as number;
  sim.beat(served, 0, 5);
  sim.exit(served, 1);
  t.equal(restartDelay(sim), 0, 'served tasks: no grown backoff');
  t.equal(sim.s.crashTimes.length, 4, 'but counted: no task explains it');
  sim.wake();
  sim.ready(sim.current(0) as number);
  sim.exit(sim.current(0) as number, 1);
  t.equal(sim.s.exitCode, EXIT.CRASH_LOOP, 'the fifth unexplained crash in the window gives up');
});
