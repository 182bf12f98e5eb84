// The supervised Hatchet pool (`task-backend-worker --backend hatchet -c 2`, built dist/) on a real hatchet-lite:
// the Python hatchet-sdk runs tasks and workflows by name; a task with a 4 s limit and no retries whose child is
// SIGKILLed is reassigned and completes on another child; a cancellation reaches the running task; lost workers
// follow the delivery limit (conformance cases); a warm shutdown under load finishes every in-flight task.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runConformance } from '../conformance/cases.js';
import { cancelLatencies, killAndAwaitRerun, median } from '../helpers/lost-worker.js';
import { marks, taskArgs, timedAtLeast } from '../helpers/pool.js';
import { freePort } from '../helpers/redis.js';
import { createClient } from '../../src/backends/hatchet/client.js';
import {
  REPO_ROOT,
  VENV_PYTHON,
  hatchetWorkerConfig,
  startHatchet,
  startPool,
  waitFor,
  type Pool,
} from '../helpers/hatchet.js';
import { checkTaskLines } from '../helpers/task-lines.js';

const execFileP = promisify(execFile);
const TASKS = taskArgs('test/e2e/pool-fixture-tasks.mjs');
/** The engine reassigns the runs of a worker silent for 30 s; one rerun keeps the poison case near a minute. */
const DELIVERY_LIMIT = 1;

void t.test('hatchet pool under the supervisor', async (t) => {
  const server = await startHatchet();
  t.teardown(() => server.stop());
  const dir = mkdtempSync(join(tmpdir(), 'tbw-hatchet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = createClient(hatchetWorkerConfig(server));
  t.teardown(() => client.close());
  const pools: Pool[] = [];
  t.teardown(() => pools.forEach((p) => p.kill()));
  const metricsPort = await freePort();
  const pool = await startPool(server, {
    args: [
      ...TASKS,
      ...['--metrics-port', String(metricsPort), '--heartbeat-interval', '200ms'],
      // Children are killed on purpose below: the crash-loop guard must not stop the pool.
      ...['--crash-loop-max', '0', '--delivery-limit', String(DELIVERY_LIMIT)],
    ],
  });
  pools.push(pool);
  const script = join(REPO_ROOT, 'test/e2e/py/hatchet_client.py');
  const python = async (args: string[], timeout = 180_000): Promise<Record<string, unknown>> => {
    const { stdout } = await execFileP(VENV_PYTHON, [script, ...args], {
      timeout,
      env: { ...process.env, ...server.env },
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  await t.test('the token never appears in the pool output', async (t) => {
    t.notOk(JSON.stringify(pool.lines).includes(server.token), 'no line carries the token');
  });

  await t.test('python hatchet-sdk: built-ins, failures, retries, workflows by name', async (t) => {
    const out = (await python([], 90_000)) as Record<string, Record<string, unknown>>;
    t.same(out.add_positional, { ok: true, value: 5 });
    t.same(out.add_kwargs, { ok: true, value: 5 });
    t.same(out.add_mixed, { ok: true, value: 5.5 });
    t.same(out.echo, { ok: true, value: 'Echo: hi' });
    t.match(out.process_data, { ok: true, value: { count: 2 } });
    t.same(out.typed_error, { ok: false, type: 'ValueError', message: 'bad value: x' });
    t.same(out.type_error, {
      ok: false,
      type: 'TypeError',
      message: "unsupported operand type(s) for +: 'int' and 'str'",
    });
    t.same(out.flaky, { ok: true, value: { attempt: 3 } }, 'retried per the task policy until attempt 3');
    t.same(out.retries_exhausted, { ok: false, type: 'RuntimeError', message: 'always fails (attempt 2)' });
    t.same(out.sequential, { ok: true, value: 'Result is 5' });
    t.same(out.parallel, { ok: true, value: [5, 'Result is 4', 'Echo: 4'] });
    t.same(out.dag, { ok: true, value: '15 | Result is 5' });
    t.same(out.time_limit, {
      ok: false,
      type: 'TimeLimitExceeded',
      message: 'task conformance_timeout exceeded its time limit of 500 ms',
    });
  });

  await t.test('one log line per task event (received, succeeded, retry, failed)', async (t) =>
    checkTaskLines(t, pool.lines),
  );

  await t.test('every run is timed in tbw_task_duration_seconds', async (t) => {
    // The Python run above made well over 12 task runs (retries and workflow steps included).
    const timed = await timedAtLeast(metricsPort, 12);
    t.ok(timed >= 12, `${timed} runs timed`);
  });

  await t.test("a 4 s limit and retries 0: a SIGKILLed child's task is reassigned and completes", async (t) => {
    const running = python(['run', 'marked_sleep', JSON.stringify([dir, 'kill', 2500])]);
    // The engine reassigns runs of a worker without a heartbeat for 30 s (the SDK beats every 4 s), checked every
    // second or so; then the 2.5 s rerun.
    await killAndAwaitRerun(t, { backend: 'hatchet', dir, key: 'kill', running, boundMs: 50_000, startMs: 60_000 });
    await waitFor('the supervisor to replace the killed child', () => pool.readyPids().length >= 3, 60_000);
  });

  await t.test('a cancellation reaches the running task', async (t) => {
    const out = (await python(['cancel', dir, '5'])) as { samples: { key: string; cancel_at: number }[] };
    const latencies = await cancelLatencies(dir, out.samples);
    t.comment(`hatchet: cancel → ctx.signal aborted in ${latencies.join(', ')} ms (median ${median(latencies)})`);
    t.ok(Math.max(...latencies) < 5000, `every cancellation arrived within 5 s (max ${Math.max(...latencies)} ms)`);
  });

  await t.test('lost workers: conformance cases, and WorkerLostError as the Python caller sees it', async (t) => {
    const opts = { backend: 'hatchet' as const, resultTimeoutMs: 180_000 };
    // Two poison tasks at once: each kill may take the other's run with it, which only counts against both.
    const [py] = await Promise.all([
      python(['run', 'conformance_lost_always', '[]']),
      runConformance(t, client, { ...opts, only: ['lost worker: delivery limit'], childKills: ['always'] }),
    ]);
    t.match(py, {
      ok: false,
      type: 'WorkerLostError',
      message: new RegExp(
        `^worker lost while running conformance_lost_always \\(.*\\), .*; the delivery limit is ${DELIVERY_LIMIT}$`,
      ),
    });
    await runConformance(t, client, { ...opts, only: ['lost worker: rerun on another child'], childKills: ['once'] });
    t.equal(await Promise.race([pool.exited, Promise.resolve('running')]), 'running', 'the pool kept running');
  });

  await t.test('warm shutdown under load finishes every in-flight task', async (t) => {
    const keys = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    const ids = await Promise.all(
      keys.map(async (k) => (await client.submit('marked_sleep', { args: [dir, k, 1500] })).id),
    );
    await waitFor('all six tasks in flight', () => keys.every((k) => marks(dir, k).length === 1));
    process.kill(pool.pid, 'SIGTERM');
    t.equal(await pool.exited, 0, 'the supervisor exits 0 after a warm shutdown');
    const results = (await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 30_000 })))) as {
      attempt: number;
    }[];
    t.same(
      results.map((r) => r.attempt),
      [1, 1, 1, 1, 1, 1],
      'every task completed on its first attempt',
    );
    t.ok(
      keys.every((k) => marks(dir, k).length === 1),
      'none ran twice',
    );
  });
});
