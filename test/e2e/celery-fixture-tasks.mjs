// Tasks the Celery e2e tests need beyond the built-ins: retries, time limits, custom exception types,
// a workflow. Plain definition objects (the loader normalises them), so no build step is needed.
import { writeFileSync } from 'node:fs';

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export const flaky = {
  kind: 'task',
  name: 'tbw_test.flaky',
  retries: 3,
  retryBackoff: { initialMs: 50, factor: 2, maxMs: 200 },
  run(args, kwargs, ctx) {
    if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
    return ctx.attempt;
  },
};

export const retryRequest = {
  kind: 'task',
  name: 'tbw_test.retry_request',
  run(args, kwargs, ctx) {
    if (ctx.attempt === 1) throw Object.assign(new Error('again please'), { name: 'Retry', countdownMs: 100 });
    return `done on attempt ${ctx.attempt}`;
  },
};

export const sleeper = {
  kind: 'task',
  name: 'tbw_test.sleep',
  async run(args, kwargs, ctx) {
    await sleep((args[0] ?? 1) * 1000, ctx.signal);
    return { slept: args[0] ?? 1, pid: process.pid };
  },
};

export const stubborn = {
  kind: 'task',
  name: 'tbw_test.stubborn',
  timeoutMs: 200,
  async run() {
    await sleep(60_000); // ignores its AbortSignal on purpose
    return 'never';
  },
};

export const raiser = {
  kind: 'task',
  name: 'tbw_test.raise',
  run(args) {
    throw Object.assign(new Error(String(args[1] ?? 'boom')), { name: String(args[0] ?? 'KeyError') });
  },
};

export const total = {
  kind: 'task',
  name: 'tbw_test.sum',
  run(args) {
    const list = Array.isArray(args[0]) ? args[0] : args;
    return list.reduce((a, b) => a + b, 0);
  },
};

export const workflow = {
  kind: 'workflow',
  name: 'tbw_test.wf',
  steps: [
    { task: 'add_numbers', args: [10] },
    {
      parallel: [
        { task: 'add_numbers', args: [1] },
        { task: 'add_numbers', args: [2] },
      ],
    },
    { task: 'tbw_test.sum' },
  ],
};

export const raiseAfter = {
  kind: 'task',
  name: 'tbw_test.raise_after',
  run(args) {
    throw Object.assign(new Error(`bad input ${JSON.stringify(args[0])}`), { name: 'ValueError' });
  },
};

// A DAG whose sink depends on a node two layers up: [2, 3] → a=5, b=6, c=7, d=echo({a, c}).
export const dag = {
  kind: 'workflow',
  name: 'tbw_test.dag',
  steps: {
    dag: {
      a: { task: 'add_numbers' },
      b: { task: 'add_numbers', parents: ['a'], args: [1] },
      c: { task: 'add_numbers', parents: ['b'], args: [1] },
      d: { task: 'echo', parents: ['a', 'c'] },
    },
  },
};

// A DAG with a failing middle node: the workflow fails with that node's error, its child never runs.
export const dagFail = {
  kind: 'workflow',
  name: 'tbw_test.dag_fail',
  steps: {
    dag: {
      a: { task: 'add_numbers' },
      b: { task: 'tbw_test.raise_after', parents: ['a'] },
      c: { task: 'echo', parents: ['b'] },
      e: { task: 'echo', parents: ['a'] },
    },
  },
};

// Blocks (until aborted) when told to, so a worker holds its message; Python's twin in py/celery_restore_app.py.
export const block = {
  kind: 'task',
  name: 'tbw_test.block',
  async run(args, kwargs, ctx) {
    if (args[0] === 'node-blocks') await sleep(3_600_000, ctx.signal);
    return { by: 'node', pid: process.pid };
  },
};

// When it ran and where: args [sleepSeconds, tag, pidFile?]; writes its pid to pidFile first (tests kill it there).
export const stamp = {
  kind: 'task',
  name: 'tbw_test.stamp',
  async run(args, kwargs, ctx) {
    const started = Date.now();
    if (typeof args[2] === 'string') writeFileSync(args[2], String(process.pid));
    if (args[0]) await sleep(args[0] * 1000, ctx.signal);
    return { at: started, pid: process.pid, redelivered: ctx.redelivered, tag: args[1] ?? null };
  },
};

// Returns its positional arguments: an errback (link_error) shows what Celery hands it (the failed task's id).
export const argsOf = {
  kind: 'task',
  name: 'tbw_test.args',
  run(args) {
    return args;
  },
};

// A side effect a test can see without a result backend: writes `text` to `path` (messages without a task id).
export const touch = {
  kind: 'task',
  name: 'tbw_test.touch',
  async run(args) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(String(args[0]), String(args[1] ?? 'touched'));
    return null;
  },
};

// Ignores its AbortSignal and has no time limit: only a terminate's grace ends its run (celery-fidelity test).
export const deaf = {
  kind: 'task',
  name: 'tbw_test.deaf',
  async run() {
    await sleep(60_000);
    return 'never';
  },
};
