// The supervised Temporal pool (`task-backend-worker --backend temporal -c 2`, built dist/) on a real dev server:
// the Python temporalio client runs built-ins, typed failures, retries and registry workflows; a child SIGKILLed
// mid-activity has its attempt retried on the other child; a warm shutdown under load finishes in-flight work.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { marks, taskArgs, timedAtLeast } from '../helpers/pool.js';
import { createClient } from '../../src/backends/temporal/client.js';
import {
  REPO_ROOT,
  VENV_PYTHON,
  freePort,
  startPool,
  startTemporalDevServer,
  temporalTestConfig,
  waitFor,
  type Pool,
} from '../helpers/temporal.js';

const execFileP = promisify(execFile);
const QUEUE = 'tbw-pool';
const TASKS = taskArgs('test/e2e/temporal-fixture-tasks.mjs');

void t.test('temporal pool under the supervisor', async (t) => {
  const server = await startTemporalDevServer();
  t.teardown(() => server.stop());
  const dir = mkdtempSync(join(tmpdir(), 'tbw-temporal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = createClient(temporalTestConfig(server.address, { queues: [QUEUE] }));
  t.teardown(() => client.close());
  const pools: Pool[] = [];
  t.teardown(() => pools.forEach((p) => p.kill()));
  const metricsPort = await freePort();
  const pool = await startPool(server.address, {
    taskQueue: QUEUE,
    args: [...TASKS, '--metrics-port', String(metricsPort), '--heartbeat-interval', '200ms'],
  });
  pools.push(pool);

  await t.test('python temporalio client: built-ins, failures, retries, workflows', async (t) => {
    const script = join(REPO_ROOT, 'test/e2e/py/temporal_client.py');
    const { stdout } = await execFileP(VENV_PYTHON, [script, server.address, QUEUE], { timeout: 60_000 });
    const out = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    t.same(out.add_positional, { ok: true, value: 5 });
    t.same(out.add_kwargs, { ok: true, value: 5 });
    t.same(out.add_mixed, { ok: true, value: 5.5 });
    t.same(out.echo, { ok: true, value: 'Echo: hi' });
    t.match(out.process_data, { ok: true, value: { count: 2 } });
    t.match(out.typed_error, {
      ok: false,
      error_class: 'ApplicationError',
      type: 'ValueError',
      message: 'bad value: x',
    });
    t.match(out.type_error, { ok: false, error_class: 'ApplicationError', type: 'TypeError', non_retryable: true });
    t.same(out.flaky, { ok: true, value: { attempt: 3 } }, 'retried per the task policy until attempt 3');
    t.match(out.retries_exhausted, { ok: false, type: 'RuntimeError', message: 'always fails (attempt 2)' });
    t.same(out.sequential, { ok: true, value: 'Result is 5' });
    t.same(out.parallel, { ok: true, value: [5, 'Result is 4', 'Echo: 4'] });
    t.same(out.dag, { ok: true, value: '15 | Result is 5' });
  });

  await t.test('every activity attempt is timed in tbw_task_duration_seconds', async (t) => {
    // The Python run above made well over 12 activity attempts (retries and workflow steps included).
    const timed = await timedAtLeast(metricsPort, 12);
    t.ok(timed >= 12, `${timed} runs timed`);
  });

  await t.test(
    'a child SIGKILLed mid-activity: the attempt is retried elsewhere and the workflow completes',
    async (t) => {
      const { id } = await client.submit('temporal_marked_sleep', { args: [dir, 'kill', 1500] });
      await waitFor('the activity to start', () => marks(dir, 'kill').length === 1);
      const victim = (marks(dir, 'kill')[0] as { pid: number }).pid;
      process.kill(victim, 'SIGKILL');
      const result = (await client.result(id, { timeoutMs: 30_000 })) as { pid: number; attempt: number };
      t.not(result.pid, victim, 'finished on another child');
      t.equal(result.attempt, 2, 'the second attempt finished it');
      await waitFor('the supervisor to replace the killed child', () => pool.readyPids().length >= 3, 30_000);
    },
  );

  await t.test('warm shutdown under load finishes every in-flight activity', async (t) => {
    const keys = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    const ids = await Promise.all(
      keys.map(async (k) => (await client.submit('temporal_marked_sleep', { args: [dir, k, 1200] })).id),
    );
    await waitFor('all six activities in flight', () => keys.every((k) => marks(dir, k).length === 1));
    process.kill(pool.pid, 'SIGTERM');
    t.equal(await pool.exited, 0, 'the supervisor exits 0 after a warm shutdown');
    // The workflow tasks after the activities need a worker: a fresh pool finishes them.
    const next = await startPool(server.address, { taskQueue: QUEUE, args: TASKS, concurrency: 1 });
    pools.push(next);
    const results = (await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 30_000 })))) as {
      attempt: number;
    }[];
    t.same(
      results.map((r) => r.attempt),
      [1, 1, 1, 1, 1, 1],
      'every activity completed on its first attempt',
    );
    t.ok(
      keys.every((k) => marks(dir, k).length === 1),
      'none ran twice',
    );
    next.kill();
  });
});
