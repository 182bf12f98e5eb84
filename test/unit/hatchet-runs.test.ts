// One Hatchet run as the worker executes it (runOne over a fake SDK context): the task's retries run in-process with
// their attempt numbers, Hatchet's retry count is the number of lost workers (ctx.redelivered, the delivery limit),
// the engine's timeout moves out before each retry wait, and failures carry the caller-visible type.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { runOne, workerLostText, type RunHooks } from '../../src/backends/hatchet/tasks.js';
import { defineTask } from '../../src/tasks/define.js';
import { taskLines } from '../../src/tasks/task-log.js';
import { RetryTask, TaskError, type TaskContext } from '../../src/tasks/types.js';

class FakeNonRetryable extends Error {
  override name = 'NonRetryableError';
}

function fakeContext(retryCount: number) {
  const refreshed: string[] = [];
  const ctx = {
    retryCount: () => retryCount,
    taskRunExternalId: () => 'run-1',
    abortController: new AbortController(),
    refreshTimeout: async (by: string) => void refreshed.push(by),
  };
  return { ctx: ctx as unknown as Parameters<typeof runOne>[3], refreshed };
}

function hooks(deliveryLimit = 2): RunHooks & { ends: boolean[]; logged: Record<string, unknown>[] } {
  const ends: boolean[] = [];
  const logged: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logged.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return {
    ends,
    logged,
    logger: pino({ level: 'silent' }),
    workerName: 'w-0',
    coldSignal: new AbortController().signal,
    deliveryLimit,
    onStart: () => undefined,
    onEnd: (ok) => void ends.push(ok),
    nonRetryable: (message) => new FakeNonRetryable(message),
    lines: taskLines(pino({ level: 'info' }, sink), true),
  };
}

/** The task lines a run wrote: msg and the fields that tell them apart. */
const said = (h: { logged: Record<string, unknown>[] }): unknown[] =>
  h.logged.map(({ msg, task, taskId, countdown, excType, result }) => ({ msg, task, taskId, countdown, excType, result })); // prettier-ignore

const FAST = { initialMs: 5, factor: 1, maxMs: 5 };

void t.test('retries run in-process: attempts 1..n, the engine timeout moved before each wait', async (t) => {
  const seen: Pick<TaskContext, 'attempt' | 'redelivered'>[] = [];
  const flaky = defineTask({
    name: 'flaky',
    retries: 3,
    timeout: 2000,
    retryBackoff: FAST,
    run: (_a, _k, ctx) => {
      seen.push({ attempt: ctx.attempt, redelivered: ctx.redelivered });
      if (ctx.attempt < 3) throw new TaskError('not yet', 'ConnectionError');
      return 'done';
    },
  });
  const { ctx, refreshed } = fakeContext(0);
  const h = hooks();
  t.same(await runOne(flaky, [], {}, ctx, h), { result: 'done' });
  t.same(seen, [
    { attempt: 1, redelivered: false },
    { attempt: 2, redelivered: false },
    { attempt: 3, redelivered: false },
  ]);
  t.same(refreshed, ['3s', '3s'], 'each retry moves the engine timeout by its wait plus one attempt (rounded up)');
  t.same(h.ends, [true], 'one run, one outcome');
  const ref = { task: 'flaky', taskId: 'run-1' };
  t.match(said(h), [
    { msg: 'task received', ...ref },
    { msg: 'task retry', ...ref, countdown: 0.005, excType: 'ConnectionError' },
    { msg: 'task retry', ...ref, countdown: 0.005, excType: 'ConnectionError' },
    { msg: 'task succeeded', ...ref, result: "'done'" },
  ], 'one line per event: received, each retry with its countdown, succeeded with the result'); // prettier-ignore
});

void t.test("a run after lost workers: redelivered on its first attempt, the task's own retries intact", async (t) => {
  const seen: Pick<TaskContext, 'attempt' | 'redelivered'>[] = [];
  const once = defineTask({
    name: 'once',
    retries: 1,
    retryBackoff: FAST,
    run: (_a, _k, ctx) => {
      seen.push({ attempt: ctx.attempt, redelivered: ctx.redelivered });
      if (ctx.attempt === 1) throw new TaskError('first', 'ValueError');
      return ctx.attempt;
    },
  });
  const { ctx, refreshed } = fakeContext(2);
  t.same(await runOne(once, [], {}, ctx, hooks(2)), { result: 2 });
  t.same(seen, [
    { attempt: 1, redelivered: true },
    { attempt: 2, redelivered: false },
  ]);
  t.same(refreshed, [], 'no limit, no engine timeout to move');
});

void t.test('past the delivery limit the run fails with WorkerLostError without running the task', async (t) => {
  let ran = 0;
  const poison = defineTask({ name: 'poison', run: () => void ran++ });
  const { ctx } = fakeContext(3);
  const h = hooks(2);
  await t.rejects(runOne(poison, [], {}, ctx, h), {
    name: 'NonRetryableError',
    message: workerLostText('poison', 3, 2),
  });
  t.equal(ran, 0);
  t.match(said(h), [{ msg: 'task received' }, { msg: 'task failed', excType: 'WorkerLostError' }]);
  t.match(
    workerLostText('poison', 3, 2),
    /^WorkerLostError: worker lost while running poison \(.*\), 3 times; the delivery limit is 2$/,
  );
  t.match(workerLostText('p', 1, 0), /, once; the delivery limit is 0$/);
});

void t.test('failures are final on Hatchet and carry the type a caller sees', async (t) => {
  const typed = defineTask({
    name: 'typed',
    retries: 1,
    retryBackoff: FAST,
    run: () => {
      throw new TaskError('bad', 'ValueError');
    },
  });
  const h = hooks();
  await t.rejects(runOne(typed, [], {}, fakeContext(0).ctx, h), {
    name: 'NonRetryableError',
    message: 'ValueError: bad',
  });
  t.match(said(h).slice(-1), [{ msg: 'task failed', task: 'typed', excType: 'ValueError' }], 'the failure line');
  t.equal(h.logged.at(-1)?.level, 50, 'at ERROR');
  const asks = defineTask({
    name: 'asks',
    retries: 1,
    retryBackoff: FAST,
    run: () => {
      throw new RetryTask('again', 1);
    },
  });
  await t.rejects(runOne(asks, [], {}, fakeContext(0).ctx, hooks()), {
    message: 'MaxRetriesExceededError: task asks asked to retry after 1 retries',
  });
});
