// Every built-in task: the original Python registry's results for the same arguments, TypeErrors for bad calls.
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { BUILTIN_TASKS, abortableSleep } from '../../src/tasks/builtins.js';
import type { TaskContext, TaskDefinition } from '../../src/tasks/types.js';

function task(name: string): TaskDefinition {
  const d = BUILTIN_TASKS.find((x) => x.name === name);
  if (!d) throw new Error(`no builtin ${name}`);
  return d;
}

function ctx(signal: AbortSignal = new AbortController().signal): TaskContext {
  return {
    taskId: 'id-1',
    taskName: 'x',
    attempt: 1,
    redelivered: false,
    signal,
    logger: pino({ level: 'silent' }),
    backend: 'celery',
    workerName: 'celery@unit',
  };
}

const run = async (name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<unknown> =>
  task(name).run(args, kwargs, ctx());

async function rejectsWith(t: Test, p: Promise<unknown>, type: string, message: string | RegExp): Promise<void> {
  await t.rejects(p, { name: type, message });
}

void t.test('the registry holds the original names', async (t) => {
  t.same(BUILTIN_TASKS.map((d) => d.name).sort(), [
    'add_numbers',
    'concat_with_number',
    'echo',
    'format_result_message',
    'health_check',
    'process_data',
    'simulate_work',
  ]);
  for (const d of BUILTIN_TASKS) t.ok(d.description, `${d.name} has a description`);
});

void t.test('add_numbers', async (t) => {
  t.equal(await run('add_numbers', [2, 3]), 5);
  t.equal(await run('add_numbers', [], { a: 2, b: 3 }), 5);
  t.equal(await run('add_numbers', [0.1, 0.2]), 0.1 + 0.2);
  t.equal(await run('add_numbers', ['a', 'b']), 'ab');
  t.same(await run('add_numbers', [[1], [2]]), [1, 2]);
  await rejectsWith(
    t,
    run('add_numbers', [2]),
    'TypeError',
    "add_numbers() missing 1 required positional argument: 'b'",
  );
  await rejectsWith(
    t,
    run('add_numbers', [1, 2, 3]),
    'TypeError',
    'add_numbers() takes 2 positional arguments but 3 were given',
  );
  await rejectsWith(
    t,
    run('add_numbers', [1, 2], { x: 1 }),
    'TypeError',
    "add_numbers() got an unexpected keyword argument 'x'",
  );
  await rejectsWith(
    t,
    run('add_numbers', [1], { a: 1 }),
    'TypeError',
    "add_numbers() got multiple values for argument 'a'",
  );
  await rejectsWith(t, run('add_numbers', [1, 'x']), 'TypeError', "unsupported operand type(s) for +: 'int' and 'str'");
});

void t.test('concat_with_number, format_result_message, echo', async (t) => {
  t.equal(await run('concat_with_number', ['a', 1]), 'a1');
  t.equal(await run('concat_with_number', ['v', 2.5]), 'v2.5');
  t.equal(await run('concat_with_number', ['flag', true]), 'flagTrue');
  t.equal(await run('concat_with_number', [], { base_string: 'n', number: null }), 'nNone');
  t.equal(await run('format_result_message', [5]), 'Result is 5');
  t.equal(await run('format_result_message', [[1, 2]]), 'Result is [1, 2]');
  t.equal(await run('echo', ['hi']), 'Echo: hi');
  t.equal(await run('echo', [], { message: { k: 'v' } }), "Echo: {'k': 'v'}");
  await rejectsWith(t, run('echo', []), 'TypeError', "echo() missing 1 required positional argument: 'message'");
  await rejectsWith(
    t,
    run('format_result_message', [1, 2]),
    'TypeError',
    /takes 1 positional argument but 2 were given/,
  );
  await rejectsWith(
    t,
    run('concat_with_number', ['a']),
    'TypeError',
    /missing 1 required positional argument: 'number'/,
  );
});

void t.test('health_check', async (t) => {
  const before = Date.now() / 1000;
  const r = (await run('health_check')) as Record<string, unknown>;
  t.same(Object.keys(r), ['status', 'timestamp', 'worker', 'message']);
  t.equal(r.status, 'healthy');
  t.equal(r.worker, 'celery@unit');
  t.equal(r.message, 'Worker is operational');
  t.ok((r.timestamp as number) >= before && (r.timestamp as number) <= Date.now() / 1000 + 1, 'epoch seconds');
  await rejectsWith(
    t,
    run('health_check', [1]),
    'TypeError',
    'health_check() takes 0 positional arguments but 1 was given',
  );
});

void t.test('simulate_work waits, reports timings and aborts on the signal', async (t) => {
  const r = (await run('simulate_work', [0.05])) as Record<string, unknown>;
  t.equal(r.requested_duration, 0.05);
  t.ok((r.actual_duration as number) >= 0.04, `actual ${String(r.actual_duration)} s`);
  t.ok((r.end_time as number) >= (r.start_time as number));
  t.equal(new Date(r.started_at as string).getTime(), Math.round((r.start_time as number) * 1000));
  t.equal(r.status, 'completed');
  t.equal(((await run('simulate_work', [], { duration: 0 })) as Record<string, unknown>).requested_duration, 0);

  const ac = new AbortController();
  const started = Date.now();
  const p = Promise.resolve(task('simulate_work').run([30], {}, ctx(ac.signal)));
  ac.abort(Object.assign(new Error('revoked'), { name: 'TaskRevokedError' }));
  await t.rejects(p, { name: 'TaskRevokedError' });
  t.ok(Date.now() - started < 5000, 'aborted promptly');

  await rejectsWith(
    t,
    run('simulate_work', ['x']),
    'TypeError',
    "simulate_work() argument 'duration' must be int or float, not str",
  );
  await rejectsWith(t, run('simulate_work', [-1]), 'ValueError', 'sleep length must be non-negative');
  await rejectsWith(
    t,
    run('simulate_work', [1, 2]),
    'TypeError',
    'simulate_work() takes from 0 to 1 positional arguments but 2 were given',
  );
});

void t.test('abortableSleep rejects at once when already aborted', async (t) => {
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  await t.rejects(abortableSleep(10_000, ac.signal), { message: 'gone' });
});

void t.test('process_data', async (t) => {
  const data = { name: 'ada', n: 1, f: 1.5, ok: true, none: null, list: ['x'] };
  const v = (await run('process_data', [data])) as Record<string, unknown>;
  t.same(Object.keys(v), ['original', 'operation', 'processed_at', 'status', 'valid']);
  t.same(v.original, data);
  t.equal(v.operation, 'validate');
  t.equal(v.status, 'completed');
  t.equal(v.valid, true);
  t.type(v.processed_at, 'number');
  t.equal(((await run('process_data', [{}])) as Record<string, unknown>).valid, false);
  const tr = (await run('process_data', [data], { operation: 'transform' })) as Record<string, unknown>;
  t.same(tr.transformed, { name: 'ADA', n: '1', f: '1.5', ok: 'TRUE', none: 'NONE', list: "['X']" });
  t.equal(((await run('process_data', [data, 'count'])) as Record<string, unknown>).count, 6);
  const other = (await run('process_data', [data, 'frobnicate'])) as Record<string, unknown>;
  t.same(Object.keys(other), ['original', 'operation', 'processed_at', 'status'], 'unknown operation adds nothing');
  await rejectsWith(
    t,
    run('process_data', [[1]]),
    'TypeError',
    "process_data() argument 'data' must be dict, not list",
  );
  await rejectsWith(
    t,
    run('process_data', []),
    'TypeError',
    "process_data() missing 1 required positional argument: 'data'",
  );
});
