// Chaos cases about the world around the pool: Redis restarted mid-run, fuzzed messages, workers that cannot
// boot, and a steady-load soak of the supervisor's memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { EXIT } from '../../src/exit-codes.js';
import { startRedis } from '../helpers/redis.js';
import { startWorker } from '../e2e/celery-harness.js';
import { nothingHeld, poolEnv } from './cases-pool.js';
import type { Redis } from 'ioredis';
import {
  CHAOS_TASKS,
  enqueue,
  execCounts,
  median,
  pySubmit,
  rssKiB,
  statuses,
  until,
  type ExecCounts,
} from './harness.js';

/** Every task of `ids` executed and stored SUCCESS, none lost; returns the execution counts. */
async function allDone(t: Test, r: Redis, ids: string[]): Promise<ExecCounts> {
  await until(async () => (await r.hlen('chaos:exec')) >= ids.length, 120_000, 'every task executed', 100);
  const c = await execCounts(r, ids);
  t.equal(c.missing.length, 0, 'no task lost');
  const st = await until(
    async () => {
      const m = await statuses(r, ids);
      return m.size === ids.length ? m : null;
    },
    30_000,
    'every result stored',
  );
  t.equal([...st.values()].filter((m) => m.status === 'SUCCESS').length, ids.length, 'every result is SUCCESS');
  return c;
}

/** Redis SIGKILLed and restarted mid-run (AOF on, like a production broker): nothing lost, resumes within 5 s. */
export async function redisRestartCase(t: Test, o: { tasks: number; sleepMs: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-chaos-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { redis, r, w } = await poolEnv(
    t,
    ['-c', '2', '--child-concurrency', '16'],
    { CELERY_VISIBILITY_TIMEOUT: '10' },
    ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
  );
  const ids = await enqueue(r, o.tasks, 'chaos.count', () => [o.sleepMs]);
  await until(async () => (await r.hlen('chaos:exec')) >= o.tasks / 4, 60_000, 'a quarter done');
  await redis.kill();
  await w.waitFor((l) => l.msg === 'connection lost, reconnecting', 10_000, 'connection lost line');
  await redis.start();
  const back = Date.now();
  const queuedAtRestart = await r.llen('celery');
  const doneAtRestart = await r.hlen('chaos:exec');
  t.ok(queuedAtRestart > 0, `${queuedAtRestart} tasks still queued when Redis came back`);
  // Resumed = the pool took new messages off the queue AND finished more tasks.
  const resumedMs = await until(
    async () => (await r.llen('celery')) < queuedAtRestart && (await r.hlen('chaos:exec')) > doneAtRestart,
    15_000,
    'processing resumed',
    10,
  ).then(() => Date.now() - back);
  t.ok(resumedMs <= 5000, `processing resumed ${resumedMs} ms after Redis came back`);
  const c = await allDone(t, r, ids);
  t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, 0, 'no child exited');
  t.comment(`redis-restart: resumed in ${resumedMs} ms, ${c.duplicates} duplicate executions`);
}

/**
 * RabbitMQ stopped (rabbitmqctl stop: durable queues and persistent messages survive) and started again mid-run:
 * nothing lost, the pool consumes again within 5 s of the node being back, nothing left unacknowledged.
 */
