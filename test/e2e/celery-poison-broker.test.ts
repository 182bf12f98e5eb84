// No message can stall the pool, when the broker is the trouble (docs/reliability.md): Redis refusing writes at
// maxmemory (results cannot be stored: each task runs at most once more, never a loop), far-future ETAs above the
// per-child cap (bounded Redis traffic, measured in commands/s), and a wrong password (exit 3 at once, naming the
// URL with its password masked). Real binary, real redis-server, results read by the real Python client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { startRedis } from '../helpers/redis.js';
import { POISON_TASKS, runPython, runsIn, startWorker, type Outcome } from './celery-harness.js';

const LIMIT = 2;

const until = async <T>(f: () => Promise<T | null | false>, ms: number, what: string): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * Redis traffic per second over `ms`: every command Redis processed (commands inside scripts count one by one, as
 * INFO counts them) and the round trips (script calls and plain commands; INFO's own calls subtracted).
 */
async function trafficPerSecond(r: Redis, ms: number): Promise<{ commands: number; roundTrips: number }> {
  const read = async (): Promise<[number, number]> => {
    const stats = await r.info('stats');
    const cmd = await r.info('commandstats');
    const scripts = [...cmd.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    return [Number(/total_commands_processed:(\d+)/.exec(stats)?.[1]), scripts];
  };
  const [a, sa] = await read();
  const t0 = Date.now();
  await new Promise((res) => setTimeout(res, ms));
  const [b, sb] = await read();
  const secs = (Date.now() - t0) / 1000;
  return { commands: (b - a - 2) / secs, roundTrips: (sb - sa) / secs };
}

void t.test('Redis at maxmemory (noeviction): unstorable results never loop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-oom-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) {
    const m = buildMessage({ task: 'poison.ok', args: [join(dir, `t${i}`), 64] });
    ids.push(m.id);
    await r.lpush(m.key, m.raw);
  }
  // Room for a dozen 64 KiB results, then every write is refused.
  const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]);
  await r.config('SET', 'maxmemory', String(used + 1024 * 1024));
  const w = startWorker(redis.url, ['-c', '1', '--child-concurrency', '4'], { TASK_MODULES: POISON_TASKS });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'settling a task failed', 30_000, 'a refused result');
  await new Promise((res) => setTimeout(res, 4000));
  const during = ids.map((_, i) => runsIn(join(dir, `t${i}`)).length);
  // Near the limit Redis takes some writes and refuses others: a message given back after a failed settle is
  // charged like a lost worker, so it runs at most 1 + the delivery limit times — never a loop.
  t.ok(Math.max(...during) <= LIMIT + 1, `while Redis refuses writes: runs per task ${during.join('')}`);
  await r.config('SET', 'maxmemory', '0');
  const outcomes = (await runPython(
    'reliability.py',
    ['read', redis.url, JSON.stringify(ids), '90'],
    120_000,
  )) as unknown as Outcome[];
  const runs = ids.map((_, i) => runsIn(join(dir, `t${i}`)).length);
  t.ok(Math.max(...runs) <= LIMIT + 1, `each task ran at most ${LIMIT + 1} times (runs: ${runs.join('')})`);
  t.ok(
    runs.reduce((a, b) => a + b, 0) < ids.length * 2,
    `${runs.reduce((a, b) => a + b, 0)} runs for ${ids.length} tasks`,
  );
  const states = outcomes.map((o) => (o.state === 'SUCCESS' ? 'SUCCESS' : `${o.state} ${o.type}`));
  const ends = ['SUCCESS', 'FAILURE EncodeError', 'FAILURE WorkerLostError'];
  t.same(
    [...new Set(states)].filter((s) => !ends.includes(s)),
    [],
    `every task ended: SUCCESS, or a FAILURE naming the refused write (${[...new Set(states)].join(', ')})`,
  );
  t.ok(states.filter((s) => s === 'SUCCESS').length > 0, 'the tasks whose results fit succeeded');
  await until(async () => (await r.hlen('unacked')) === 0, 20_000, 'unacked empty');
  t.equal(
    w.lines.find((l) => l.msg === 'pool giving up'),
    undefined,
    'the pool never gave up',
  );
  t.equal(await w.stop(), 0, 'exit 0');
});

