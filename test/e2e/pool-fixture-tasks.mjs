// Tasks for the Temporal pool tests: each writes a marker file when it starts (which child pid, which attempt), so
// a test can wait for work to be in flight and kill exactly the child that holds it. Imports the BUILT package.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { bind, defineTask } from '../../dist/src/tasks/index.js';

const SIG = {
  name: 'temporal_marked_sleep',
  params: [{ name: 'dir' }, { name: 'key' }, { name: 'ms', type: 'number' }],
};

export const markedSleep = defineTask({
  name: 'temporal_marked_sleep',
  description: 'appends "<pid> <attempt>" to <dir>/<key>, sleeps ms (abortable), returns {pid, attempt}',
  // Short limit: a SIGKILLed child's attempt is timed out by the server after ~3 s and retried.
  timeout: 2000,
  retries: 2,
  retryBackoff: { initialMs: 100, factor: 1, maxMs: 100 },
  async run(args, kwargs, ctx) {
    const { dir, key, ms } = bind(args, kwargs, SIG);
    appendFileSync(join(dir, key), `${process.pid} ${ctx.attempt}\n`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    });
    return { pid: process.pid, attempt: ctx.attempt };
  },
});
