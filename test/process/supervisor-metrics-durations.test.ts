// Task durations travel from a real Celery child (BackendStats.durations) through heartbeats to the supervisor's
// Prometheus histogram: the real binary on a real redis-server, tasks submitted with kombu's wire format.
import { Redis } from 'ioredis';
import t from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { FIXTURE_TASKS, startWorker } from '../e2e/celery-harness.js';
import { freePort, startRedis } from '../helpers/redis.js';

/** Parse `tbw_task_duration_seconds_*` samples of the Prometheus text into {name{labels} → value}. */
function durationSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('tbw_task_duration_seconds')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function until<T>(fn: () => Promise<T | null>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void t.test('tbw_task_duration_seconds counts every task a Celery child ran, in the right buckets', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const port = await freePort();
  const w = startWorker(redis.url, [
    '-c',
    '2',
    '--tasks',
    FIXTURE_TASKS,
    '--metrics-port',
    String(port),
    '--heartbeat-interval',
    '200ms',
  ]);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  const before = durationSamples(await metrics());
  t.notOk(
    [...before.values()].some((v) => v > 0),
    'no durations before any task ran',
  );

  // 6 quick tasks and 2 that sleep 0.3 s: the histogram must separate them.
  const quick = 6;
  const slow = 2;
  for (let i = 0; i < quick; i++) {
    const m = buildMessage({ task: 'add_numbers', args: [i, 1] });
    await r.lpush(m.key, m.raw);
  }
  for (let i = 0; i < slow; i++) {
    const m = buildMessage({ task: 'tbw_test.sleep', args: [0.3] });
    await r.lpush(m.key, m.raw);
  }

  const total = quick + slow;
  const s = await until(
    async () => {
      const m = durationSamples(await metrics());
      return m.get('tbw_task_duration_seconds_count{backend="celery"}') === total ? m : null;
    },
    30_000,
    `${total} durations on /metrics`,
  );

  const inf = s.get('tbw_task_duration_seconds_bucket{backend="celery",le="+Inf"}');
  t.equal(inf, total, '+Inf bucket holds every task');
  const upTo = (le: string): number => s.get(`tbw_task_duration_seconds_bucket{backend="celery",le="${le}"}`) ?? -1;
  t.equal(upTo('0.25'), quick, 'the quick tasks are under 0.25 s, the sleepers are not');
  t.equal(upTo('5'), total, 'every task is under 5 s');
  const sum = s.get('tbw_task_duration_seconds_sum{backend="celery"}') ?? 0;
  t.ok(sum >= slow * 0.3 && sum < slow * 0.3 + 5, `sum covers the sleeps: ${sum}`);
  // Cumulative buckets never decrease.
  const buckets = [...s.entries()].filter(([k]) => k.includes('_bucket')).map(([, v]) => v);
  t.ok(
    buckets.every((v, i) => i === 0 || v >= (buckets[i - 1] as number)),
    'buckets are cumulative',
  );

  t.equal(await w.stop(), 0, 'warm stop exits 0');
});
