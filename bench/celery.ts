// bench/celery: preload N tasks from Python, drain them with our pool (-c 2, acks late), Python Celery prefork
// -c 2 (acks late) and celery-node, on the same Redis, timed from a ready worker; print tasks/s and ratios. The
// same on RabbitMQ (bench/celery-amqp.ts). Then (bench/celery-latency.ts) a Python client's send_task(...).get()
// back to back and sporadic on both brokers, and the Redis commands/s of an idle pool per child, ours and Python's
// prefork -c 2.
// Run: node dist/bench/celery.js
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { startRabbit } from '../test/helpers/rabbitmq.js';
import { startRedis } from '../test/helpers/redis.js';
import { amqpReady, drainAmqp, preloadAmqp, purgeAmqp } from './celery-amqp.js';
import { brpopReady, celeryNode, drain, killGroup, ours, oursReady, preload, python } from './celery-common.js';
import { latencyMetrics, measureLatency, medianFigures } from './celery-latency.js';

type Lat = Awaited<ReturnType<typeof measureLatency>>;

const N = Number(process.env.BENCH_N ?? 10_000);
const IO_N = Number(process.env.BENCH_IO_N ?? 2_000);

const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const tps = (v: number): number => Math.round(v);
// Rounds interleave the contenders (so drift in machine load hits all of them alike); each figure is the
// median of its rounds and every ratio is median / median of the same run.
const ROUNDS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
// Latency rounds are cheap and Python's own p50 moves by ~1 ms between them (1.9-3.1 ms back to back on Redis in
// one run): five, with who goes first alternating, so that one round does not decide a row.
const LAT_ROUNDS = Math.max(1, Number(process.env.BENCH_LAT_RUNS ?? 5));

/** The no-op drain on RabbitMQ (results in the Redis `r`): ours, Python prefork, celery-node, per round. */
async function amqpRounds(rabbitUrl: string, redisUrl: string, r: Redis): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { ours: [], ours4: [], python: [], python1: [], node: [] };
  const one = async (name: string, key: string, consumers: number, start: () => ChildProcess): Promise<void> => {
    await r.flushall();
    const left = await purgeAmqp(rabbitUrl);
    if (left > 0) console.log(`  (${left} messages left by the previous contender purged)`);
    await preloadAmqp(rabbitUrl, N);
    const v = await drainAmqp(rabbitUrl, r, N, consumers, start, 300_000);
    out[key]!.push(v);
    console.log(`${name.padEnd(34)} ${String(N).padStart(6)} tasks  ${v.toFixed(0).padStart(7)} tasks/s`);
  };
  for (let k = 1; k <= ROUNDS; k++) {
    console.log(`RabbitMQ round ${k}/${ROUNDS}`);
    await one('ours -c 2 on RabbitMQ (no-op)', 'ours', 2, ours(rabbitUrl, 2, redisUrl));
    // For reading only: the prefetch multiplier the Python contender runs with (Celery's default, 4).
    const x4 = ours(rabbitUrl, 2, redisUrl, ['-l', 'warn'], { CELERY_PREFETCH_MULTIPLIER: '4' });
    await one('ours -c 2 on RabbitMQ, multiplier 4', 'ours4', 2, x4);
    await one('python prefork -c 2 on RabbitMQ', 'python', 1, python(rabbitUrl, redisUrl));
    // The platform's setting, as ours runs by default: the two pools compared at the same multiplier.
    const py1 = python(rabbitUrl, redisUrl, { BENCH_PREFETCH_MULTIPLIER: '1' });
    await one('python prefork -c 2, multiplier 1', 'python1', 1, py1);
    await one('celery-node on RabbitMQ (no-op)', 'node', 1, celeryNode(rabbitUrl, redisUrl));
  }
  return out;
}

