// Proves the conformance cases against the reference executor (in-process local client), so a backend that
// fails a case is wrong, not the case. Loads the fixture module the way a worker does (built dist/ imports).
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createLocalClient } from '../../src/client/local.js';
import { loadRegistry } from '../../src/tasks/loader.js';
import { cases, runConformance, selectCases } from '../conformance/cases.js';

const fixture = fileURLToPath(new URL('../fixtures/tasks/conformance.mjs', import.meta.url));

void t.test('every conformance case passes on the local reference client', async (t) => {
  const registry = await loadRegistry({ taskModules: [fixture], builtins: true });
  const client = createLocalClient(registry, { backend: 'celery', workerName: 'local@test' });
  t.teardown(() => client.close());
  await runConformance(t, client, { backend: 'celery', resultTimeoutMs: 15_000 });
});

void t.test('every case names a registered task or workflow', async (t) => {
  const registry = await loadRegistry({ taskModules: [fixture], builtins: true });
  for (const c of cases) t.ok(registry.has(c.task), `${c.id}: ${c.task} is registered`);
  t.equal(new Set(cases.map((c) => c.id)).size, cases.length, 'case ids are unique');
});

void t.test('selectCases filters and rejects unknown ids', async (t) => {
  t.same(
    selectCases({ only: ['echo', 'dag workflow'] }).map((c) => c.id),
    ['echo', 'dag workflow'],
  );
  t.notOk(selectCases({ skip: ['countdown'] }).some((c) => c.id === 'countdown'));
  t.throws(() => selectCases({ skip: ['no such case'] }), /no case with id "no such case"/);
});
