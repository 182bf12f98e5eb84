// The supervised Hatchet pool (`task-backend-worker --backend hatchet -c 2`, built dist/) on a real hatchet-lite:
// the Python hatchet-sdk runs tasks and workflows by name; a child SIGKILLed mid-task has its run retried and
// completed by another child; a warm shutdown under load finishes every in-flight task.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
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

const execFileP = promisify(execFile);
const TASKS = taskArgs('test/e2e/hatchet-fixture-tasks.mjs');

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
    args: [...TASKS, '--metrics-port', String(metricsPort), '--heartbeat-interval', '200ms'],
  });
  pools.push(pool);

  await t.test('the token never appears in the pool output', async (t) => {
    t.notOk(JSON.stringify(pool.lines).includes(server.token), 'no line carries the token');
  });

  await t.test('python hatchet-sdk: built-ins, failures, retries, workflows by name', async (t) => {
    const script = join(REPO_ROOT, 'test/e2e/py/hatchet_client.py');
    const { stdout } = await execFileP(VENV_PYTHON, [script], {
      timeout: 90_000,
      env: { ...process.env, ...server.env },
    });
    const out = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
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
  });

  await t.test('every run is timed in tbw_task_duration_seconds', async (t) => {
    // The Python run above made well over 12 task runs (retries and workflow steps included).
    const timed = await timedAtLeast(metricsPort, 12);
    t.ok(timed >= 12, `${timed} runs timed`);
  });

  await t.test('a child SIGKILLed mid-task: the run is retried on another child and completes', async (t) => {
    const { id } = await client.submit('hatchet_marked_sleep', { args: [dir, 'kill', 3000] });
    await waitFor('the task to start', () => marks(dir, 'kill').length === 1);
    const victim = (marks(dir, 'kill')[0] as { pid: number }).pid;
    process.kill(victim, 'SIGKILL');
    const result = (await client.result(id, { timeoutMs: 90_000 })) as { pid: number; attempt: number };
    t.not(result.pid, victim, 'finished on another child');
    t.ok(marks(dir, 'kill').length >= 2, 'the run started again after the kill');
    await waitFor('the supervisor to replace the killed child', () => pool.readyPids().length >= 3, 60_000);
  });

  await t.test('warm shutdown under load finishes every in-flight task', async (t) => {
    const keys = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    const ids = await Promise.all(
      keys.map(async (k) => (await client.submit('hatchet_marked_sleep', { args: [dir, k, 1500] })).id),
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