/** p50/p99 submit → result at low load, ours and Python's, on Redis (Redis results) and RabbitMQ (rpc://). */
/** The no-op and I/O drains on Redis: ours -c 2, Python prefork -c 2, celery-node (and ours -c 1 for reading). */
async function redisRounds(url: string, r: Redis): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {
    ours: [],
    python: [],
    node: [],
    oursIo: [],
    pythonIo: [],
    logOn: [],
    logOff: [],
  };
  const run = async (
    name: string,
    n: number,
    task: string,
    args: string[],
    start: () => ChildProcess,
    limitMs: number,
  ): Promise<number> => {
    await r.flushall();
    await preload(url, n, task, args);
    let child: ChildProcess | null = null;
    const ready = name.startsWith('ours -c 1')
      ? oursReady(r, 1)
      : name.startsWith('ours')
        ? oursReady(r)
        : brpopReady(r);
    const secs = await drain(r, () => (child = start()), ready, limitMs);
    if (child) killGroup(child);
    console.log(`${name.padEnd(34)} ${String(n).padStart(6)} tasks  ${(n / secs).toFixed(0).padStart(7)} tasks/s`);
    return n / secs;
  };
  for (let k = 1; k <= ROUNDS; k++) {
    console.log(`Redis round ${k}/${ROUNDS}`);
    out.ours!.push(await run('ours -c 2 (no-op)', N, 'health_check', [], ours(url), 120_000));
    out.python!.push(await run('python prefork -c 2 (no-op)', N, 'health_check', [], python(url), 300_000));
    out.node!.push(await run('celery-node (no-op)', N, 'health_check', [], celeryNode(url), 300_000));
    // For reading the -c 2 figure on small machines: one child (+ Redis) is what fits 2 cores without contention.
    await run('ours -c 1 (no-op, for reference)', N, 'health_check', [], ours(url, 1), 120_000);
    // The cost of the per-task log lines at the default level (-l info): two lines per task, through the
    // supervisor's relay to stdout (here /dev/null), against the same pool with --no-log-tasks.
    const info = (extra: string[]): string[] => ['-l', 'info', ...extra];
    out.logOn!.push(
      await run('ours -c 2 (no-op, -l info)', N, 'health_check', [], ours(url, 2, url, info([])), 120_000),
    );
    out.logOff!.push(
      await run(
        'ours -c 2 (no-op, -l info, --no-log-tasks)',
        N,
        'health_check',
        [],
        ours(url, 2, url, info(['--no-log-tasks'])),
        120_000,
      ),
    );
    out.oursIo!.push(await run('ours -c 2 (100 ms I/O)', IO_N, 'simulate_work', ['0.1'], ours(url), 120_000));
    const pyIo = Math.min(IO_N, 200);
    out.pythonIo!.push(
      await run('python prefork -c 2 (100 ms I/O)', pyIo, 'simulate_work', ['0.1'], python(url), 300_000),
    );
  }
  return out;
}

const runs = (xs: number[]): number[] => xs.map(tps);

/** A throughput metric: our median against an anchor's median measured in the same run (no target: for reading). */
function vs(name: string, ours: number[], anchorName: string, anchor: number[], target?: number) {
  return {
    name,
    unit: 'tasks/s',
    value: tps(med(ours)),
    runs: runs(ours),
    anchor: { name: anchorName, value: tps(med(anchor)) },
    ...(target === undefined ? {} : { target }),
  };
}

