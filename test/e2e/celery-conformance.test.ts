// The backend conformance suite (test/conformance/cases.ts) against the real binary through the Celery
// BackendClient, on each transport: a real redis-server, and a real RabbitMQ node (results in Redis). Every case,
// DAG workflows included, must pass on both.
import { join } from 'node:path';
import t from 'tap';
import { createClient } from '../../src/backends/celery/client.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { runConformance } from '../conformance/cases.js';
import { checkTaskLines } from '../helpers/task-lines.js';
import { ROOT, startBrokers, startWorker, TRANSPORTS } from './celery-harness.js';

const TASKS = join(ROOT, 'test', 'fixtures', 'tasks', 'conformance.mjs');

for (const kind of TRANSPORTS) {
  void t.test(`conformance suite on the celery backend (${kind})`, async (t) => {
    const b = await startBrokers(kind);
    t.teardown(() => b.stop());
    const w = startWorker(b.broker, ['-c', '2', '--tasks', TASKS], b.env);
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');

    const client = createClient(compileConfig({ env: b.env, host: currentHost(b.env) }));
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
}
