// The layering of src/ is enforced by the project's own ESLint config (eslint.config.js, the table in
// docs/architecture.md): a planted forbidden import is reported by `npm run lint`'s rule, an allowed one is not.
// Lints in memory with the real config, only the import rule (type information is not needed for it).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import t from 'tap';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: { languageOptions: { parserOptions: { project: null, projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
});

async function problems(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  return (r?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const forbidden: [string, string][] = [
  ['src/supervisor/planted.ts', "import { backendEntry } from '../backends/registry.js';"],
  ['src/supervisor/planted.ts', "import type { WorkerBackend } from '../backends/contract.js';"],
  ['src/supervisor/planted.ts', "import { childEnv } from '../ops/child-env.js';"],
  ['src/supervisor/planted.ts', "import { Registry } from '../tasks/registry.js';"],
  ['src/supervisor/planted.ts', "import { runCli } from '../cli/run.js';"],
  ['src/backends/celery/planted.ts', "import { startSupervisor } from '../../supervisor/index.js';"],
  ['src/backends/celery/transports/planted.ts', "import type { PoolState } from '../../../supervisor/types.js';"],
  ['src/backends/planted.ts', "import { runPool } from '../ops/pool.js';"],
  ['src/backends/hatchet/planted.ts', "import { runCli } from '../../cli/run.js';"],
  ['src/tasks/planted.ts', "import { createBackend } from '../backends/celery/index.js';"],
  ['src/config/planted.ts', "import { parseToken } from '../backends/hatchet/connection.js';"],
  ['src/config/planted.ts', "import { poolOptions } from '../supervisor/index.js';"],
  ['src/ipc/planted.ts', "import type { PoolState } from '../supervisor/types.js';"],
  ['src/log/planted.ts', "import { MetricsCollector } from '../ops/metrics.js';"],
  ['src/util/planted.ts', "import type { WorkerConfig } from '../config/types.js';"],
  ['src/child/planted.ts', "import { startSupervisor } from '../supervisor/index.js';"],
  ['src/cli/planted.ts', "import { startSupervisor } from '../supervisor/index.js';"],
];

const allowed: [string, string][] = [
  ['src/supervisor/planted.ts', "import type { WorkerConfig } from '../config/types.js';"],
  ['src/supervisor/planted.ts', "import { EXIT } from '../exit-codes.js';"],
  ['src/backends/celery/planted.ts', "import type { PoolHandle } from '../../supervisor/api.js';"],
  ['src/backends/celery/planted.ts', "import { pyRepr } from '../../tasks/pyfmt.js';"],
  ['src/ops/planted.ts', "import { startSupervisor } from '../supervisor/index.js';"],
  ['src/ops/planted.ts', "import { backendEntry } from '../backends/registry.js';"],
  ['src/cli/planted.ts', "import { runPool } from '../ops/pool.js';"],
  ['src/child/planted.ts', "import type { WorkerBackend } from '../backends/contract.js';"],
];

void t.test('a forbidden import between layers fails the lint', async (t) => {
  for (const [file, code] of forbidden) {
    const found = await problems(file, code);
    t.equal(found.length, 1, `${file}: ${code} → ${found.join('; ')}`);
    t.match(found[0] ?? '', /^no-restricted-imports: .* src\/\w+ may not import src\/\w+/);
  }
});

void t.test('the allowed arrows pass', async (t) => {
  for (const [file, code] of allowed) t.same(await problems(file, code), [], `${file}: ${code}`);
});

void t.test('the real tree has no violation', async (t) => {
  const results = await eslint.lintFiles(['src/**/*.ts']);
  const found = results.flatMap((r) => r.messages.map((m) => `${r.filePath}:${m.line} ${m.message}`));
  t.same(found, [], 'no file of src/ imports across a forbidden arrow');
});
