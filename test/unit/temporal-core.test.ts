// Pure parts of the Temporal backend: task policy → activity options, workflow step semantics over a fake
// `call`, registry metadata injection into the bundle, error mapping, identity/queues, TLS settings, SDK logging,
// the per-activity logger.
import { emptyHistogram } from '../../src/ipc/histogram.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context, asyncLocalStorage, type Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure, noopMetricMeter } from '@temporalio/common';
import { pino } from 'pino';
import t from 'tap';
import { BootError } from '../../src/backends/contract.js';
import { createActivities, lazyChild, runInfo, toApplicationFailure } from '../../src/backends/temporal/activities.js';
import { injectMeta } from '../../src/backends/temporal/bundle.js';
import { connectionSettings, describeConnection } from '../../src/backends/temporal/connection.js';
import { FIRST_RUN, backoffMs, decide, type AttemptPolicy } from '../../src/backends/temporal/attempts.js';
import {
  DEFAULT_LOST_WORKER,
  MIN_HEARTBEAT_TIMEOUT_MS,
  activityOptionsFor,
  registryMeta,
} from '../../src/backends/temporal/meta.js';
import { taskQueues, workerIdentity } from '../../src/backends/temporal/names.js';
import { levelGate, sdkLogger, watchCoreRetries } from '../../src/backends/temporal/runtime.js';
import { ServerWatch, tcpProbe, watchDelayMs } from '../../src/backends/temporal/watch.js';
import { ConnectionReporter } from '../../src/log/connection.js';
import { runSteps, type CallTask } from '../../src/backends/temporal/steps.js';
import { defineTask, defineWorkflow } from '../../src/tasks/define.js';
import { Registry } from '../../src/tasks/registry.js';
import { RetryTask, TaskError, type TaskDefinition } from '../../src/tasks/types.js';
import { temporalTestConfig } from '../helpers/temporal.js';
import { taskLines } from '../../src/tasks/task-log.js';

const noop = (): null => null;

void t.test('activity options: one attempt each, a start-to-close after the local limit, heartbeats', async (t) => {
  const lostWorker = { deliveryLimit: 2, heartbeatTimeoutMs: 5000 };
  const fast = activityOptionsFor(
    { retries: 2, retryBackoff: { initialMs: 100, factor: 1, maxMs: 100 }, timeoutMs: 4000 },
    lostWorker,
  );
  t.same(fast.retry, { maximumAttempts: 1 }, 'the workflow runs the retries, not the server');
  t.equal(fast.startToCloseTimeout, 5000, 'server limit a second after the local one');
  t.equal(fast.heartbeatTimeout, undefined, 'no heartbeat timeout at or above start-to-close');
  const open = activityOptionsFor(
    { retries: 0, retryBackoff: { initialMs: 1000, factor: 2, maxMs: 60_000 }, timeoutMs: null },
    lostWorker,
  );
  t.equal(open.heartbeatTimeout, 5000, 'the pool heartbeat timeout: a dead worker is noticed after it');
  t.ok((open.startToCloseTimeout as number) > 3600_000);
  const long = activityOptionsFor(
    { retries: 1, retryBackoff: { initialMs: 500, factor: 0.5, maxMs: 10 }, timeoutMs: 60_000 },
    { deliveryLimit: 0, heartbeatTimeoutMs: 100 },
  );
  t.equal(long.startToCloseTimeout, 66_000, 'a tenth of a long limit as the margin');
  t.equal(long.heartbeatTimeout, MIN_HEARTBEAT_TIMEOUT_MS, 'never below a few heartbeats');
});

void t.test('registry metadata carries policies, steps and the lost-worker policy, not code', async (t) => {
  const r = new Registry()
    .add(defineTask({ name: 'a', run: noop, retries: 2, timeout: 500 }))
    .add(defineWorkflow({ name: 'w', steps: [{ task: 'a' }, { parallel: [{ task: 'a', args: [1] }] }] }));
  const meta = registryMeta(r, { deliveryLimit: 4, heartbeatTimeoutMs: 1000 });
  t.same(meta.tasks.a, { retries: 2, retryBackoff: { initialMs: 1000, factor: 2, maxMs: 60_000 }, timeoutMs: 500 });
  t.same(meta.workflows.w, [{ task: 'a' }, { parallel: [{ task: 'a', args: [1] }] }]);
  t.same(meta.lostWorker, { deliveryLimit: 4, heartbeatTimeoutMs: MIN_HEARTBEAT_TIMEOUT_MS });
  t.same(registryMeta(r).lostWorker, DEFAULT_LOST_WORKER, 'defaults: delivery limit 2, heartbeat timeout 30 s');
  t.same(JSON.parse(JSON.stringify(meta)), meta, 'plain JSON');
});