async function main(): Promise<void> {
  const [redis, rabbit] = await Promise.all([startRedis(), startRabbit()]);
  const r = new Redis(redis.url);
  try {
    const red = await redisRounds(redis.url, r);
    const am = await amqpRounds(rabbit.url, redis.url, r);
    const ratio = (a: number[], b: number[]): string => (med(a) / med(b)).toFixed(2);
    console.log(
      `medians of ${ROUNDS}: Redis no-op ours/python ${ratio(red.ours!, red.python!)}x, ours/celery-node ` +
        `${ratio(red.ours!, red.node!)}x; I/O ours/python ${ratio(red.oursIo!, red.pythonIo!)}x; RabbitMQ no-op ` +
        `ours/python ${ratio(am.ours!, am.python!)}x, ours/celery-node ${ratio(am.ours!, am.node!)}x; task lines ` +
        `on/off ${ratio(red.logOn!, red.logOff!)}x`,
    );
    // Latency: LAT_ROUNDS interleaved passes, ours and Python's in turn (who goes first alternates), each figure
    // the median of its rounds; the idle load is counted in the first round only (Redis; RabbitMQ has no command
    // counter to read).
    const inTurn = async (k: number, a: () => Promise<Lat>, b: () => Promise<Lat>): Promise<[Lat, Lat]> => {
      if (k % 2 === 0) {
        const first = await a();
        return [first, await b()];
      }
      const first = await b();
      return [await a(), first];
    };
    const redisLat = (k: number): Promise<[Lat, Lat]> =>
      inTurn(
        k,
        () =>
          measureLatency('ours -c 2', k === 0 ? r : null, {
            broker: redis.url,
            start: ours(redis.url),
            ready: oursReady(r),
            children: 2,
          }),
        () =>
          measureLatency('python prefork -c 2', k === 0 ? r : null, {
            broker: redis.url,
            start: python(redis.url),
            ready: brpopReady(r),
            children: 2,
          }),
      );
    const amqpLatRound = (k: number): Promise<[Lat, Lat]> =>
      inTurn(
        k,
        async () => {
          await purgeAmqp(rabbit.url);
          return measureLatency('ours -c 2 (RabbitMQ)', null, {
            broker: rabbit.url,
            results: 'rpc://',
            start: ours(rabbit.url, 2, 'rpc://'),
            ready: amqpReady(rabbit.url, 2),
            children: 2,
          });
        },
        async () => {
          await purgeAmqp(rabbit.url);
          return measureLatency('python prefork -c 2 (RabbitMQ)', null, {
            broker: rabbit.url,
            results: 'rpc://',
            start: python(rabbit.url, 'rpc://'),
            ready: amqpReady(rabbit.url, 1),
            children: 2,
          });
        },
      );
    const redLat: [Lat, Lat][] = [];
    const amq: [Lat, Lat][] = [];
    let amqpError: string | null = null;
    for (let k = 0; k < LAT_ROUNDS; k++) {
      console.log(`latency round ${k + 1}/${LAT_ROUNDS}`);
      redLat.push(await redisLat(k));
      // A RabbitMQ failure is reported and leaves those rows out; it does not throw away the other figures.
      if (amqpError !== null) continue;
      try {
        amq.push(await amqpLatRound(k));
      } catch (err) {
        amqpError = (err as Error).message;
      }
    }
    const lo = medianFigures(redLat.map((x) => x[0]));
    const lp = medianFigures(redLat.map((x) => x[1]));
    if (amqpError !== null) console.log(`RabbitMQ latency NOT MEASURED: ${amqpError}`);
    const amqpLat =
      amqpError === null ? { ao: medianFigures(amq.map((x) => x[0])), ap: medianFigures(amq.map((x) => x[1])) } : null;
    console.log(`latency medians of ${LAT_ROUNDS}: ${JSON.stringify({ ours: lo, python: lp, rabbitmq: amqpLat })}`);
    const { writeResult } = await import('./report.js');
    const py = 'python celery prefork -c 2';
    writeResult('celery', {
      metrics: [
        vs('no-op tasks/s -c 2 vs Python prefork', red.ours!, py, red.python!, 9),
        vs('no-op tasks/s -c 2 vs celery-node', red.ours!, 'celery-node', red.node!, 1),
        {
          // The price of the per-task INFO lines (TASK_LOG_TASKS): the same pool with and without them.
          name: 'no-op tasks/s -c 2 at -l info, task lines on vs off',
          unit: 'tasks/s',
          value: tps(med(red.logOn!)),
          runs: runs(red.logOn!),
          anchor: { name: 'ours -c 2 -l info --no-log-tasks', value: tps(med(red.logOff!)) },
        },
        vs('100 ms I/O tasks/s vs Python prefork', red.oursIo!, py, red.pythonIo!, 50),
        // The target rows: both pools at the platform's prefetch multiplier (1, ours by default); celery-node has none.
        vs(
          'RabbitMQ no-op tasks/s -c 2 vs Python prefork, both multiplier 1',
          am.ours!,
          `${py} (acks late, multiplier 1)`,
          am.python1!,
          8,
        ),
        vs('RabbitMQ no-op tasks/s -c 2 vs celery-node', am.ours!, 'celery-node (AMQP)', am.node!, 1),
        // For reading, no target: ours at 1 against Python at Celery's default (4), then both at 4.
        vs(
          'RabbitMQ no-op tasks/s -c 2 (multiplier 1) vs Python prefork at multiplier 4',
          am.ours!,
          `${py} (acks late, multiplier 4)`,
          am.python!,
        ),
        vs(
          'RabbitMQ no-op tasks/s -c 2, both multiplier 4, vs Python prefork',
          am.ours4!,
          `${py} (acks late, multiplier 4)`,
          am.python!,
        ),
        vs(
          'RabbitMQ no-op tasks/s -c 2, prefetch multiplier 4, vs celery-node',
          am.ours4!,
          'celery-node (AMQP)',
          am.node!,
        ),
        ...latencyMetrics(lo, lp),
        ...(amqpLat ? latencyMetrics(amqpLat.ao, amqpLat.ap, 'RabbitMQ (rpc://) ') : []),
      ],
      details: { latency: { ours: lo, python: lp, rabbitmq: amqpLat } },
    });
  } finally {
    r.disconnect();
    await Promise.all([redis.stop(), rabbit.stop()]);
  }
}

await main();
