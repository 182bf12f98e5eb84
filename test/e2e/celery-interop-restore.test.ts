// kombu layout compatibility, proven both ways on one real redis-server: messages a SIGKILLed Python Celery
// worker held (acks late) are restored by OUR worker after the visibility timeout and run by it, and messages our
// SIGKILLed pool held are restored by a Python Celery worker and run by it. Visibility timeout 2 s on both sides.
import { Redis } from 'ioredis';
import t from 'tap';
import { createClient } from '../../src/backends/celery/client.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, startWorker } from './celery-harness.js';
import { startPythonWorker, type PyWorker } from './py-worker.js';

const VT_S = 2;
const N = 2;

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A Python Celery prefork worker (-c 2, acks late, visibility timeout VT_S) on `url`. */
const startPython = (url: string): Promise<PyWorker> =>
  startPythonWorker('celery_restore_app', ['-c', '2', '-P', 'prefork', '-n', 'py-restore@%h', '-l', 'INFO'], {
    TBW_REDIS_URL: url,
    TBW_VISIBILITY_TIMEOUT: String(VT_S),
  });

void t.test('Python and our worker restore each other’s held messages (visibility timeout)', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const env = { CELERY_BROKER_URL: redis.url, CELERY_RESULT_BACKEND: redis.url };
  const client = createClient(compileConfig({ env, host: currentHost(env) }));
  t.teardown(() => client.close());
  /** Every held message is older than the visibility timeout (nobody refreshes a dead worker's holds). */
  const allExpired = async (): Promise<boolean> => {
    const old = await r.zcount('unacked_index', '-inf', Date.now() / 1000 - VT_S - 0.2);
    return old === (await r.zcard('unacked_index')) && old > 0;
  };

  await t.test('a SIGKILLed Python worker’s messages are restored and run by ours', async (t) => {
    const py = await startPython(redis.url);
    t.teardown(() => py.killGroup());
    const ids = await Promise.all(
      Array.from({ length: N }, () => client.submit('tbw_test.block', { args: ['python-blocks'] }).then((s) => s.id)),
    );
    await until('the Python worker to hold every message', 15_000, async () => (await r.hlen('unacked')) === N);
    t.equal(await r.llen('celery'), 0, 'nothing left in the queue: Python holds all');
    await py.killGroup();
    t.equal(await r.hlen('unacked'), N, 'a killed Python worker leaves its holds in kombu’s unacked hash');

    const w = startWorker(
      redis.url,
      ['-c', '1', '--tasks', FIXTURE_TASKS],
      { CELERY_VISIBILITY_TIMEOUT: String(VT_S) },
      { detached: true },
    );
    t.teardown(() => w.killGroup());
    const started = Date.now();
    const results = (await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 20_000 })))) as { by: string }[];
    t.same(
      results.map((x) => x.by),
      Array(N).fill('node'),
      'our worker ran every message Python held',
    );
    t.ok(Date.now() - started < 15_000, `restored and run within ${Date.now() - started} ms`);
    await until('the held entries to be acked', 5_000, async () => (await r.hlen('unacked')) === 0);
    await w.killGroup();
  });

  await t.test('our SIGKILLed pool’s messages are restored and run by a Python worker', async (t) => {
    const w = startWorker(
      redis.url,
      ['-c', '1', '--tasks', FIXTURE_TASKS],
      { CELERY_VISIBILITY_TIMEOUT: String(VT_S) },
      { detached: true },
    );
    t.teardown(() => w.killGroup());
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');
    const ids = await Promise.all(
      Array.from({ length: N }, () => client.submit('tbw_test.block', { args: ['node-blocks'] }).then((s) => s.id)),
    );
    await until('our worker to hold every message', 15_000, async () => (await r.hlen('unacked')) === N);
    await w.killGroup();
    t.equal(await r.hlen('unacked'), N, 'our killed pool leaves its holds in kombu’s unacked hash');
    // A Python worker restores expired holds when it starts polling (kombu's on_poll_init → restore_visible).
    await until('the holds to pass the visibility timeout', 10_000, allExpired);

    const py = await startPython(redis.url);
    t.teardown(() => py.killGroup());
    const results = (await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 20_000 })))) as { by: string }[];
    t.same(
      results.map((x) => x.by),
      Array(N).fill('python'),
      'the Python worker ran every message we held',
    );
    await until('the held entries to be acked', 5_000, async () => (await r.hlen('unacked')) === 0);
    await py.killGroup();
  });
});