export async function rabbitRestartCase(t: Test, o: { tasks: number; sleepMs: number }): Promise<void> {
  const e = await poolEnv(t, ['-c', '2', '--child-concurrency', '16'], {}, [], 'amqp');
  const { r, w } = e;
  const rabbit = e.rabbit!;
  const ids = await pySubmit(e.broker, o.tasks, o.sleepMs, e.redis.url);
  await until(async () => (await r.hlen('chaos:exec')) >= o.tasks / 4, 60_000, 'a quarter done');
  await rabbit.kill();
  await w.waitFor(
    (l) => l.msg === 'connection lost, reconnecting' && l.role === 'broker',
    15_000,
    'connection lost line',
  );
  // Every start counts (a redelivered task starts again): new starts after the restart = consuming again.
  const starts = async (): Promise<number> => (await r.hvals('chaos:start')).reduce((n, v) => n + Number(v), 0);
  // Let what was running when the node went down finish (or not) before taking the mark.
  await new Promise((res) => setTimeout(res, 500));
  const doneAtRestart = await r.hlen('chaos:exec');
  t.ok(doneAtRestart < o.tasks, `${o.tasks - doneAtRestart} tasks not done when RabbitMQ went down`);
  await rabbit.start();
  const back = Date.now();
  const startsAtRestart = await starts();
  const resumedMs = await until(async () => (await starts()) > startsAtRestart, 15_000, 'consuming again', 10).then(
    () => Date.now() - back,
  );
  t.ok(resumedMs <= 5000, `consuming again ${resumedMs} ms after RabbitMQ was back`);
  const c = await allDone(t, r, ids);
  await until(() => nothingHeld(e), 15_000, 'nothing left unacknowledged');
  t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, 0, 'no child exited');
  const failedLines = w.lines.filter(
    (l) => l.msg === 'connection failed, retrying' || l.msg === 'connection lost, reconnecting',
  );
  t.ok(
    failedLines.every(
      (l) =>
        typeof l.url === 'string' &&
        !String(l.url).includes(':guest@') &&
        typeof l.code === 'string' &&
        typeof l.attempt === 'number' &&
        'retryInMs' in l,
    ),
    'one line per attempt: redacted URL, code, attempt, next delay',
  );
  t.comment(`rabbitmq-restart: resumed in ${resumedMs} ms, ${c.duplicates} duplicate executions`);
}

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

type Kind = 'dead' | 'reject' | 'fail';
interface Fuzzed {
  kind: Kind;
  what: string;
  raw: string | Buffer;
  id: string | null;
}

/** One malformed message of category `i % 11`; `dead` has no readable id, `reject` has one, `fail` runs and fails. */
function fuzzed(i: number, huge: boolean): Fuzzed {
  const good = JSON.parse(buildMessage({ task: 'add_numbers', args: [1, 1] }).raw) as Record<
    string,
    Record<string, unknown>
  >;
  const id = `fuzz-${i}-${Math.random().toString(36).slice(2)}`;
  const variant = (f: (e: Record<string, Record<string, unknown>>) => void): string => {
    const e = structuredClone(good);
    e.headers!.id = id;
    e.headers!.root_id = id;
    e.properties!.delivery_tag = `fuzz-tag-${id}`;
    f(e);
    return JSON.stringify(e);
  };
  if (huge)
    return {
      kind: 'reject',
      what: 'huge payload',
      id,
      raw: variant((e) => (e.body = b64([['x'.repeat(1_100_000)], {}, {}]) as never)),
    };
  switch (i % 11) {
    case 0:
      return { kind: 'dead', what: 'bad JSON', id: null, raw: `{"headers": {"id": "${id}", ` };
    case 1:
      return { kind: 'dead', what: 'not an object', id: null, raw: i % 2 ? '[1, 2, 3]' : '42' };
    case 2:
      return {
        kind: 'dead',
        what: 'bad encoding (invalid UTF-8 bytes)',
        id: null,
        raw: Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x7b, i % 256]),
      };
    case 3:
      return { kind: 'reject', what: 'unknown task', id, raw: variant((e) => (e.headers!.task = `no.such.task.${i}`)) };
    case 4:
      return {
        kind: 'reject',
        what: 'wrong protocol: body not base64',
        id,
        raw: variant((e) => (e.body = '%%%not base64%%%' as never)),
      };
    case 5:
      return {
        kind: 'reject',
        what: 'wrong protocol: body not [args, kwargs, embed]',
        id,
        // A dict WITH `args` under a task header is Celery's hybrid form, which runs; one without is not a body.
        raw: variant((e) => (e.body = b64({ kwargs: { a: 1 } }) as never)),
      };
    case 6:
      return {
        kind: 'reject',
        what: 'unsupported content type',
        id,
        raw: variant((e) => (e['content-type'] = 'application/x-python-serialize' as never)),
      };
    case 7:
      return { kind: 'reject', what: 'body is not JSON', id, raw: variant((e) => (e.body = b64('{nope') as never)) };
    case 8:
      return {
        kind: 'fail',
        what: 'wrong argument count',
        id,
        raw: variant((e) => (e.body = b64([[1], {}, {}]) as never)),
      };
    case 9:
      return {
        kind: 'fail',
        what: 'wrong argument types',
        id,
        raw: variant((e) => (e.body = b64([['a', { b: 1 }], {}, {}]) as never)),
      };
    default:
      return {
        kind: 'fail',
        what: 'unexpected keyword',
        id,
        raw: variant((e) => (e.body = b64([[1, 2], { nope: 3 }, {}]) as never)),
      };
  }
}

