// The supervised Temporal pool (`task-backend-worker --backend temporal -c 2`, built dist/) on a real dev server:
// the Python temporalio client runs built-ins, typed failures, time limits, retries and registry workflows; a task
// with a 4 s limit and no retries whose child is SIGKILLed completes on the other child; a cancellation reaches
// the running task within about a second; lost workers follow the delivery limit (conformance cases); a warm
// shutdown under load finishes in-flight work.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runConformance } from '../conformance/cases.js';
import { cancelLatencies, killAndAwaitRerun, median } from '../helpers/lost-worker.js';
import { marks, taskArgs, timedAtLeast } from '../helpers/pool.js';
import { checkTaskLines } from '../helpers/task-lines.js';
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
const TASKS = taskArgs('test/e2e/pool-fixture-tasks.mjs');

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
    // Children are killed on purpose below: the crash-loop guard must not stop the pool.
    args: [...TASKS, '--metrics-port', String(metricsPort), '--heartbeat-interval', '200ms', '--crash-loop-max', '0'],
  });
  pools.push(pool);
  const script = join(REPO_ROOT, 'test/e2e/py/temporal_client.py');
  const python = async (args: string[], timeout = 120_000): Promise<Record<string, unknown>> => {
    const { stdout } = await execFileP(VENV_PYTHON, [script, server.address, QUEUE, ...args], { timeout });
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  await t.test('python temporalio client: built-ins, failures, retries, workflows', async (t) => {
    const out = (await python([], 60_000)) as Record<string, Record<string, unknown>>;
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
    t.match(out.time_limit, {
      ok: false,
      error_class: 'ApplicationError',
      type: 'TimeLimitExceeded',
      message: 'task conformance_timeout exceeded its time limit of 500 ms',
    });
  });

  await t.test('one log line per task event (received, succeeded, retry, failed)', async (t) =>
    checkTaskLines(t, pool.lines),
  );

  await t.test('every activity attempt is timed in tbw_task_duration_seconds', async (t) => {
    // The Python run above made well over 12 activity attempts (retries and workflow steps included).
    const timed = await timedAtLeast(metricsPort, 12);
    t.ok(timed >= 12, `${timed} runs timed`);
  });

  await t.test("a 4 s limit and retries 0: a SIGKILLed child's task completes on the other child", async (t) => {
    const running = python(['run', 'marked_sleep', JSON.stringify([dir, 'kill', 2500])]);
    // Start-to-close (limit + 1 s) notices the dead worker; the workflow task then leaves the dead child's sticky
    // queue (a few seconds); then the 2.5 s rerun.
    await killAndAwaitRerun(t, { backend: 'temporal', dir, key: 'kill', running, boundMs: 15_000 });
    await waitFor('the supervisor to replace the killed child', () => pool.readyPids().length >= 3, 30_000);
  });

  await t.test('a cancellation reaches the running task within about a second', async (t) => {
    const out = (await python(['cancel', dir, '5'])) as {
      samples: { key: string; cancel_at: number; outcome: string }[];
    };
    // The workflow is cancelled at once; its activity learns it with its next heartbeat.
    const latencies = await cancelLatencies(dir, out.samples);
    t.same(
      out.samples.map((s) => s.outcome),
      out.samples.map(() => 'CancelledError'),
      'every workflow ended cancelled',
    );
    t.comment(`temporal: cancel → ctx.signal aborted in ${latencies.join(', ')} ms (median ${median(latencies)})`);
    t.ok(Math.max(...latencies) < 2500, `every cancellation arrived within 2.5 s (max ${Math.max(...latencies)} ms)`);
  });

  await t.test('lost workers: conformance cases, and WorkerLostError as the Python caller sees it', async (t) => {
    const opts = { backend: 'temporal' as const, queue: QUEUE, resultTimeoutMs: 120_000 };
    await runConformance(t, client, { ...opts, only: ['lost worker: rerun on another child'], childKills: ['once'] });
    // Two poison tasks at once: each kill may take the other's run with it, which only counts against both.
    const [py] = await Promise.all([
      python(['run', 'conformance_lost_always', '[]']),
      runConformance(t, client, { ...opts, only: ['lost worker: delivery limit'], childKills: ['always'] }),
    ]);
    t.match(py, {
      ok: false,
      error_class: 'ApplicationError',
      type: 'WorkerLostError',
      message:
        /^worker lost while running conformance_lost_always \(no result within 5 s\), 3 times; the delivery limit is 2$/,
    });
    t.equal(await Promise.race([pool.exited, Promise.resolve('running')]), 'running', 'the pool kept running');
  });

  await t.test('warm shutdown under load finishes every in-flight activity', async (t) => {
    const keys = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    const ids = await Promise.all(
      keys.map(async (k) => (await client.submit('marked_sleep', { args: [dir, k, 1200] })).id),
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
