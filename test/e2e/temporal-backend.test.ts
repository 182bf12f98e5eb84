// The Temporal backend in-process against a real dev server: the conformance suite through the TS client,
// task policies (retries, typed failures), warm drain finishing in-flight work and cold stop handing it back.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import type { WorkerBackend } from '../../src/backends/contract.js';
import { createClient } from '../../src/backends/temporal/client.js';
import { createBackend } from '../../src/backends/temporal/index.js';
import type { WorkerConfig } from '../../src/config/types.js';
import { defineTask } from '../../src/tasks/define.js';
import { loadRegistry } from '../../src/tasks/loader.js';
import type { Registry } from '../../src/tasks/registry.js';
import { runConformance } from '../conformance/cases.js';
import { startTemporalDevServer, temporalTestConfig, waitFor } from '../helpers/temporal.js';

const fixture = fileURLToPath(new URL('../fixtures/tasks/conformance.mjs', import.meta.url));
const logger = pino({ level: process.env.TBW_TEST_LOG ?? 'silent' });

/** Attempts seen by the in-process tasks below, by task name. */
const attempts = new Map<string, number[]>();
const record = (name: string, attempt: number): void => {
  attempts.set(name, [...(attempts.get(name) ?? []), attempt]);
};

let release: () => void = () => undefined;
const released = new Promise<void>((r) => (release = r));

const extraTasks = [
  // Waits until the test releases it: in flight while a drain starts.
  defineTask({
    name: 'test_gated',
    async run(args, _kwargs, ctx) {
      record('test_gated', ctx.attempt);
      await released;
      return { n: args[0], attempt: ctx.attempt };
    },
  }),
  // First attempt hangs until aborted (cold stop); any later attempt returns at once. No retries of its own.
  defineTask({
    name: 'test_hang_once',
    async run(_args, _kwargs, ctx) {
      record('test_hang_once', ctx.attempt);
      if ((attempts.get('test_hang_once') ?? []).length > 1) return 'second run';
      await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
      return 'unreachable';
    },
  }),
];

async function registry(): Promise<Registry> {
  const r = await loadRegistry({ taskModules: [fixture], builtins: true });
  for (const d of extraTasks) r.add(d, 'test');
  return r;
}

async function startBackend(
  config: WorkerConfig,
  index = 0,
): Promise<{ backend: WorkerBackend; cold: AbortController }> {
  const backend = createBackend();
  const cold = new AbortController();
  await backend.start({
    index,
    config,
    registry: await registry(),
    logger,
    coldSignal: cold.signal,
    fail: (err) => t.fail(`backend failed: ${err.message}`),
    toPool: () => undefined,
    busy: () => undefined,
  });
  return { backend, cold };
}

void t.test('temporal backend on a real dev server', async (t) => {
  const server = await startTemporalDevServer();
  t.teardown(() => server.stop());
  const config = temporalTestConfig(server.address, { childConcurrency: 8 });
  const client = createClient(config);
  t.teardown(() => client.close());

  await t.test('conformance suite through the TS client', async (t) => {
    const { backend } = await startBackend(config);
    t.teardown(() => backend.stop());
    await runConformance(t, client, { backend: 'temporal', resultTimeoutMs: 30_000 });
    const stats = backend.stats();
    t.ok(stats.processed > 20, 'the backend counted the tasks it ran');
    t.equal(stats.slots, 8, 'slots = child concurrency × queues');
    t.ok(stats.lastPollAt !== null && Date.now() - stats.lastPollAt < 5000, 'polling is reported as fresh');
  });

  await t.test('warm drain finishes in-flight activities; the workflows complete on the next worker', async (t) => {
    const first = await startBackend(config, 0);
    const ids = await Promise.all([1, 2, 3].map(async (n) => (await client.submit('test_gated', { args: [n] })).id));
    await waitFor('3 gated tasks in flight', () => first.backend.stats().active === 3);
    const drained = first.backend.drain(Date.now() + 15_000);
    release();
    await drained;
    t.equal(first.backend.stats().active, 0, 'nothing in flight after drain');
    // The workflow tasks that follow the activities need a live worker: a replacement child.
    const second = await startBackend(config, 1);
    t.teardown(() => second.backend.stop());
    const results = await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 30_000 })));
    t.same(
      results,
      [1, 2, 3].map((n) => ({ n, attempt: 1 })),
      'every in-flight task finished on its first attempt',
    );
    t.same(attempts.get('test_gated'), [1, 1, 1], 'no task ran twice');
  });

  await t.test('cold stop hands in-flight work back: it runs again elsewhere despite retries=0', async (t) => {
    const first = await startBackend(config, 0);
    const { id } = await client.submit('test_hang_once', {});
    await waitFor('the task in flight', () => first.backend.stats().active === 1);
    first.cold.abort(); // what the child runtime does on a cold shutdown
    await first.backend.stop();
    const second = await startBackend(config, 1);
    t.teardown(() => second.backend.stop());
    t.equal(await client.result(id, { timeoutMs: 30_000 }), 'second run');
    t.equal(attempts.get('test_hang_once')?.length, 2, 'ran exactly twice');
  });

  await t.test('unknown names and bad arguments fail with a typed error', async (t) => {
    const { backend } = await startBackend(config);
    t.teardown(() => backend.stop());
    const { id } = await client.submit('no_such_task', { args: [1] });
    await t.rejects(client.result(id, { timeoutMs: 20_000 }), { name: 'NotRegistered' });
    const r = await client.submit('add_numbers', { args: [1] });
    await t.rejects(client.result(r.id, { timeoutMs: 20_000 }), { name: 'TypeError', message: /missing 1 required/ });
  });
});
