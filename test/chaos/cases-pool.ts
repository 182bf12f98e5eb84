// Chaos cases about the process tree: children SIGKILLed under load, the supervisor SIGKILLed, SIGTERM under
// load. Each case is a function of its sizes so test/chaos (long with CHAOS_LONG=1) and test/e2e (short) share it.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import type { RabbitServer } from '../helpers/rabbitmq.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startBrokers, startWorker, type TransportKind, type Worker } from '../e2e/celery-harness.js';
import { CHAOS_TASKS, childrenOf, enqueue, execCounts, procState, pySubmit, statuses, until } from './harness.js';

export interface Env {
  /** Results and the chaos counters (the broker too on Redis). */
  redis: RedisServer;
  r: Redis;
  w: Worker;
  /** CELERY_BROKER_URL. */
  broker: string;
  /** The RabbitMQ node when the broker is RabbitMQ. */
  rabbit: RabbitServer | null;
}

/**
 * A broker (Redis, or RabbitMQ with results and counters in Redis) and a running pool of the real binary with the
 * chaos tasks, torn down with the test.
 */
export async function poolEnv(
  t: Test,
  args: string[],
  env: Record<string, string> = {},
  redisArgs: string[] = [],
  kind: TransportKind = 'redis',
): Promise<Env> {
  let redis: RedisServer;
  let rabbit: RabbitServer | null = null;
  let broker: string;
  if (kind === 'redis') {
    redis = await startRedis({ args: redisArgs });
    t.teardown(() => redis.stop());
    broker = redis.url;
  } else {
    const b = await startBrokers('amqp');
    t.teardown(() => b.stop());
    ({ redis, rabbit, broker } = b);
  }
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  r.on('error', () => undefined);
  t.teardown(() => void r.disconnect());
  const w = startWorker(broker, ['--tasks', CHAOS_TASKS, ...args], {
    CELERY_RESULT_BACKEND: redis.url,
    CHAOS_COUNTER_URL: redis.url,
    ...env,
  });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
  return { redis, r, w, broker, rabbit };
}

/** Nothing held by a worker any more: Redis's unacked hash is empty, or RabbitMQ lists no unacknowledged message. */
export async function nothingHeld(e: Pick<Env, 'r' | 'rabbit'>): Promise<boolean> {
  if (e.rabbit === null) return (await e.r.hlen('unacked')) === 0;
  const rows = await e.rabbit.listQueues('name', 'messages', 'messages_unacknowledged');
  return rows.every((q) => q.messages_unacknowledged === '0' && (q.messages === '0' || !q.name?.startsWith('celery')));
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * SIGKILL the oldest READY child every `everyMs`: killing one still booting is a boot failure (5 in a row stop the
 * pool by design, see the boot-failure case), and boots on a busy 2-core machine can take longer than the interval.
 */
export function killEvery(w: Worker, everyMs: number): { readonly kills: number; stop(): void } {
  const supervisor = w.proc.pid!;
  let kills = 0;
  const timer = setInterval(() => {
    const ready = new Set(w.lines.filter((l) => l.msg === 'child ready').map((l) => Number(l.pid)));
    const kids = childrenOf(supervisor)
      .filter((p) => ready.has(p))
      .sort((a, b) => startTicks(a) - startTicks(b));
    const victim = kids[0];
    if (victim === undefined) return;
    try {
      process.kill(victim, 'SIGKILL');
      kills++;
    } catch {
      // it exited on its own between the listing and the kill
    }
  }, everyMs);
  return {
    get kills() {
      return kills;
    },
    stop: () => clearInterval(timer),
  };
}

export interface KillOpts {
  tasks: number;
  /** How long each task sleeps, so the run spans several kills. */
  sleepMs: number;
  everyMs: number;
  concurrency: number;
  childConcurrency: number;
  timeoutMs: number;
}

/** Run `f`, and say what it threw instead of throwing (a report must not fail on its own parts). */
async function part(name: string, f: () => Promise<string> | string): Promise<string> {
  try {
    return `${name}:\n${await f()}`;
  } catch (err) {
    return `${name}: (not available: ${(err as Error).message})`;
  }
}

/**
 * Where a run that stopped progressing stands: what executed, where the broker has the rest (ready, or held by which
 * channels), the pool's own status (SIGUSR2), its children, and its last lines.
 */
export async function stallReport(e: Env, ids: readonly string[]): Promise<string> {
  const supervisor = e.w.proc.pid!;
  const from = e.w.lines.length;
  if (procState(supervisor) !== null) process.kill(supervisor, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 1000)); // the status line's way out of the pool
  const c = await execCounts(e.r, ids);
  const parts = [
    `executed ${c.distinct}/${ids.length}; not executed (first 5): ${c.missing.slice(0, 5).join(' ')}`,
    await part('children', () =>
      childrenOf(supervisor)
        .map((p) => `${p} ${procState(p)}`)
        .join(', '),
    ),
  ];
  if (e.rabbit !== null) {
    const rabbit = e.rabbit;
    parts.push(
      await part('queues', () =>
        rabbit.ctl('list_queues', 'name', 'messages_ready', 'messages_unacknowledged', 'consumers'),
      ),
    );
    parts.push(
      await part('channels', () =>
        rabbit.ctl(
          'list_channels',
          'connection',
          'number',
          'consumer_count',
          'messages_unacknowledged',
          'prefetch_count',
        ),
      ),
    );
  } else {
    parts.push(
      await part('redis', async () => `unacked ${await e.r.hlen('unacked')}, celery ${await e.r.llen('celery')}`),
    );
  }
  const lines = (ls: Record<string, unknown>[]): string => ls.map((l) => JSON.stringify(l)).join('\n');
  parts.push(
    await part('pool status (SIGUSR2)', () => lines(e.w.lines.slice(from).filter((l) => l.msg === 'pool status'))),
  );
  parts.push(await part('warnings and errors', () => lines(e.w.lines.filter((l) => Number(l.level) >= 40).slice(-30))));
  parts.push(await part('last lines', () => lines(e.w.lines.slice(0, from).slice(-15))));
  return parts.join('\n');
}