void t.test('1500 far-future ETAs on one child: bounded Redis traffic, other work still runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-eta-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const later = Date.now() + 3_600_000;
  const pipe = r.pipeline();
  for (let i = 0; i < 1500; i++) {
    const m = buildMessage({ task: 'poison.ok', args: [join(dir, 'eta')], etaMs: later });
    pipe.lpush(m.key, m.raw);
  }
  await pipe.exec();
  const w = startWorker(redis.url, ['-c', '1', '--child-concurrency', '4'], { TASK_MODULES: POISON_TASKS });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await until(async () => (await r.hlen('unacked')) >= 1000, 30_000, '1000 ETA messages held');
  await new Promise((res) => setTimeout(res, 2000));
  const rate = await trafficPerSecond(r, 6000);
  const shown = `${rate.commands.toFixed(0)} commands/s, ${rate.roundTrips.toFixed(1)} script calls/s`;
  t.comment(`Redis traffic with 500 ETA messages above the cap: ${shown}`);
  // One cycle (a fetch of 104, 100 requeues) every ~2 s; the pop-and-push-back loop this replaces was ~49k/s.
  t.ok(rate.commands < 1000, `bounded Redis traffic: ${shown}`);
  // Sampled: a fetch cycle holds its batch for a moment before handing the excess back.
  const held: number[] = [];
  for (let i = 0; i < 15; i++) {
    held.push(await r.hlen('unacked'));
    await new Promise((res) => setTimeout(res, 200));
  }
  t.equal(Math.min(...held), 1000, `the cap holds: 1000 held, the rest waits in the queue (${held.join(' ')})`);
  t.ok(Math.max(...held) <= 1000 + 128, 'above it at most one fetch batch, briefly');
  const sentAt = Date.now();
  const [valid] = (await runPython(
    'reliability.py',
    ['submit', redis.url, JSON.stringify([{ task: 'poison.ok', args: [join(dir, 'valid')] }]), '60'],
    90_000,
  )) as unknown as Outcome[];
  t.equal(valid?.value, 'ok', `a task sent behind them still runs (in ${Date.now() - sentAt} ms)`);
  t.equal(runsIn(join(dir, 'eta')).length, 0, 'no ETA task ran early');
  t.equal(await w.stop(), 0, 'exit 0');
  t.equal(await r.hlen('unacked'), 0, 'a warm stop gave every held ETA message back');
  t.equal(await r.llen('celery'), 1500, 'all 1500 are back in the queue');
});

void t.test('a wrong broker password stops the pool at once with exit 3, naming the masked URL', async (t) => {
  const redis = await startRedis({ password: 'right-secret' });
  t.teardown(() => redis.stop());
  const wrong = redis.url.replace('right-secret', 'wrong-secret');
  const w = startWorker(wrong, ['-c', '2'], { TASK_MODULES: POISON_TASKS });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  const t0 = Date.now();
  const code = await new Promise<number | null>((res) => w.proc.once('exit', (c) => res(c)));
  t.equal(code, 3, `exit 3 (BOOT_FAILURE) after ${Date.now() - t0} ms`);
  const fatal = w.lines.find((l) => l.msg === 'pool giving up');
  t.match(fatal?.reason, /WRONGPASS/, 'the reason names WRONGPASS');
  t.match(fatal?.reason, /redis:\/\/:\*\*\*@127\.0\.0\.1/, 'and the URL with its password masked');
  t.notOk(JSON.stringify(w.lines).includes('wrong-secret'), 'the password is never printed');
});

void t.test(
  'after the broker lost its data, children register again; a dead child\u2019s ETA message goes back at once',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-flush-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const r = new Redis(redis.url);
    t.teardown(() => void r.disconnect());
    // visibility 4 s: the maintenance tick (a quarter of it) re-registers every second.
    const w = startWorker(redis.url, ['-c', '2'], { TASK_MODULES: POISON_TASKS, CELERY_VISIBILITY_TIMEOUT: '4' });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
    const key = (await r.keys('tbw.holders.*'))[0] as string;
    t.equal(await r.hlen(key), 2, 'both children registered');
    await r.flushall();
    await until(async () => (await r.hlen(key)) === 2, 5000, 'registered again');
    t.pass('both children registered again after FLUSHALL');
    const m = buildMessage({ task: 'poison.ok', args: [join(dir, 'eta')], etaMs: Date.now() + 3_600_000 });
    await r.lpush(m.key, m.raw);
    const held = await until(async () => (await r.keys('tbw.parked.*')).find(Boolean) ?? null, 10_000, 'parked');
    const pid = Number(held.split('.').pop());
    process.kill(pid, 'SIGKILL');
    const t0 = Date.now();
    await until(
      async () =>
        (await r.llen('celery')) === 1 ||
        ((await r.hlen('unacked')) === 1 && (await r.keys(`tbw.held.*.${pid}`)).length === 0),
      10_000,
      'given back',
    );
    t.ok(
      Date.now() - t0 < 4000,
      `given back ${Date.now() - t0} ms after its child died (not after the visibility timeout)`,
    );
    const back = JSON.parse((await r.lindex('celery', 0)) ?? (await r.hvals('unacked'))[0] ?? '{}') as {
      headers?: Record<string, unknown>;
    };
    const env = Array.isArray(back) ? (back[0] as { headers?: Record<string, unknown> }) : back;
    t.equal(env.headers?.tbw_lost, undefined, 'it was waiting, not running: not charged');
    t.equal(await w.stop(), 0);
  },
);
