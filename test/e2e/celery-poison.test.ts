// No message can stop or stall the pool (docs/reliability.md), on the real binary, a real redis-server and the
// real Python Celery client: poison tasks that kill their child (an async throw, the heap limit, process.exit(3),
// a blocked event loop) end as FAILURE WorkerLostError naming the reason after --delivery-limit reruns and go to
// the dead-letter list; hard time limits fail as TimeLimitExceeded; 30-day limits do not fire at once; absurd
// retries do not spin; results too deep to store, raw messages with a non-UTF-8 delivery tag: settled once.
// Valid tasks sent alongside all succeed, the pool never gives up, and nothing is left in `unacked`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, POISON_TASKS, runPython, runsIn, startWorker, type Outcome } from './celery-harness.js';

const LIMIT = 2;

/** A raw protocol-2 entry whose JSON is written by hand (nesting deeper than JSON.stringify can go). */
function rawDeep(task: string, args: string, embed: string, id: string): string {
  const body = Buffer.from(`[${args}, {}, ${embed}]`).toString('base64');
  return JSON.stringify({
    body,
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { lang: 'py', task, id, root_id: id, parent_id: null, group: null, retries: 0, eta: null },
    properties: {
      correlation_id: id,
      reply_to: 'r',
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: 'celery' },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: `deep-${id}`,
    },
  });
}

