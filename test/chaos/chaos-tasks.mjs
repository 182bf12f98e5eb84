// Tasks for the chaos suite: each counts its executions in Redis (HINCRBY per task id) so lost and duplicated
// runs can be told apart. Plain definition objects (the loader normalises them): no build step.
import { Redis } from 'ioredis';

// A worker that cannot boot: the supervisor loads this module too (to validate --tasks), so only children crash.
if (process.env.CHAOS_BOOT_CRASH === '1' && /workers/.test(process.argv[1] ?? '')) process.exit(1);
if (process.env.CHAOS_BOOT_THROW === '1' && /workers/.test(process.argv[1] ?? ''))
  throw new Error('chaos: this module refuses to load in a worker');

let client = null;
// Lazy: the supervisor imports this module without running tasks. Offline commands queue until Redis is back.
const redis = () =>
  (client ??= new Redis(process.env.CHAOS_COUNTER_URL ?? process.env.CELERY_BROKER_URL, {
    maxRetriesPerRequest: null,
  }));

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

/** args: [sleepMs?]. Marks chaos:start on entry and chaos:exec on completion, both keyed by task id. */
export const count = {
  kind: 'task',
  name: 'chaos.count',
  async run(args, kwargs, ctx) {
    const ms = Number(args[0] ?? 0);
    if (ms > 0) {
      await redis().hincrby('chaos:start', ctx.taskId, 1);
      await sleep(ms, ctx.signal);
    }
    await redis().hincrby('chaos:exec', ctx.taskId, 1);
    return ctx.taskId;
  },
};