/** Fuzzed messages mixed with valid tasks: no crash, each bad one a FAILURE or dead-letter entry, valid ones done. */
export async function fuzzCase(t: Test, o: { bad: number; valid: number; huge: number }): Promise<void> {
  const { r, w } = await poolEnv(t, ['-c', '2'], { CELERY_MAX_MESSAGE_SIZE: '1000000' });
  const bad = Array.from({ length: o.bad }, (_, i) => fuzzed(i, i < o.huge));
  const valid: string[] = [];
  const p = r.pipeline();
  for (let i = 0; i < o.bad; i++) {
    p.lpush('celery', bad[i]!.raw);
    if (i % Math.max(1, Math.floor(o.bad / o.valid)) === 0 && valid.length < o.valid) {
      const m = buildMessage({ task: 'add_numbers', args: [i, 1] });
      valid.push(m.id);
      p.lpush(m.key, m.raw);
    }
  }
  await p.exec();
  const deadExpected = bad.filter((b) => b.kind !== 'fail').length;
  await until(
    async () => (await r.llen('tbw.dead_letter')) >= deadExpected && (await r.llen('celery')) === 0,
    120_000,
    'every bad message handled',
    100,
  );
  const st = await until(
    async () => {
      const m = await statuses(r, [...valid, ...bad.flatMap((b) => (b.id ? [b.id] : []))]);
      return m.size === valid.length + bad.filter((b) => b.id).length ? m : null;
    },
    60_000,
    'a result for every valid and every identifiable bad message',
  );
  t.equal(
    valid.filter((id) => st.get(id)?.status === 'SUCCESS').length,
    valid.length,
    `all ${valid.length} valid tasks succeeded`,
  );
  const byWhat = new Map<string, number>();
  for (const b of bad) {
    if (b.id === null) continue;
    const m = st.get(b.id);
    if (m?.status !== 'FAILURE') byWhat.set(b.what, (byWhat.get(b.what) ?? 0) + 1);
  }
  t.same(Object.fromEntries(byWhat), {}, 'every bad message with an id has a FAILURE result');
  t.equal(await r.llen('tbw.dead_letter'), deadExpected, `${deadExpected} unrunnable messages in the dead-letter list`);
  const failTypes = new Set(
    bad
      .filter((b) => b.kind === 'fail')
      .map((b) => (st.get(b.id!)?.result as { exc_type?: string } | undefined)?.exc_type),
  );
  t.same([...failTypes], ['TypeError'], 'wrong arguments fail as TypeError (what Python would raise)');
  t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, 0, 'no child crashed');
  t.equal(w.proc.exitCode, null, 'the pool is still running');
  t.comment(
    `fuzz: ${o.bad} bad (${deadExpected} dead-lettered, ${o.bad - deadExpected} FAILURE from running), ${valid.length} valid`,
  );
}