/** A child SIGKILLed every `everyMs` while the tasks run: all complete, none lost, duplicates reported. */
export async function killChildrenCase(t: Test, o: KillOpts, kind: TransportKind = 'redis'): Promise<void> {
  // Every crash here comes from outside on purpose: the crash-loop guard (default 10 in 60 s) would give up. And a
  // task that happens to be running in three of the killed children is, by design, a poison suspect: with the
  // default --delivery-limit (2) it fails with WorkerLostError and goes to the dead-letter place (that is the poison
  // case's subject). Seen once in ~65 runs here (1499/1500 executed, one message dead-lettered), so this case, about
  // losing nothing, sets a limit above the number of kills in a run (10 to 20): no task can reach it.
  const e = await poolEnv(
    t,
    [
      '-c',
      String(o.concurrency),
      '--child-concurrency',
      String(o.childConcurrency),
      '--crash-loop-max',
      '0',
      '--delivery-limit',
      '100',
    ],
    {},
    [],
    kind,
  );
  const { redis, r, w } = e;
  const submitted = pySubmit(e.broker, o.tasks, o.sleepMs, redis.url);
  const supervisor = w.proc.pid!;
  const killer = killEvery(w, o.everyMs);
  const t0 = Date.now();
  let ids2: string[] = [];
  try {
    ids2 = await submitted;
    t.equal(ids2.length, o.tasks, `submitted ${o.tasks} tasks with Python send_task while children were being killed`);
    await until(
      async () => (await r.hlen('chaos:exec')) >= o.tasks || procState(supervisor) === null,
      o.timeoutMs,
      'every task executed',
      200,
    ).catch(async (err: unknown) => {
      killer.stop();
      t.comment(await stallReport(e, ids2));
      throw new Error(`${(err as Error).message} (where the run stands: the comment above)`);
    });
  } finally {
    killer.stop();
  }
  const kills = killer.kills;
  const took = Date.now() - t0;
  const gaveUp = w.lines.find((l) => l.msg === 'pool giving up');
  t.equal(
    gaveUp,
    undefined,
    `the supervisor did not give up (${JSON.stringify(gaveUp?.reason ?? null)}, exit ${w.proc.exitCode})`,
  );
  const c = await execCounts(r, ids2);
  t.equal(c.missing.length, 0, `no task lost (${c.distinct}/${o.tasks} completed)`);
  t.ok(kills >= 2, `${kills} children SIGKILLed during the run`);
  const st = await until(
    async () => {
      const m = await statuses(r, ids2);
      return m.size === o.tasks ? m : null;
    },
    30_000,
    'every result stored',
  );
  t.equal([...st.values()].filter((m) => m.status === 'SUCCESS').length, o.tasks, 'every result is SUCCESS');
  await until(() => nothingHeld(e), 15_000, 'nothing left held or queued');
  t.comment(
    `kill-child: ${o.tasks} tasks, ${kills} kills in ${took} ms, ${c.duplicates} duplicate executions (at-least-once)`,
  );
  t.ok(c.duplicates <= kills * o.childConcurrency, 'duplicates bounded by what the killed children held');
  t.notOk(
    w.lines.some((l) => JSON.stringify(l).includes('MaxListenersExceededWarning')),
    `no MaxListenersExceededWarning with ${o.childConcurrency} tasks per child`,
  );
}

