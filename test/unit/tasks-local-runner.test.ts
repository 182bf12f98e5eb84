// The reference semantics: attempts, retries and backoff, time limits, aborts, and sequential / parallel / DAG
// workflows (argument prepending, joins, sinks) as types.ts documents them.
import t from 'tap';
import { defineTask, defineWorkflow } from '../../src/tasks/define.js';
import { loadRegistry } from '../../src/tasks/loader.js';
import { dagNodeInput, dagSinks, retryDelayMs, runByName, runTask, stepInput } from '../../src/tasks/local-runner.js';
import { Registry } from '../../src/tasks/registry.js';
import { RetryTask, TaskError } from '../../src/tasks/types.js';

/** Records the waits between retries instead of sleeping. */
function recordingSleep(): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, sleep: (ms) => (waits.push(ms), Promise.resolve()) };
}

/** A task that appends its (args, kwargs) to a log and returns a label, to observe what each step received. */
function recorder(name: string, log: unknown[][]): ReturnType<typeof defineTask> {
  return defineTask({
    name,
    run: (args, kwargs) => {
      log.push([name, args, kwargs]);
      return `${name}(${args.map((a) => JSON.stringify(a)).join(',')})`;
    },
  });
}

void t.test('retryDelayMs is exponential and capped', async (t) => {
  const b = { initialMs: 100, factor: 2, maxMs: 500 };
  t.same(
    [1, 2, 3, 4, 5].map((n) => retryDelayMs(b, n)),
    [100, 200, 400, 500, 500],
  );
  t.same(
    [1, 2, 3].map((n) => retryDelayMs({ initialMs: 50, factor: 1, maxMs: 1000 }, n)),
    [50, 50, 50],
  );
});

void t.test('retries: attempts counted, backoff waited, success on a later attempt', async (t) => {
  const { waits, sleep } = recordingSleep();
  const seen: number[] = [];
  const def = defineTask({
    name: 'flaky',
    retries: 3,
    retryBackoff: { initialMs: 10, factor: 3, maxMs: 1000 },
    run: (_a, _k, ctx) => {
      seen.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error('boom');
      return ctx.attempt;
    },
  });
  t.equal(await runTask(def, [], {}, { sleep }), 3);
  t.same(seen, [1, 2, 3]);
  t.same(waits, [10, 30]);
});

void t.test('retries exhausted, non-retryable errors, RetryTask', async (t) => {
  const { waits, sleep } = recordingSleep();
  let calls = 0;
  const always = defineTask({
    name: 'always',
    retries: 2,
    run: (_a, _k, ctx) => {
      calls++;
      throw new TaskError(`n${ctx.attempt}`, 'IOError');
    },
  });
  await t.rejects(runTask(always, [], {}, { sleep }), { name: 'IOError', message: 'n3' });
  t.equal(calls, 3, '1 + retries attempts');
  t.same(waits, [1000, 2000], 'default backoff');

  calls = 0;
  const fatal = defineTask({
    name: 'fatal',
    retries: 5,
    run: () => {
      calls++;
      throw new TaskError('no', 'ValueError', false);
    },
  });
  await t.rejects(runTask(fatal, [], {}, { sleep }), { name: 'ValueError' });
  t.equal(calls, 1, 'a non-retryable error is not retried');

  const before = waits.length;
  const add = (await loadRegistry({ taskModules: [], builtins: true })).task('add_numbers');
  if (!add) throw new Error('add_numbers missing');
  await t.rejects(runTask({ ...add, retries: 3 }, [1], {}, { sleep }), { name: 'TypeError' });
  t.equal(waits.length, before, 'argument TypeErrors are not retried');

  const asks = defineTask({
    name: 'asks',
    retries: 1,
    run: (_a, _k, ctx) => {
      if (ctx.attempt === 1) throw new RetryTask('again', 7);
      return 'ok';
    },
  });
  const rec = recordingSleep();
  t.equal(await runTask(asks, [], {}, { sleep: rec.sleep }), 'ok');
  t.same(rec.waits, [7], 'RetryTask countdown overrides the backoff');

  const keepsAsking = defineTask({
    name: 'keeps_asking',
    retries: 1,
    run: () => {
      throw new RetryTask();
    },
  });
  await t.rejects(runTask(keepsAsking, [], {}, { sleep }), { name: 'MaxRetriesExceededError' });
});