/** A worker that cannot boot: backoff as documented (100 ms ×2, ±20 %), then exit 3 with the reason in one line. */
export async function bootFailureCase(t: Test): Promise<void> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await t.test('a child crashing at boot: 5 tries with doubling delays, then exit 3', async (t) => {
    const w = startWorker(redis.url, ['-c', '1', '--tasks', CHAOS_TASKS], { CHAOS_BOOT_CRASH: '1' });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    const code = await new Promise<number | null>((res) => w.proc.once('exit', (c) => res(c)));
    t.equal(code, EXIT.BOOT_FAILURE, 'exit code BOOT_FAILURE (3)');
    const delays = w.lines.filter((l) => l.msg === 'child restart scheduled').map((l) => Number(l.delayMs));
    t.equal(delays.length, 4, 'four restarts before giving up at the fifth consecutive boot failure');
    delays.forEach((d, k) => {
      const base = 100 * 2 ** k;
      t.ok(d >= base * 0.8 && d <= base * 1.2, `restart ${k + 1} after ${d} ms (documented ${base} ms ±20 %)`);
    });
    const giveUp = w.lines.filter((l) => l.msg === 'pool giving up');
    t.equal(giveUp.length, 1, 'one line with the reason');
    t.match(String(giveUp[0]?.reason), /5 consecutive boot failures/);
  });
  await t.test('a task module that cannot load in the worker: no retries, exit 3 at once', async (t) => {
    const w = startWorker(redis.url, ['-c', '2', '--tasks', CHAOS_TASKS], { CHAOS_BOOT_THROW: '1' });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    const code = await new Promise<number | null>((res) => w.proc.once('exit', (c) => res(c)));
    t.equal(code, EXIT.BOOT_FAILURE);
    t.equal(w.lines.filter((l) => l.msg === 'child restart scheduled').length, 0, 'not retried');
    t.match(String(w.lines.find((l) => l.msg === 'pool giving up')?.reason), /cannot boot.*refuses to load/);
  });
  await t.test('the broker unreachable at boot: retried with backoff as long as it takes, then runs', async (t) => {
    const down = await startRedis();
    t.teardown(() => down.stop());
    await down.kill();
    const w = startWorker(down.url, ['-c', '1', '--tasks', CHAOS_TASKS]);
    t.teardown(async () => void (await w.stop('SIGKILL')));
    // One line per retry (the restart scheduled with it is at debug): what, why, and the delay.
    const unreachable = 'child could not reach its backend, retrying';
    await until(
      () => w.lines.filter((l) => l.msg === unreachable).length >= 5 || w.proc.exitCode !== null,
      30_000,
      'five retries',
    );
    t.equal(w.proc.exitCode, null, 'still trying');
    const retries = w.lines.filter((l) => l.msg === unreachable);
    t.ok(
      retries.every((l) => l.code === 'ECONNREFUSED' && String(l.reason).includes('cannot reach the Celery broker')),
      'each retry names the broker and the error code',
    );
    t.equal(w.lines.filter((l) => l.msg === 'child restart scheduled').length, 0, 'no second line per retry');
    const d = retries.map((l) => Number(l.retryInMs));
    t.ok(
      d.slice(0, 5).every((x, k) => x >= 100 * 2 ** k * 0.8 && x <= 100 * 2 ** k * 1.2),
      `delays ${d.join(', ')} ms double from 100 ms`,
    );
    await down.start();
    await w.waitFor(
      (l) => l.msg === 'pool state changed' && l.to === 'running',
      45_000,
      'pool running once Redis is up',
    );
    t.equal(await w.stop('SIGTERM'), 0);
  });
}

/** Steady load for `seconds`: the supervisor's RSS does not grow (median of the last third vs the first third). */
export async function soakCase(t: Test, o: { seconds: number; perSecond: number }): Promise<void> {
  const { r, w } = await poolEnv(t, ['-c', '2']);
  const pid = w.proc.pid!;
  const samples: number[] = [];
  let sent = 0;
  const end = Date.now() + o.seconds * 1000;
  // Load generation is paced on purpose (steady load), not a wait for a condition.
  const load = setInterval(
    () => void enqueue(r, Math.ceil(o.perSecond / 10), 'chaos.count', () => [0]).then((ids) => (sent += ids.length)),
    100,
  );
  const sampler = setInterval(() => {
    const kib = rssKiB(pid);
    if (kib !== null) samples.push(kib);
  }, 250);
  try {
    await until(() => Date.now() >= end || w.proc.exitCode !== null, o.seconds * 1000 + 5000, 'soak end', 200);
  } finally {
    clearInterval(load);
    clearInterval(sampler);
  }
  await until(async () => (await r.hlen('chaos:exec')) >= sent, 60_000, 'load drained', 100);
  const third = Math.floor(samples.length / 3);
  const first = median(samples.slice(0, third)) / 1024;
  const last = median(samples.slice(-third)) / 1024;
  t.ok(samples.length >= 30, `${samples.length} RSS samples`);
  t.ok(
    last <= first * 1.15 + 4,
    `supervisor RSS ${first.toFixed(1)} MB → ${last.toFixed(1)} MB over ${o.seconds} s of ${o.perSecond} tasks/s`,
  );
  t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, 0, 'no child exited');
  t.comment(
    `soak: ${sent} tasks, supervisor RSS first-third median ${first.toFixed(1)} MB, last-third ${last.toFixed(1)} MB`,
  );
}
