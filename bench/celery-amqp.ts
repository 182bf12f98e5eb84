// bench/celery on RabbitMQ: the same no-op drain with our pool (-c 2, acks late, prefetch = slots × 1, and × 4),
// Python Celery prefork -c 2 (acks late, multiplier 4 and 1) and celery-node (acks on receipt, no prefetch limit) on
// one RabbitMQ node, results
// in one Redis for all three; plus the submit → result latency a Python client sees at low load, for our pool and
// Python's, on Redis and on RabbitMQ. Used by bench/celery.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import { killGroup, PY, PYDIR } from './celery-common.js';

const tick = (ms = 5): Promise<void> => new Promise((res) => setTimeout(res, ms));

/**
 * Empty `celery` before a contender's round: a contender killed at the end of its drain leaves what it had not run
 * (celery-node, with no prefetch limit, holds thousands unacked; RabbitMQ gives them back marked redelivered), and
 * the next contender would drain those first, as lost-worker reruns for ours (each one alone: docs/celery-amqp.md).
 * Returns how many were left.
 */
export async function purgeAmqp(broker: string): Promise<number> {
  const conn = await amqp.connect(broker.replace(/\/\/$/, '/'));
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('celery', { durable: true });
    return (await ch.purgeQueue('celery')).messageCount;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * N health_check tasks onto `celery` with Python's send_task. The client uses rpc:// (no per-task subscription);
 * where results go is each worker's own setting.
 */
export async function preloadAmqp(broker: string, n: number): Promise<void> {
  const p = spawn(PY, [join(PYDIR, 'celery_bench_app.py'), String(n), 'health_check'], {
    env: { ...process.env, BENCH_REDIS_URL: broker, BENCH_RESULT_URL: 'rpc://' },
    stdio: 'inherit',
  });
  const [code] = (await once(p, 'exit')) as [number];
  if (code !== 0) throw new Error(`preload exited ${code}`);
}

/**
 * tasks/s of one contender draining `n` preloaded messages. RabbitMQ has no atomic queue rename to park them, so
 * the clock starts once `consumers` consumers are attached to `celery` (every child of a pool up) and counts only
 * the tasks whose results appear after that (Redis DBSIZE: one result key per task).
 */
export async function drainAmqp(
  broker: string,
  results: Redis,
  n: number,
  consumers: number,
  start: () => ChildProcess,
  limitMs: number,
): Promise<number> {
  const conn = await amqp.connect(broker.replace(/\/\/$/, '/'));
  const ch = await conn.createChannel();
  const proc = start();
  const deadline = Date.now() + limitMs;
  try {
    while ((await ch.checkQueue('celery')).consumerCount < consumers) {
      if (Date.now() > deadline) throw new Error('worker not consuming in time');
      await tick(2);
    }
    const t0 = performance.now();
    const before = await results.dbsize();
    while (Date.now() < deadline) {
      if ((await results.dbsize()) >= n) return (n - before) / ((performance.now() - t0) / 1000);
      await tick();
    }
    throw new Error('drain did not finish in time');
  } finally {
    killGroup(proc);
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
    await conn.close().catch(() => undefined);
  }
}

/** A RabbitMQ worker is ready once `consumers` consumers are attached to `celery`. */
export const amqpReady = (broker: string, consumers: number) => async (): Promise<boolean> => {
  const conn = await amqp.connect(broker.replace(/\/\/$/, '/'));
  try {
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('celery', { durable: true });
    return q.consumerCount >= consumers;
  } finally {
    await conn.close().catch(() => undefined);
  }
};