void t.test(
  'after a failed attempt: retries follow the task policy, lost workers follow the delivery limit',
  async (t) => {
    const policy: AttemptPolicy = {
      retries: 2,
      retryBackoff: { initialMs: 100, factor: 2, maxMs: 300 },
      deliveryLimit: 2,
    };
    const retryable = { kind: 'failed', retryable: true, countdownMs: undefined } as const;
    const lost = { kind: 'lost', reason: 'no heartbeat for 30 s' } as const;
    let d = decide('t', retryable, FIRST_RUN, policy);
    t.same(d, { kind: 'run', state: { attempt: 2, lost: 0, redelivered: false }, delayMs: 100 }, 'first retry');
    d = decide('t', retryable, { attempt: 2, lost: 0, redelivered: false }, policy);
    t.match(d, { kind: 'run', state: { attempt: 3 }, delayMs: 200 }, 'backoff grows');
    t.same(decide('t', retryable, { attempt: 3, lost: 0, redelivered: false }, policy), { kind: 'rethrow' });
    t.same(decide('t', { ...retryable, retryable: false }, FIRST_RUN, policy), { kind: 'rethrow' }, 'non-retryable');
    t.match(decide('t', { ...retryable, countdownMs: 7 }, FIRST_RUN, policy), { delayMs: 7 }, 'a countdown wins');

    d = decide('t', lost, { attempt: 2, lost: 0, redelivered: false }, policy);
    t.same(d, { kind: 'run', state: { attempt: 2, lost: 1, redelivered: true }, delayMs: 0 }, 'attempt unchanged');
    d = decide('t', lost, { attempt: 2, lost: 2, redelivered: true }, policy);
    t.same(d, {
      kind: 'workerLost',
      message: 'worker lost while running t (no heartbeat for 30 s), 3 times; the delivery limit is 2',
    });
    t.match(decide('t', lost, FIRST_RUN, { ...policy, deliveryLimit: 0 }), { kind: 'workerLost', message: /once/ });
    t.same(
      decide('t', { kind: 'handedBack' }, { attempt: 1, lost: 2, redelivered: false }, policy),
      { kind: 'run', state: { attempt: 1, lost: 2, redelivered: true }, delayMs: 0 },
      'a cold stop hands back without counting a lost worker',
    );
    t.same(decide('t', { kind: 'other' }, FIRST_RUN, policy), { kind: 'rethrow' }, 'cancellation propagates');
    t.equal(backoffMs({ initialMs: 1000, factor: 2, maxMs: 60_000 }, 10), 60_000, 'capped');
  },
);

void t.test('the run info the workflow passes, and its absence from an older workflow', async (t) => {
  t.same(runInfo({ attempt: 3, redelivered: true }, 1), { attempt: 3, redelivered: true });
  t.same(runInfo(undefined, 2), { attempt: 2, redelivered: false });
  t.same(runInfo({ attempt: 0 }, 1), { attempt: 1, redelivered: false });
});

void t.test('injectMeta fills the one slot and rejects a bundle without exactly one', async (t) => {
  const meta = { tasks: {}, workflows: { w: [{ task: 'it\'s $& "quoted"' }] }, lostWorker: DEFAULT_LOST_WORKER };
  const code = "const META = JSON.parse('__TBW_REGISTRY_META__');";
  const out = injectMeta(code, meta);
  const parsed = new Function(`${out}; return META;`)() as unknown;
  t.same(parsed, meta, 'round-trips through the bundle code, $ patterns and quotes included');
  t.throws(() => injectMeta('no slot here', meta), BootError);
  t.throws(() => injectMeta(`${code}\n${code}`, meta), BootError);
});