/** SIGKILL of the supervisor: every child is gone within 1 s; a new pool then finishes what was held. */
export async function killSupervisorCase(t: Test, o: { concurrency: number; tasks: number }): Promise<void> {
  const { redis, r, w } = await poolEnv(t, ['-c', String(o.concurrency)], { CELERY_VISIBILITY_TIMEOUT: '3' });
  const supervisor = w.proc.pid!;
  const ids = await enqueue(r, o.tasks, 'chaos.count', () => [300]);
  await until(async () => (await r.hlen('chaos:start')) > 0, 15_000, 'tasks running');
  const kids = await until(
    () => {
      const k = childrenOf(supervisor);
      return k.length === o.concurrency ? k : null;
    },
    10_000,
    `${o.concurrency} children`,
  );
  const t0 = Date.now();
  process.kill(supervisor, 'SIGKILL');
  const gone = await until(() => kids.every((p) => procState(p) === null), 5_000, 'children gone', 5).then(
    () => Date.now() - t0,
  );
  t.ok(gone <= 1000, `all ${kids.length} children gone ${gone} ms after the supervisor was SIGKILLed`);
  // Nothing lost: a fresh pool restores what the dead children held and finishes the rest.
  const w2 = startWorker(redis.url, ['--tasks', CHAOS_TASKS, '-c', String(o.concurrency)], {
    CELERY_VISIBILITY_TIMEOUT: '3',
  });
  t.teardown(async () => void (await w2.stop('SIGKILL')));
  await until(
    async () => (await r.hlen('chaos:exec')) >= o.tasks,
    60_000,
    'every task executed by the second pool',
    100,
  );
  const c = await execCounts(r, ids);
  t.equal(c.missing.length, 0, 'no task lost across the supervisor kill');
  t.comment(`kill-supervisor: children gone in ${gone} ms; ${c.duplicates} duplicate executions`);
  t.equal(await w2.stop('SIGTERM'), 0, 'second pool exits 0');
}

/** SIGTERM under load: in-flight tasks finish, unstarted ones stay queued, exit 0 inside the deadline. */
export async function sigtermCase(
  t: Test,
  o: { concurrency: number; childConcurrency: number; tasks: number; sleepMs: number; shutdownS: number },
): Promise<void> {
  const { r, w } = await poolEnv(t, [
    '-c',
    String(o.concurrency),
    '--child-concurrency',
    String(o.childConcurrency),
    '--shutdown-timeout',
    `${o.shutdownS}s`,
  ]);
  const ids = await enqueue(r, o.tasks, 'chaos.count', () => [o.sleepMs]);
  await until(
    async () => (await r.hlen('chaos:start')) >= o.concurrency * o.childConcurrency,
    15_000,
    'every slot busy',
  );
  const t0 = Date.now();
  const code = await w.stop('SIGTERM');
  const took = Date.now() - t0;
  t.equal(code, 0, 'exit 0 after a warm shutdown');
  t.ok(took < o.shutdownS * 1000, `exited in ${took} ms, inside the ${o.shutdownS} s deadline`);
  await assertWarmOutcome(t, r, ids);
}

/** After a warm stop: every started task finished exactly once, every other one is still queued, nothing held. */
export async function assertWarmOutcome(t: Test, r: Redis, ids: readonly string[]): Promise<void> {
  const started = await r.hgetall('chaos:start');
  const done = await r.hgetall('chaos:exec');
  const startedIds = Object.keys(started);
  t.ok(startedIds.length > 0, `${startedIds.length} tasks were in flight`);
  t.same(
    startedIds.filter((id) => done[id] !== '1'),
    [],
    'every in-flight task finished (once)',
  );
  t.equal(Object.keys(done).length, startedIds.length, 'no task finished that had not started');
  const queued = await r.llen('celery');
  t.equal(queued + startedIds.length, ids.length, `the ${queued} unstarted tasks are still queued`);
  t.equal(await r.hlen('unacked'), 0, 'nothing left held (prefetched messages given back)');
}
