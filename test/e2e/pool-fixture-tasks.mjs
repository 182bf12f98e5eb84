// Tasks for the Temporal and Hatchet pool tests. Each writes "<pid> <attempt>" to <dir>/<key> when it starts, so a
// test can wait for work to be in flight and kill exactly the child that holds it. Imports the BUILT package.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { bind, defineTask } from '../../dist/src/tasks/index.js';

const MARKED = { name: 'marked_sleep', params: [{ name: 'dir' }, { name: 'key' }, { name: 'ms', type: 'number' }] };
const WAITING = { name: 'wait_abort', params: [{ name: 'dir' }, { name: 'key' }] };

export const markedSleep = defineTask({
  name: 'marked_sleep',
  description: 'marks its start in <dir>/<key>, sleeps ms (abortable), returns {pid, attempt, redelivered}',
  // A short limit and no retries: a killed child must still not fail the task (a lost worker is not a failure).
  timeout: 4000,
  retries: 0,
  async run(args, kwargs, ctx) {
    const { dir, key, ms } = bind(args, kwargs, MARKED);
    appendFileSync(join(dir, key), `${process.pid} ${ctx.attempt}\n`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    });
    return { pid: process.pid, attempt: ctx.attempt, redelivered: ctx.redelivered };
  },
});

export const waitAbort = defineTask({
  name: 'wait_abort',
  description: 'marks its start in <dir>/<key>, waits for ctx.signal and appends its epoch ms to <dir>/<key>.abort',
  async run(args, kwargs, ctx) {
    const { dir, key } = bind(args, kwargs, WAITING);
    appendFileSync(join(dir, key), `${process.pid} ${ctx.attempt}\n`);
    await new Promise((_, reject) => {
      ctx.signal.addEventListener('abort', () => {
        appendFileSync(join(dir, `${key}.abort`), `${Date.now()}\n`);
        reject(ctx.signal.reason);
      });
    });
  },
});
