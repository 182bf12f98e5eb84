// Remote control that changes how tasks run, against the real binary with real Redis and Python Celery: a
// `rate_limit('add_numbers', '2/m')` lets one of three calls run at once and holds the other two across the whole
// pool (Celery's token bucket, one per task name per node) until a token arrives or the limit is lifted;
// `time_limit` applies to the next run of that task; `autoscale` on a pool started without --autoscale answers Celery's error and changes nothing.
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { runPython, startWorker, type PyCheck } from './celery-harness.js';

void t.test('rate_limit, time_limit and autoscale replies are honest', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = `celery@limits-${process.pid}`;
  const w = startWorker(redis.url, ['-c', '2', '-n', node, ...(process.env.TBW_DUMP_LINES ? ['-l', 'debug'] : [])]);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'celery control node ready', 20_000, 'control node');
  const checks = await runPython('control_limits.py', [redis.url, node], 90_000);
  if (process.env.TBW_DUMP_LINES) console.error(w.lines.map((l) => JSON.stringify(l)).join('\n'));
  const by = new Map<string, PyCheck>(checks.map((c) => [c.check, c]));

  t.same(
    by.get('autoscale')?.value,
    [{ error: "ValueError('Autoscale not enabled')" }],
    `autoscale on a fixed pool: Celery's error ${JSON.stringify(by.get('autoscale'))}`,
  );
  t.equal(w.lines.filter((l) => l.msg === 'pool resized').length, 0, 'and the pool was not resized');

  const tl = by.get('time_limit')?.value as { reply: unknown; raised: string | null; seconds: number } | undefined;
  t.same(tl?.reply, [{ ok: 'time limits set successfully' }], JSON.stringify(by.get('time_limit')));
  t.equal(tl?.raised, 'TimeLimitExceeded', 'the next run of that task obeys the new soft limit');
  t.ok((tl?.seconds ?? 99) < 5, `ended at its 0.5 s soft limit, not after 20 s (${tl?.seconds} s)`);

  const rl = by.get('rate_limit')?.value as
    | {
        set: unknown;
        registered: string[];
        results: number[];
        first_s: number;
        waiting_at_3s: boolean[];
        second_s: number;
        third_ready_when_second_done: boolean;
        lift: unknown;
        third_s: number;
      }
    | undefined;
  t.same(rl?.set, [{ ok: 'new rate limit set successfully' }], JSON.stringify(by.get('rate_limit')));
  t.ok(rl?.registered.includes('add_numbers [rate_limit=2/m]'), 'inspect registered rate_limit shows it');
  t.same(rl?.results, [1, 2, 3], 'every call completes with its result');
  t.ok((rl?.first_s ?? 99) < 5, `one of the three runs at once (${rl?.first_s} s)`);
  t.same(rl?.waiting_at_3s, [false, false], 'the other two wait while the bucket is empty');
  t.ok(
    (rl?.second_s ?? 0) >= 25 && (rl?.second_s ?? 99) < 40,
    `the next runs when the next token arrives, 30 s after the first (${rl?.second_s} s)`,
  );
  t.equal(rl?.third_ready_when_second_done, false, 'the last still waits for its own token then');
  t.same(rl?.lift, [{ ok: 'rate limit disabled successfully' }]);
  t.ok((rl?.third_s ?? 99) - (rl?.second_s ?? 0) < 5, 'lifting the limit lets it run at once');
});