void t.test('workflow steps: sequential, parallel, DAG semantics over a fake call', async (t) => {
  const calls: [string, unknown[], Record<string, unknown>][] = [];
  const call: CallTask = async (task, args, kwargs) => {
    calls.push([task, args, kwargs]);
    if (task === 'boom') throw new Error('boom');
    return `${task}(${JSON.stringify(args)})`;
  };
  const seq = await runSteps(
    call,
    's',
    [
      { task: 'a', args: [9], kwargs: { k: 1, z: 0 } },
      { task: 'b', kwargs: { q: 2 } },
    ],
    [1, 2],
    { z: 3 },
  );
  t.same(calls[0], ['a', [1, 2, 9], { k: 1, z: 3 }], 'first step: workflow args prepended, caller kwargs win');
  t.same(calls[1], ['b', ['a([1,2,9])'], { q: 2 }], 'later steps: previous output prepended, only static kwargs');
  t.equal(seq, 'b(["a([1,2,9])"])');

  calls.length = 0;
  const par = await runSteps(
    call,
    'p',
    [{ task: 'a' }, { parallel: [{ task: 'x' }, { task: 'y', args: [0] }] }],
    [1],
    {},
  );
  t.same(par, ['x(["a([1])"])', 'y(["a([1])",0])'], 'fan-out output is the list of branch outputs, in order');

  calls.length = 0;
  const dag = await runSteps(
    call,
    'd',
    {
      dag: {
        r: { task: 'a' },
        l: { task: 'x', parents: ['r'] },
        m: { task: 'y', parents: ['r'] },
        j: { task: 'j', parents: ['l', 'm'] },
      },
    },
    [5],
    {},
  );
  t.same(
    calls.find((c) => c[0] === 'j')?.[1],
    [{ l: 'x(["a([5])"])', m: 'y(["a([5])"])' }],
    'join gets {parent: output}',
  );
  t.equal(dag, 'j([{"l":"x([\\"a([5])\\"])","m":"y([\\"a([5])\\"])"}])', 'single sink → its output');
  const two = await runSteps(
    call,
    'd2',
    { dag: { r: { task: 'a' }, x: { task: 'x', parents: ['r'] }, y: { task: 'y', parents: ['r'] } } },
    [],
    {},
  );
  t.same(Object.keys(two as object), ['x', 'y'], 'several sinks → {sink: output}');
  await t.rejects(runSteps(call, 'f', { dag: { r: { task: 'boom' }, s: { task: 'a' } } }, [], {}), /boom/);
});

void t.test('task errors map to ApplicationFailure with the caller-visible type', async (t) => {
  const task = defineTask({ name: 't', run: noop, retries: 1 }) as TaskDefinition;
  const typed = toApplicationFailure(new TaskError('bad', 'ValueError'), task, 1);
  t.match(typed, { type: 'ValueError', message: 'bad', nonRetryable: false });
  t.match(toApplicationFailure(new TaskError('args', 'TypeError', false), task, 1), {
    type: 'TypeError',
    nonRetryable: true,
  });
  t.match(toApplicationFailure(new Error('plain'), task, 1), { type: 'Exception', message: 'plain' });
  const named = new Error('x');
  named.name = 'KeyError';
  t.match(toApplicationFailure(named, task, 1), { type: 'KeyError' });
  t.match(toApplicationFailure('str', task, 1), { type: 'Exception', message: 'str' });
  t.match(toApplicationFailure(new RetryTask('again', 250), task, 1), {
    type: 'Retry',
    nextRetryDelay: 250,
    details: [{ countdownMs: 250 }],
  });
  t.match(toApplicationFailure(new RetryTask('again'), task, 2), {
    type: 'MaxRetriesExceededError',
    nonRetryable: true,
  });
  const af = ApplicationFailure.nonRetryable('as is', 'Custom');
  t.equal(toApplicationFailure(af, task, 1), af, 'an ApplicationFailure passes through');
});

void t.test('identity and task queues', async (t) => {
  t.equal(workerIdentity('temporal@box', 3, 'ignored'), 'temporal-3@box');
  t.equal(workerIdentity('plain', 0, 'host1'), 'plain-0@host1');
  const cfg = temporalTestConfig('127.0.0.1:1');
  t.same(taskQueues(cfg), ['tbw-test'], 'TEMPORAL_TASK_QUEUE without -Q');
  t.same(taskQueues({ ...cfg, queues: ['q1', 'q2'] }), ['q1', 'q2'], '-Q wins');
});

