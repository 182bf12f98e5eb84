// The Hatchet backend in-process against a real hatchet-lite: the conformance suite through the TS client, plus
// what is specific to Hatchet (the engine reports its stamped version, the SDK's signal handlers are gone, stats).
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createBackend } from '../../src/backends/hatchet/index.js';
import { createClient } from '../../src/backends/hatchet/client.js';
import { loadRegistry } from '../../src/tasks/loader.js';
import { runConformance } from '../conformance/cases.js';
import { REPO_ROOT, hatchetWorkerConfig, startHatchet } from '../helpers/hatchet.js';

const server = await startHatchet();
t.teardown(() => server.stop());

const config = hatchetWorkerConfig(server, {
  childConcurrency: 8,
  taskModules: [join(REPO_ROOT, 'test', 'fixtures', 'tasks', 'conformance.mjs')],
});
const registry = await loadRegistry({ taskModules: config.taskModules, builtins: true });
const cold = new AbortController();
const sigtermBefore = process.listeners('SIGTERM').length;
const backend = createBackend({ onLost: (err) => t.fail(`connection lost: ${err.message}`) });
await backend.start({
  index: 0,
  config,
  registry,
  logger: pino({ level: 'warn' }),
  coldSignal: cold.signal,
  fail: (err) => t.fail(`backend failed: ${err.message}`),
  toPool: () => undefined,
  busy: () => undefined,
});
t.teardown(() => backend.stop());
const client = createClient(config);
t.teardown(() => client.close());

void t.test('the pinned engine reports its stamped version', async (t) => {
  t.match(server.version, /^v0\.\d+\.\d+$/);
  const mod = await import('@hatchet-dev/typescript-sdk/v1/index.js');
  // CommonJS through ESM: the named exports may sit on `default` depending on the loader.
  const { HatchetClient } = ((mod as unknown as { default?: typeof mod }).default ?? mod) as typeof mod;
  const h = HatchetClient.init({
    token: server.token,
    host_port: server.hostPort,
    api_url: server.apiUrl,
    tls_config: { tls_strategy: 'none' },
    log_level: 'ERROR',
  });
  t.equal(await h.dispatcher.getVersion(), server.version, 'GetVersion answers the stamped tag, not v0.1.0-alpha.0');
});

void t.test('the SDK leaves no SIGTERM handler of its own behind', async (t) => {
  t.equal(process.listeners('SIGTERM').length, sigtermBefore);
});

void t.test('args and kwargs reach the task', async (t) => {
  const a = await client.submit('add_numbers', { args: [2], kwargs: { b: 40 } });
  t.equal(await client.result(a.id, { timeoutMs: 30_000 }), 42);
  const s = backend.stats();
  t.ok(s.processed >= 1, 'processed counted');
  t.equal(s.slots, 8, 'slots = childConcurrency');
  t.ok(s.lastPollAt !== null && Date.now() - s.lastPollAt < 10_000, 'lastPollAt is recent');
});

void t.test('conformance', async (t) => {
  await runConformance(t, client, { backend: 'hatchet', resultTimeoutMs: 60_000 });
});
