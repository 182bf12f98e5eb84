// Result-backend options against the real binary, read back by Python Celery (the venv's, 5.7): ignore_result
// leaves no meta (even with track_started), STARTED while running, result_extended fields, result expiry, results
// on another db.
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, runPython, startWorker, type PyCheck } from './celery-harness.js';

void t.test('result backend options seen from Python Celery', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const broker = redis.url; // db 0
  const backend = redis.url.replace(/\/0$/, '/2');
  const w = startWorker(broker, ['-c', '2', '--tasks', FIXTURE_TASKS], {
    CELERY_RESULT_BACKEND: backend,
    CELERY_TRACK_STARTED: 'true',
    CELERY_RESULT_EXTENDED: 'true',
    CELERY_RESULT_EXPIRES: '5s',
  });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');

  const checks = await runPython('results_checks.py', [broker, backend]);
  const by = new Map<string, PyCheck>(checks.map((c) => [c.check, c]));
  const value = (name: string): Record<string, unknown> => {
    const c = by.get(name);
    t.ok(c?.ok, `${name} ran ${JSON.stringify(c)}`);
    return (c?.value ?? {}) as Record<string, unknown>;
  };

  const ig = value('ignore_result');
  const metas = Object.values((ig.meta ?? {}) as Record<string, [number, number]>);
  t.equal(metas.length, 3, 'three ignore_result tasks sent');
  t.same(
    metas,
    [
      [0, 0],
      [0, 0],
      [0, 0],
    ],
    'ignore_result + track_started: no celery-task-meta key in either db',
  );
  // Celery 5.7 reads ignore_result from the request for errors too (task_store_errors_even_if_ignored off).
  t.equal(ig.failure_key, 0, 'a failing ignore_result task stores nothing, as Celery 5.7 does');
  t.equal(ig.failure_state, 'PENDING', 'so Python sees PENDING');
  t.equal(ig.after, 42, 'the worker kept storing normal results');

  const st = value('started');
  t.equal(st.raw_status, 'STARTED', 'STARTED stored while the task runs');
  t.match(st.info, { pid: Number, hostname: String }, 'STARTED meta carries pid and hostname, as Celery does');
  t.equal(st.final, 'SUCCESS', 'STARTED replaced by SUCCESS');
  t.match(st.value, { slept: 1.5 });

  const ex = value('extended');
  t.equal(ex.value, 42);
  t.equal(ex.name, 'add_numbers', 'AsyncResult.name');
  t.same(ex.args, [2], 'AsyncResult.args');
  t.same(ex.kwargs, { b: 40 }, 'AsyncResult.kwargs');
  t.type(ex.worker, 'string', 'AsyncResult.worker');
  t.ok(String(ex.worker).length > 0, 'worker named');
  t.equal(ex.retries, 0, 'AsyncResult.retries');
  t.equal(ex.queue, 'celery', 'AsyncResult.queue');
  t.not(ex.date_done, 'None', 'date_done set');
  t.equal(ex.flaky_retries, 2, 'retries counts the retries a task needed');
  t.same(ex.raw_keys, [
    'args',
    'children',
    'date_done',
    'kwargs',
    'name',
    'queue',
    'result',
    'retries',
    'status',
    'task_id',
    'traceback',
    'worker',
  ]);

  const exp = value('expires');
  t.ok(Number(exp.ttl) > 0 && Number(exp.ttl) <= 5, `CELERY_RESULT_EXPIRES=5s → TTL ≤ 5 s (got ${String(exp.ttl)})`);
  t.ok(Number(exp.pttl) > 0 && Number(exp.pttl) <= 5000, 'PTTL ≤ 5000 ms');

  const sep = value('separate_db');
  t.equal(sep.in_backend, 1, 'result stored in the result backend db (2)');
  t.same(sep.broker_meta_keys, [], 'no result meta in the broker db (0)');

  t.equal(await w.stop(), 0, 'warm shutdown exits 0');

  await t.test('CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED stores the failure, never the success', async (t) => {
    const w2 = startWorker(broker, ['-c', '1', '-Q', 'errs', '-n', 'errs@localhost', '--tasks', FIXTURE_TASKS], {
      CELERY_RESULT_BACKEND: backend,
      CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED: 'true',
    });
    t.teardown(async () => void (await w2.stop('SIGKILL')));
    await w2.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'second pool running');
    const [c] = await runPython('results_checks.py', [broker, backend, 'store_errors']);
    t.ok(c?.ok, `the check ran ${JSON.stringify(c)}`);
    const v = (c?.value ?? {}) as Record<string, unknown>;
    t.equal(v.failure_state, 'FAILURE', 'the failing ignore_result task recorded FAILURE');
    t.equal(v.success_key, 0, 'a succeeding ignore_result task still stores nothing');
    t.equal(v.after, 42);
  });
});
