// The backend conformance suite (test/conformance/cases.ts) against the real binary on a real redis-server,
// through the Celery BackendClient: every case, DAG workflows included, must pass.
import { join } from 'node:path';
import t from 'tap';
import { createClient } from '../../src/backends/celery/client.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { runConformance } from '../conformance/cases.js';
import { startRedis } from '../helpers/redis.js';
import { checkTaskLines } from '../helpers/task-lines.js';
import { ROOT, startWorker } from './celery-harness.js';

const TASKS = join(ROOT, 'test', 'fixtures', 'tasks', 'conformance.mjs');

void t.test('conformance suite on the celery backend', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const w = startWorker(redis.url, ['-c', '2', '--tasks', TASKS]);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');

  const env = { CELERY_BROKER_URL: redis.url, CELERY_RESULT_BACKEND: redis.url };
  const client = createClient(compileConfig({ env, host: currentHost(env) }));
  t.teardown(() => client.close());

  await runConformance(t, client, { backend: 'celery', resultTimeoutMs: 20_000 });

  // One line per task event, as a Celery worker logs them (received, succeeded, retry, failed).
  await t.test('task log lines', async (t) => checkTaskLines(t, w.lines));
  // The conformance fixtures raise on purpose; nothing may have crashed a child.
  t.notOk(
    w.lines.some((l) => String(l.msg).startsWith('child exited')),
    'no child exited',
  );
  // Then tasks that kill their own child: once (the message comes back and runs again, with the same attempt and
  // ctx.redelivered), and on every run (a poison message: WorkerLostError after --delivery-limit reruns).
  await runConformance(t, client, {
    backend: 'celery',
    resultTimeoutMs: 60_000,
    only: ['lost worker: rerun on another child', 'lost worker: delivery limit'],
    childKills: ['once', 'always'],
  });
  t.notOk(
    w.lines.some((l) => l.msg === 'pool giving up'),
    'the pool did not give up',
  );
  t.equal(await w.stop(), 0, 'warm shutdown exits 0');
});