void t.test('time limit aborts ctx.signal and fails even when the task ignores it', async (t) => {
  let reason: unknown;
  const polite = defineTask({
    name: 'polite',
    timeout: 50,
    run: (_a, _k, ctx) =>
      new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
          reject(ctx.signal.reason);
        }),
      ),
  });
  await t.rejects(runTask(polite, [], {}), {
    name: 'TimeLimitExceeded',
    message: 'task polite exceeded its time limit of 50 ms',
  });
  t.match(reason, { name: 'TimeLimitExceeded', limitMs: 50 });

  let release: () => void = () => undefined;
  const stubborn = defineTask({
    name: 'stubborn',
    timeout: 50,
    run: () =>
      new Promise<void>((r) => {
        release = r;
      }),
  });
  await t.rejects(runTask(stubborn, [], {}), { name: 'TimeLimitExceeded' });
  release();

  const { waits, sleep } = recordingSleep();
  let n = 0;
  const slowThenFast = defineTask({
    name: 'slow_then_fast',
    timeout: 50,
    retries: 1,
    run: (_a, _k, ctx) =>
      ++n === 1 ? new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))) : 'fast',
  });
  t.equal(await runTask(slowThenFast, [], {}, { sleep }), 'fast', 'a time limit is retryable');
  t.equal(waits.length, 1);
});

void t.test('an outer abort (cold shutdown, revoke) ends the task without retrying', async (t) => {
  const ac = new AbortController();
  let attempts = 0;
  const waits = defineTask({
    name: 'waits',
    retries: 3,
    run: () => {
      attempts++;
      ac.abort(Object.assign(new Error('shutdown'), { name: 'WorkerLostError' }));
      return new Promise(() => undefined); // ignores its signal: the runner still settles
    },
  });
  await t.rejects(runTask(waits, [], {}, { signal: ac.signal }), { name: 'WorkerLostError' });
  t.equal(attempts, 1);
});

void t.test('task context', async (t) => {
  const def = defineTask({
    name: 'ctx',
    run: (_a, _k, ctx) => ({ id: ctx.taskId, name: ctx.taskName, b: ctx.backend, w: ctx.workerName }),
  });
  t.same(await runTask(def, [], {}, { taskId: 'abc', backend: 'temporal', workerName: 'w@h' }), {
    id: 'abc',
    name: 'ctx',
    b: 'temporal',
    w: 'w@h',
  });
});

void t.test(
  'stepInput: first steps spread the workflow args and merge kwargs; later steps prepend one value',
  async (t) => {
    t.same(
      stepInput({ task: 'x', args: [3], kwargs: { k: 1, j: 1 } }, { first: true, args: [1, 2], kwargs: { k: 2 } }),
      { args: [1, 2, 3], kwargs: { k: 2, j: 1 } },
    );
    t.same(stepInput({ task: 'x', args: [3], kwargs: { j: 1 } }, { first: false, value: [1, 2] }), {
      args: [[1, 2], 3],
      kwargs: { j: 1 },
    });
    const outputs = new Map<string, unknown>([
      ['a', 1],
      ['b', 2],
    ]);
    t.same(dagNodeInput({ task: 'x' }, outputs, [9], { q: 1 }), { args: [9], kwargs: { q: 1 } });
    t.same(dagNodeInput({ task: 'x', parents: ['a'], args: ['s'] }, outputs, [9], { q: 1 }), {
      args: [1, 's'],
      kwargs: {},
    });
    t.same(dagNodeInput({ task: 'x', parents: ['b', 'a'] }, outputs, [9], {}), { args: [{ b: 2, a: 1 }], kwargs: {} });
    t.same(dagSinks({ a: { task: 'x' }, b: { task: 'x', parents: ['a'] }, c: { task: 'x', parents: ['a'] } }), [
      'b',
      'c',
    ]);
  },
);

