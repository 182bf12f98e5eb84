// The package-level client: names checked against the local registry, Celery-style units converted, the task's
// queue used by default, one backend connection per client, and errors carrying the remote exception type.
import t from 'tap';
import { closeClients, createTaskClient, defaultClientDeps, result, submit } from '../../src/client/index.js';
import { createLocalClient } from '../../src/client/local.js';
import type { BackendClient, SubmitOptions } from '../../src/client/types.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { defineTask } from '../../src/tasks/define.js';
import { UnknownTaskError } from '../../src/tasks/errors.js';
import { loadRegistry } from '../../src/tasks/loader.js';
import { Registry } from '../../src/tasks/registry.js';
import { BACKENDS } from '../../src/tasks/types.js';

const config = compileConfig({ env: {}, host: currentHost({}) });

/** The local client, recording what the TaskClient hands to the backend. */
function recording(registry: Registry): { calls: [string, SubmitOptions][]; closed: number; client: BackendClient } {
  const local = createLocalClient(registry);
  const rec = { calls: [] as [string, SubmitOptions][], closed: 0, client: local };
  rec.client = {
    submit: (name, opts) => (rec.calls.push([name, opts]), local.submit(name, opts)),
    result: (id, opts) => local.result(id, opts),
    close: () => (rec.closed++, local.close()),
  };
  return rec;
}

void t.test('submit/result through a TaskClient', async (t) => {
  const registry = await loadRegistry({ taskModules: [], builtins: true });
  registry.add(defineTask({ name: 'routed', queue: 'special', run: () => 'r' }), 'test');
  const rec = recording(registry);
  let created = 0;
  const c = createTaskClient(config, {
    loadRegistry: () => Promise.resolve(registry),
    createClient: () => (created++, Promise.resolve(rec.client)),
  });
  const { id } = await c.submit('add_numbers', { args: [2, 3] });
  t.equal(await c.result(id, { timeout: 5 }), 5);
  await c.submit('echo', { kwargs: { message: 'm' }, countdown: 0.05, queue: 'q1' });
  await c.submit('routed');
  t.same(rec.calls, [
    ['add_numbers', { args: [2, 3], kwargs: {} }],
    ['echo', { args: [], kwargs: { message: 'm' }, queue: 'q1', countdownMs: 50 }],
    ['routed', { args: [], kwargs: {}, queue: 'special' }],
  ]);
  t.equal(created, 1, 'one backend connection, made lazily and reused');

  await t.rejects(c.submit('nope'), UnknownTaskError);
  await t.rejects(c.submit('nope'), { message: /^unknown task "nope"; known tasks: add_numbers, .*routed/ });
  await t.rejects(c.submit('echo', { countdown: -1 }), {
    name: 'TypeError',
    message: 'countdown must be a number of seconds >= 0',
  });

  const failing = await c.submit('add_numbers', { args: [1] });
  await t.rejects(c.result(failing.id), {
    name: 'TypeError',
    message: "add_numbers() missing 1 required positional argument: 'b'",
  });
  const slow = await c.submit('simulate_work', { args: [5] });
  await t.rejects(c.result(slow.id, { timeout: 0.05 }), { name: 'TimeoutError' });

  await c.close();
  await c.close();
  t.equal(rec.closed, 1, 'close is idempotent');
});

void t.test('package-level submit/result check names and units before any connection', async (t) => {
  const cfg = { ...config, backend: 'temporal' as const, temporal: { ...config.temporal, address: '127.0.0.1:1' } };
  t.teardown(closeClients);
  await t.rejects(submit('nope', {}, { config: cfg }), UnknownTaskError);
  await t.rejects(result('x', { timeout: -1 }, { config: cfg }), { name: 'TypeError' });
});

void t.test('every backend provides src/backends/<name>/client.ts createClient(config)', async (t) => {
  for (const backend of BACKENDS) {
    const client = await defaultClientDeps.createClient({ ...config, backend });
    t.ok(
      ['submit', 'result', 'close'].every(
        (m) => typeof (client as unknown as Record<string, unknown>)[m] === 'function',
      ),
      backend,
    );
    await client.close();
  }
});
