// Poison tasks for the reliability e2e tests (test/e2e/celery-poison*.test.ts): each one stops or stalls the child
// running it in its own way. Every task records each of its runs as a line in the file given as its first
// argument (runs survive the child, and Redis may refuse writes), so the tests count executions exactly. They
// take `run(args, kwargs, ctx)` (no argument checking): the tests send extra arguments on purpose.
import { appendFileSync } from 'node:fs';

const ran = (path, ctx) => appendFileSync(path, `${ctx.taskId} ${process.pid} ${ctx.redelivered} ${ctx.attempt}\n`);

/** (runs) A timer that throws after the task returned control: an uncaught exception kills the child (exit 1). */
export const asyncThrow = {
  kind: 'task',
  name: 'poison.async_throw',
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    setTimeout(() => {
      throw new Error('poison: thrown from a timer');
    }, 0);
    return new Promise(() => undefined);
  },
};

/** (runs) Allocates until V8's heap limit aborts the child (SIGABRT). */
export const heap = {
  kind: 'task',
  name: 'poison.heap',
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    const hog = [];
    for (;;) hog.push(new Array(1e5).fill(hog.length));
  },
};

/** (runs) process.exit(3) in a ready child: a crash, never a boot error. */
export const exit3 = {
  kind: 'task',
  name: 'poison.exit3',
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    process.exit(3);
  },
};

/** (runs) Blocks the event loop for good: only the heartbeat timeout ends it. */
export const block = {
  kind: 'task',
  name: 'poison.block',
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    for (;;);
  },
};

/** (runs) Ignores its hard time limit (its timer keeps the task alive past the AbortSignal). */
export const stubborn = {
  kind: 'task',
  name: 'poison.stubborn',
  timeoutMs: 200,
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    return new Promise((resolve) => setTimeout(() => resolve('never'), 60_000));
  },
};

/** (runs) Always fails with a retryable error; 2 retries 50 ms apart. */
export const flaky = {
  kind: 'task',
  name: 'poison.flaky',
  retries: 2,
  retryBackoff: { initialMs: 50, factor: 1, maxMs: 50 },
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    throw Object.assign(new Error(`attempt ${ctx.attempt} fails`), { retryable: true });
  },
};

/** (runs, value) Returns its second argument, whatever it is (a result too deep to store). */
export const echo = {
  kind: 'task',
  name: 'poison.echo',
  run(args, kwargs, ctx) {
    ran(args[0], ctx);
    return args[1] ?? null;
  },
};

/** (runs, kib?) A valid task: returns 'ok', or a string of `kib` KiB. */
export const ok = {
  kind: 'task',
  name: 'poison.ok',
  async run(args, kwargs, ctx) {
    ran(args[0], ctx);
    await new Promise((r) => setTimeout(r, 20));
    return args[1] ? 'x'.repeat(args[1] * 1024) : 'ok';
  },
};