void t.test('sequential and parallel workflows', async (t) => {
  const log: unknown[][] = [];
  const r = new Registry();
  for (const n of ['s1', 's2', 'p1', 'p2', 'end']) r.add(recorder(n, log));
  r.add(
    defineWorkflow({
      name: 'wf',
      steps: [
        { task: 's1', args: ['x'], kwargs: { k: 1 } },
        { parallel: [{ task: 'p1' }, { task: 'p2', args: [7] }] },
        { task: 'end' },
      ],
    }),
  );
  const out = await runByName(r, 'wf', [0], { w: true });
  t.same(log[0], ['s1', [0, 'x'], { k: 1, w: true }], 'first step: workflow args then static args, kwargs merged');
  t.same(
    log.slice(1, 3).sort(),
    [
      ['p1', ['s1(0,"x")'], {}],
      ['p2', ['s1(0,"x")', 7], {}],
    ],
    'every branch gets the same input',
  );
  t.same(
    log[3],
    ['end', [['p1("s1(0,\\"x\\")")', 'p2("s1(0,\\"x\\")",7)']], {}],
    'the join gets the branch outputs in order',
  );
  t.equal(out, 'end([' + JSON.stringify('p1("s1(0,\\"x\\")")') + ',' + JSON.stringify('p2("s1(0,\\"x\\")",7)') + '])');
});

void t.test('DAG: roots get the workflow args, joins get a map, several sinks give a map', async (t) => {
  const log: unknown[][] = [];
  const r = new Registry();
  for (const n of ['a', 'b', 'c', 'd']) r.add(recorder(n, log));
  r.add(
    defineWorkflow({
      name: 'diamond',
      steps: {
        dag: {
          a: { task: 'a' },
          b: { task: 'b', parents: ['a'] },
          c: { task: 'c', parents: ['a'], args: [1] },
          d: { task: 'd', parents: ['b', 'c'] },
        },
      },
    }),
  );
  const out = await runByName(r, 'diamond', [5]);
  t.same(log[0], ['a', [5], {}]);
  t.same(
    log.find((l) => l[0] === 'd'),
    ['d', [{ b: 'b("a(5)")', c: 'c("a(5)",1)' }], {}],
  );
  t.equal(out, 'd({"b":"b(\\"a(5)\\")","c":"c(\\"a(5)\\",1)"})');
  t.equal(log.length, 4, 'each node runs once');

  r.add(
    defineWorkflow({
      name: 'forked',
      steps: { dag: { a: { task: 'a' }, b: { task: 'b', parents: ['a'] }, c: { task: 'c', parents: ['a'] } } },
    }),
  );
  t.same(await runByName(r, 'forked', [1]), { b: 'b("a(1)")', c: 'c("a(1)")' });
});

void t.test('DAG branches run concurrently; a failing node fails the workflow', async (t) => {
  let running = 0;
  let peak = 0;
  const r = new Registry();
  r.add(
    defineTask({
      name: 'slow',
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((res) => setTimeout(res, 30));
        running--;
        return 1;
      },
    }),
  );
  r.add(
    defineTask({
      name: 'bad',
      // Takes the parent's output (a task with no parameters would fail its call with TypeError instead).
      run: ([_parent]) => {
        throw new TaskError('nope', 'KeyError');
      },
    }),
  );
  r.add(
    defineWorkflow({ name: 'wide', steps: { dag: { x: { task: 'slow' }, y: { task: 'slow' }, z: { task: 'slow' } } } }),
  );
  t.same(await runByName(r, 'wide'), { x: 1, y: 1, z: 1 });
  t.equal(peak, 3, 'independent roots overlap');
  r.add(
    defineWorkflow({
      name: 'broken',
      steps: { dag: { x: { task: 'slow' }, y: { task: 'bad', parents: ['x'] }, z: { task: 'slow', parents: ['y'] } } },
    }),
  );
  await t.rejects(runByName(r, 'broken'), { name: 'KeyError', message: 'nope' });
  await t.rejects(runByName(r, 'nope'), { name: 'NotRegistered' });
});

void t.test('every attempt of one run sees the same task id', async (t) => {
  const ids: string[] = [];
  const def = defineTask({
    name: 'ids',
    retries: 2,
    run: (_a, _k, ctx) => {
      ids.push(ctx.taskId);
      if (ctx.attempt < 3) throw new Error('again');
    },
  });
  await runTask(def, [], {}, { sleep: () => Promise.resolve() });
  t.equal(ids.length, 3);
  t.equal(new Set(ids).size, 1);
});
