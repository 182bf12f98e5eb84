// loadRegistry: built-ins, user modules, and one clear TaskLoadError line naming the module for every problem.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { relative } from 'node:path';
import t from 'tap';
import { TaskLoadError, loadRegistry, modulePath } from '../../src/tasks/loader.js';
import { runByName } from '../../src/tasks/local-runner.js';

const fx = (name: string): string => fileURLToPath(new URL(`../fixtures/tasks/loader/${name}`, import.meta.url));

async function loadError(modules: string[], builtins = true): Promise<TaskLoadError> {
  try {
    await loadRegistry({ taskModules: modules, builtins });
  } catch (e) {
    if (e instanceof TaskLoadError) return e;
    throw e;
  }
  throw new Error('loadRegistry did not fail');
}

void t.test('built-ins only, or none', async (t) => {
  const r = await loadRegistry({ taskModules: [], builtins: true });
  t.same(r.names(), [
    'add_numbers',
    'concat_with_number',
    'echo',
    'format_result_message',
    'health_check',
    'process_data',
    'simulate_work',
  ]);
  t.equal(r.origin('echo'), 'builtin');
  t.same((await loadRegistry({ taskModules: [], builtins: false })).names(), []);
});

void t.test('a module with named and default exports', async (t) => {
  const r = await loadRegistry({ taskModules: [fx('good.mjs')], builtins: false });
  t.same(r.names(), ['good_default_only', 'good_double', 'good_pipeline'], 'deduplicated, helpers ignored');
  const d = r.task('good_double');
  t.equal(d?.queue, 'math');
  t.equal(d?.retries, 2);
  t.equal(d?.timeoutMs, 1500);
  t.equal(r.origin('good_double'), fx('good.mjs'));
  t.equal(r.workflow('good_pipeline')?.kind, 'workflow');
  t.equal(await runByName(r, 'good_pipeline', [3]), 12, 'the loaded workflow runs');
});

void t.test('module given as a file URL or a relative path', async (t) => {
  const byUrl = await loadRegistry({ taskModules: [pathToFileURL(fx('plain.mjs')).href], builtins: false });
  t.same(byUrl.names(), ['plain_task']);
  t.equal(byUrl.task('plain_task')?.retries, 1, 'hand-written definitions are normalised');
  t.equal(byUrl.task('plain_task')?.retryBackoff.factor, 2, 'with the default backoff');
  t.equal(await runByName(byUrl, 'plain_task', [1, 2, 3]), 3);
  const rel = relative(process.cwd(), fx('plain.mjs'));
  t.equal(modulePath(rel), fx('plain.mjs'));
  t.same((await loadRegistry({ taskModules: [rel], builtins: false })).names(), ['plain_task']);
});

void t.test('every problem is one TaskLoadError line naming the module', async (t) => {
  const cases: [string[], RegExp][] = [
    [[fx('missing.mjs')], /: file not found$/],
    [[fx('throws.mjs')], /: failed to import: Error: database unreachable at import time$/],
    [[fx('syntax-error.mjs')], /: failed to import: SyntaxError: /],
    [[fx('empty.mjs')], /: exports no task or workflow definitions/],
    [[fx('bad-default.mjs')], /: default export is a number; export a definition or an array of definitions/],
    [[fx('bad-array.mjs')], /: export default\[1\] is a string, not a task or workflow definition/],
    [[fx('invalid-def.mjs')], /: export "broken" is not a valid definition: task broken_task: run must be a function/],
    [
      [fx('dup-builtin.mjs')],
      /: duplicate task name "add_numbers" \(from .*dup-builtin\.mjs; already defined by builtin\)/,
    ],
    [
      [fx('dup-a.mjs'), fx('dup-b.mjs')],
      /dup-b\.mjs: duplicate task name "dup_task" .*already defined by .*dup-a\.mjs\)/,
    ],
    [[fx('unknown-step.mjs')], /: workflow "unknown_step_wf" has a step naming an unknown task: "no_such_task"/],
    [
      [fx('step-is-workflow.mjs')],
      /: workflow "outer_wf" has a step naming a workflow \(steps must be tasks\): "inner_wf"/,
    ],
  ];
  for (const [modules, re] of cases) {
    const e = await loadError(modules);
    const last = modules[modules.length - 1] as string;
    t.match(e.message, re, re.source);
    t.ok(e.location.startsWith(last), 'names the module');
    t.ok(e.message.startsWith(`task module ${e.location}: `), 'names the place');
    t.notMatch(e.message, /\n/, 'one line');
    t.equal(e.module, last);
  }
});

void t.test('a module that fails to load is shown with its file, line and column', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['throws.mjs', ':1:7', /^failed to import: Error: database unreachable at import time$/],
    ['throws-helper.mjs', ':4:33', /^failed to import: Error: TBW_TEST_SURELY_UNSET_DATABASE_URL is not set$/],
    ['syntax-error.mjs', ':1:18', /^failed to import: SyntaxError: Unexpected token ';'$/],
    ['bad-import.mjs', ':2:10', /^failed to import: SyntaxError: The requested module '.\/plain.mjs' does not provide/],
  ];
  for (const [file, at, problem] of cases) {
    const e = await loadError([fx(file)]);
    t.equal(e.location, `${fx(file)}${at}`, file);
    t.match(e.problem, problem);
  }
  // The TypeScript hint needs a node without a TypeScript loader: test/process/operator-cli.test.ts.
});

void t.test('a workflow step may rely on a built-in only when built-ins are loaded', async (t) => {
  const e = await loadError([fx('unknown-step.mjs')], false);
  t.match(e.message, /step naming an unknown task: "add_numbers"/);
});