void t.test('poison messages end as failures; the pool runs on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-poison-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runs = (name: string): string => join(dir, name);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const w = startWorker(
    redis.url,
    ['-c', '2', '--child-concurrency', '4', '--heartbeat-timeout', '2s', '--child-max-heap', '64'],
    { TASK_MODULES: `${POISON_TASKS},${FIXTURE_TASKS}`, CELERY_RESULT_EXTENDED: 'true' },
  );
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');

  // Raw entries Python cannot write: a 100k-deep chain in the embed, a 20k-deep result (extended results store the
  // args too), a delivery tag that is not UTF-8.
  const deepArgs = (n: number): string => `${'['.repeat(n)}1${']'.repeat(n)}`;
  await r.lpush(
    'celery',
    rawDeep(
      'poison.echo',
      `[${JSON.stringify(runs('chain'))}]`,
      `{"callbacks": null, "errbacks": null, "chord": null, "chain": [{"task": "poison.ok", "args": ${deepArgs(100_000)}}]}`,
      'deep-chain',
    ),
  );
  await r.lpush(
    'celery',
    rawDeep('poison.echo', `[${JSON.stringify(runs('deep'))}, ${deepArgs(20_000)}]`, '{}', 'deep-result'),
  );
  const tagged = buildMessage({ task: 'poison.ok', args: [runs('bytes')], id: 'bytes-tag' });
  const envelope = Buffer.from(tagged.raw.replace(/"delivery_tag":"[^"]+"/, '"delivery_tag":"tag-@@"'));
  const at = envelope.indexOf('@@');
  envelope[at] = 0xff;
  envelope[at + 1] = 0xfe;
  await r.lpush(tagged.key, envelope);

  const poison = ['async_throw', 'heap', 'exit3', 'block'].map((p) => ({
    name: p,
    task: `poison.${p}`,
    args: [runs(p)],
  }));
  const stubborn = Array.from({ length: 10 }, (_, i) => ({
    name: `stubborn${i}`,
    task: 'poison.stubborn',
    args: [runs(`stubborn${i}`)],
    options: { time_limit: 0.5 },
  }));
  const month = 30 * 24 * 3600;
  const valid = Array.from({ length: 40 }, (_, i) => ({
    name: `valid${i}`,
    task: 'poison.ok',
    args: [runs(`valid${i}`)],
    options: { time_limit: month, soft_time_limit: month },
  }));
  const flaky = { name: 'flaky', task: 'poison.flaky', args: [runs('flaky')], options: { retries: -1_000_000_000 } };
  const spec = [...poison, ...stubborn, flaky, ...valid];
  const outcomes = (await runPython(
    'reliability.py',
    ['submit', redis.url, JSON.stringify(spec), '150'],
    200_000,
  )) as unknown as Outcome[];
  const by = new Map(outcomes.map((o) => [o.name, o]));
  t.equal(outcomes.length, spec.length, 'a result for every task, read by Python');

  const reasons: Record<string, RegExp> = {
    async_throw: /exited with code 1/,
    heap: /heap limit/,
    exit3: /exited with code 3/,
    block: /heartbeat timeout/,
  };
  for (const p of poison) {
    const o = by.get(p.name);
    t.equal(o?.state, 'FAILURE', `${p.task}: FAILURE`);
    t.equal(o?.type, 'WorkerLostError', `${p.task}: WorkerLostError`);
    t.match(o?.message, reasons[p.name] as RegExp, `${p.task}: the reason (${o?.message})`);
    t.match(o?.message, new RegExp(`${LIMIT + 1} times; the delivery limit is ${LIMIT}`));
    // At most 1 + the limit runs (a sibling that killed the child in the same tick may have cost it a run).
    const lines = runsIn(runs(p.name));
    t.ok(lines.length >= 1 && lines.length <= LIMIT + 1, `${p.task} ran ${lines.length} times`);
    t.same(
      lines.slice(1).map((l) => l.split(' ')[2]),
      lines.slice(1).map(() => 'true'),
      'ctx.redelivered on the reruns',
    );
  }
  for (const s of stubborn) t.equal(by.get(s.name)?.type, 'TimeLimitExceeded', `${s.name}: TimeLimitExceeded`);
  t.equal(by.get('flaky')?.state, 'FAILURE', 'retries -1e9: fails after its retries');
  // Attempts 1, 2, 3 (retries -1e9 counts as 0); a rerun after a lost worker keeps its attempt, so a few more
  // runs are possible when a poison task killed the child it shared, never a spin.
  const attempts = runsIn(runs('flaky')).map((l) => Number(l.split(' ')[3]));
  t.same([...new Set(attempts)], [1, 2, 3], `retries -1e9 counts as 0: attempts ${attempts}`);
  t.ok(attempts.length <= 3 * (LIMIT + 1), 'no spin');
  for (const v of valid) t.equal(by.get(v.name)?.value, 'ok', `${v.name}: SUCCESS (30-day limits did not fire)`);

  const raw = (await runPython('reliability.py', [
    'read',
    redis.url,
    JSON.stringify(['deep-chain', 'deep-result', 'bytes-tag']),
    '60',
  ])) as unknown as Outcome[];
  const [chain, deep, bytes] = raw;
  t.equal(chain?.state, 'FAILURE', `a 100k-deep chain: FAILURE naming why (${chain?.type}: ${chain?.message})`);
  t.match(chain?.message, /call stack/);
  t.equal(deep?.type, 'EncodeError', `a 20k-deep result: EncodeError (${deep?.message})`);
  t.equal(runsIn(runs('deep')).length, 1, 'the unstorable result ran once');
  t.equal(runsIn(runs('chain')).length, 1, 'the unpublishable chain ran once');
  t.equal(bytes?.value, 'ok', 'a non-UTF-8 delivery tag: SUCCESS');

  const dead = (await r.lrange('tbw.dead_letter', 0, -1)).map((e) => JSON.parse(e) as Record<string, unknown>);
  for (const p of poison) {
    const entry = dead.find((e) => e.task_id === by.get(p.name)?.id);
    t.match(entry?.reason, /^WorkerLostError: worker lost while running/, `${p.task} is in the dead-letter list`);
  }
  t.equal(await r.hlen('unacked'), 0, 'nothing left in unacked');
  t.equal(await r.zcard('unacked_index'), 0, 'nothing left in unacked_index');
  t.equal(
    w.lines.find((l) => l.msg === 'pool giving up'),
    undefined,
    'the pool never gave up',
  );
  t.equal(w.proc.exitCode, null, 'the pool is still running');
  t.notOk(
    w.lines.some((l) => JSON.stringify(l).includes('MaxListenersExceededWarning')),
    'no MaxListenersExceededWarning',
  );
  t.equal(await w.stop(), 0, 'and stops cleanly, exit 0');
});