void t.test('TLS settings: files read at start, bad ones are BootErrors, secrets never described', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['crt', 'key', 'ca']) writeFileSync(join(dir, f), `-----${f}-----`);
  const base = temporalTestConfig('h:7233').temporal;
  const plain = connectionSettings(base);
  t.equal(plain.tls, undefined);
  const tls = {
    ...base.tls,
    clientCertPath: join(dir, 'crt'),
    clientKeyPath: join(dir, 'key'),
    serverCaCertPath: join(dir, 'ca'),
    serverName: 'sni',
  };
  const mtls = connectionSettings({ ...base, tls, apiKey: 'sekrit' });
  t.equal(mtls.tls?.clientCertPair?.key.toString(), '-----key-----');
  t.equal(mtls.tls?.serverNameOverride, 'sni');
  t.equal(mtls.apiKey, 'sekrit');
  const described = JSON.stringify(describeConnection({ ...base, tls, apiKey: 'sekrit' }));
  t.notMatch(described, /sekrit|-----key/, 'no secret in the log description');
  t.match(described, /"apiKey":"set"/);
  t.throws(() => connectionSettings({ ...base, tls: { ...tls, clientKeyPath: join(dir, 'missing') } }), BootError);
  t.throws(() => connectionSettings({ ...base, tls: { ...base.tls, clientCertPath: join(dir, 'crt') } }), BootError);
});

void t.test('SDK log lines go through pino with the child tags', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug', base: { child: 7 } },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  const sdk = sdkLogger(logger);
  sdk.info('Worker state changed', { state: 'RUNNING' });
  sdk.log('ERROR', 'Worker failed', { error: new Error('x') });
  sdk.trace('hidden');
  t.match(lines[0], { child: 7, level: 30, msg: 'Worker state changed', state: 'RUNNING' });
  t.match(lines[1], { level: 50, msg: 'Worker failed', err: { message: 'x' } });
  t.equal(lines.length, 2, 'levels below the logger’s are dropped');
});

void t.test("SDK lines this worker says in its own words go to debug; Core's retries start the watch", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }); // prettier-ignore
  const told: unknown[] = [];
  watchCoreRetries((e) => told.push(e));
  t.teardown(() => watchCoreRetries(null));
  const sdk = sdkLogger(logger);
  sdk.warn('Activity failed', { error: new Error('task failure: its own task line says it') });
  sdk.warn('gRPC call poll_activity_task_queue retried 6 times', { error: 'Status { code: Unavailable }' });
  sdk.warn('gRPC call poll_activity_task_queue failed', { error: 'not a retry' });
  t.match(lines, [
    { level: 20, msg: 'Activity failed' },
    { level: 20, msg: 'gRPC call poll_activity_task_queue retried 6 times' },
    { level: 40, msg: 'gRPC call poll_activity_task_queue failed' },
  ]);
  t.same(told, ['Status { code: Unavailable }'], 'a retry warning tells the watch');
});

void t.test('SDK log calls below our level never reach the Runtime logger; flush and close pass through', async (t) => {
  const seen: string[] = [];
  let flushed = 0;
  let closed = 0;
  const rec = (level: string) => (message: string) => void seen.push(`${level} ${message}`);
  const inner = {
    log: (level: string, message: string) => void seen.push(`${level} ${message}`),
    trace: rec('TRACE'),
    debug: rec('DEBUG'),
    info: rec('INFO'),
    warn: rec('WARN'),
    error: rec('ERROR'),
    flush: () => void flushed++,
    close: () => void closed++,
  };
  const gated = levelGate(inner, pino({ level: 'info' }, { write: noop }));
  gated.trace('Got workflow activation');
  gated.debug('Activity started');
  gated.log('DEBUG', 'Workflow started');
  gated.info('Worker state changed');
  gated.warn('w');
  gated.log('ERROR', 'e');
  t.same(seen, ['INFO Worker state changed', 'WARN w', 'ERROR e']);
  gated.flush?.();
  gated.close?.();
  t.equal(flushed, 1);
  t.equal(closed, 1);
  const debug = levelGate(inner, pino({ level: 'trace' }, { write: noop }));
  debug.trace('t');
  t.equal(seen.at(-1), 'TRACE t', 'trace passes when we log at trace');
});

void t.test('the per-activity logger builds its pino child only when it logs at an enabled level', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const parent = pino(
    { level: 'info', base: { child: 3 } },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((...a: Parameters<typeof parent.child>) => {
    children++;
    return child(...a);
  }) as typeof parent.child;
  const log = lazyChild(parent, { task: 'add_numbers', taskId: '1', attempt: 1 });
  log.debug({ a: 1 }, 'below the level');
  t.equal(children, 0, 'a disabled level builds nothing');
  t.equal(log.level, 'info');
  t.equal(children, 1, 'any other use builds the child');
  log.info({ a: 2 }, 'logged');
  t.match(lines, [{ child: 3, task: 'add_numbers', taskId: '1', attempt: 1, a: 2, msg: 'logged' }]);
  log.level = 'debug';
  log.debug('now enabled');
  t.equal(lines.length, 2, 'a level raised on the task logger applies to it');
  t.equal(parent.level, 'info', 'and not to the parent');
  t.equal(children, 1);
  const eager = lazyChild(parent, { task: 'x' });
  eager.warn('w');
  t.match(lines.at(-1), { task: 'x', msg: 'w' });
});

