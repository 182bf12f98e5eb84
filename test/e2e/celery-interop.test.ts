// Python Celery (real client, the venv's: 5.7; TBW_TEST_PYTHON for another) against our worker binary at -c 2 on a
// real redis-server.
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, runPython, startWorker, checksOf } from './celery-harness.js';

void t.test('Python Celery client ↔ our celery worker', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const w = startWorker(redis.url, ['-c', '2', '-Q', 'celery,prio', '--tasks', FIXTURE_TASKS]);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');

  const checks = await runPython('celery_interop.py', [redis.url]);
  const { by, ok, raises } = checksOf(t, checks);

  ok('args', 5);
  ok('kwargs', 42);
  ok('unicode', 'Echo: héllo ☃');
  raises('type_error', 'TypeError', /missing 1 required positional argument/);
  raises('custom_error', 'KeyError', /missing/);
  raises('domain_error', 'PaymentDeclined', /no money/);
  raises('not_registered', 'NotRegistered', /no\.such\.task/);
  ok('protocol_v1', 42);
  const cd = by.get('countdown');
  t.ok(cd?.ok, 'countdown ran');
  const [v, secs] = (cd?.value ?? [null, 0]) as [number, number];
  t.equal(v, 2);
  t.ok(secs >= 1.4, `countdown held until due (${secs}s)`);
  raises('expired', 'TaskRevokedError', /expired/);
  ok('retries', 3);
  ok('retry_request', 'done on attempt 2');
  ok('priority', [0, 3, 5, 9]);
  raises('soft_time_limit', 'TimeLimitExceeded');
  t.ok((by.get('soft_time_limit')?.seconds ?? 99) < 5, 'soft limit aborted the task early');
  raises('revoke', 'TaskRevokedError', /revoked/);
  ok('chain', 'Result is 6');
  ok('group', [0, 2, 4, 6, 8]);
  ok('chord', 20);
  // Celery's result.get() re-raises the failed header part (the body's parent) first, as with a Python worker.
  raises('chord_failure', 'ValueError', /bad part/);
  const body = by.get('chord_body_failure')?.value as [string, string, string] | undefined;
  t.equal(body?.[0], 'FAILURE', 'chord body marked FAILURE');
  t.equal(body?.[1], 'ChordError', 'chord body fails with ChordError');
  t.match(body?.[2] ?? '', /Dependency .* raised ValueError/);
  raises('chain_failure', 'ValueError', /mid/);
  ok('link', 103);
  // wf(5): add(5,10)=15 → [add(15,1), add(15,2)] = [16,17] → sum = 33
  ok('workflow', 33);
  // DAG workflows as canvas: a sink fed by a node two layers up, and a failing node failing the workflow.
  ok('dag', "Echo: {'a': 5, 'c': 7}");
  raises('dag_failure', 'ValueError', /bad input 5/);

  // Unrunnable messages went to the dead-letter list with a reason, and the pool kept going (no child exits).
  t.notOk(
    w.lines.some((l) => String(l.msg).startsWith('child exited')),
    'no child exited',
  );
  t.ok(w.lines.some((l) => l.msg === 'message rejected to the dead-letter list' && l.type === 'NotRegistered'));
  t.equal(await w.stop(), 0, 'warm shutdown exits 0');
});