/** Runs `fn` as the SDK runs an activity: inside a Context whose cancellation signal is `cancel`. */
function inActivity<T>(cancel: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const info = { activityId: 'act-1', attempt: 1 } as unknown as Info;
  const ctx = new Context(
    info,
    new Promise<never>(() => undefined),
    cancel,
    () => undefined,
    undefined,
    undefined as never,
    noopMetricMeter,
    undefined as never,
  );
  return asyncLocalStorage.run(ctx, fn);
}

void t.test('activity wrapper: cancellation and cold stop reach ctx.signal and map to their failures', async (t) => {
  const waits = defineTask({
    name: 'waits',
    run: (_a, _k, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
  });
  const counters = { active: 0, processed: 0, failed: 0, durations: emptyHistogram() };
  const cold = new AbortController();
  const logger = pino({ level: 'silent' });
  const deps = { logger, workerName: 'w', coldSignal: cold.signal, counters, lines: taskLines(logger, true) };
  const run = createActivities(new Registry().add(waits), deps).waits as (a: unknown, k: unknown) => Promise<unknown>;

  const byServer = new AbortController();
  const cancelled = inActivity(byServer.signal, () => run([], {}));
  setImmediate(() => byServer.abort(new CancelledFailure('CANCELLED')));
  await t.rejects(cancelled, CancelledFailure, 'a server cancellation is reported as one');

  const handedBack = { name: 'ApplicationFailure', type: 'WorkerShutdown' } as unknown as Error;
  const byShutdown = new AbortController();
  const shutdown = inActivity(byShutdown.signal, () => run([], {}));
  setImmediate(() => byShutdown.abort(new CancelledFailure('WORKER_SHUTDOWN')));
  await t.rejects(shutdown, handedBack, 'the SDK shutting the worker down hands the task back');

  const quiet = new AbortController();
  const coldStopped = inActivity(quiet.signal, () => run([], {}));
  setImmediate(() => cold.abort(new Error('cold stop')));
  await t.rejects(coldStopped, handedBack, 'a cold stop hands the task back');
  await t.rejects(
    inActivity(quiet.signal, () => run([], {})),
    handedBack,
    'after a cold stop, at once',
  );
  t.match(counters, { active: 0, processed: 4, failed: 4, durations: { count: 4 } }, 'every attempt that ran is timed');
});

void t.test('ServerWatch: while Core retries, one line per check of the server, "restored" once', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }); // prettier-ignore
  let down = 3;
  let probes = 0;
  const probe = async (): Promise<void> => {
    probes++;
    if (down-- > 0) throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
  };
  const watch = new ServerWatch(new ConnectionReporter(logger, { role: 'temporal', url: '127.0.0.1:7233' }), probe, () => 1); // prettier-ignore
  t.teardown(() => watch.close());
  watch.trouble();
  watch.trouble(); // twenty pollers warn at once: one check at a time
  for (let i = 0; i < 200 && !lines.some((l) => l.msg === 'connection restored'); i++) await new Promise((r) => setTimeout(r, 5)); // prettier-ignore
  t.match(lines, [
    { level: 40, msg: 'connection lost, reconnecting', role: 'temporal', url: '127.0.0.1:7233', code: 'ECONNREFUSED', attempt: 1 }, // prettier-ignore
    { level: 40, msg: 'connection failed, retrying', attempt: 2 },
    { level: 40, msg: 'connection failed, retrying', attempt: 3 },
    { level: 30, msg: 'connection restored', attempts: 3 },
  ]);
  t.equal(probes, 4, 'three failed checks and the one that answered');
  t.same([1, 2, 3, 4, 5, 6].map(watchDelayMs), [250, 500, 1000, 2000, 4000, 5000], 'doubling, capped at 5 s');
  await t.rejects(tcpProbe('127.0.0.1:1', 1000)(), { code: 'ECONNREFUSED' }, 'the probe: a TCP connect');
});
