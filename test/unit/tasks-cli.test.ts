// list-tasks and submit through the real commander program (runCli), with an in-process backend client so the
// whole path — flags, settings, registry, argument parsing, result printing, exit codes — runs without a server.
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runCli } from '../../src/cli/run.js';
import { register as registerListTasks, type TaskRow } from '../../src/cli/list-tasks.js';
import { makeRegister, parseArg } from '../../src/cli/submit.js';
import { createLocalClient } from '../../src/client/local.js';
import { currentHost } from '../../src/config/load.js';
import { loadRegistry } from '../../src/tasks/loader.js';

const fixture = fileURLToPath(new URL('../fixtures/tasks/conformance.mjs', import.meta.url));
const badModule = fileURLToPath(new URL('../fixtures/tasks/loader/throws.mjs', import.meta.url));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = {
    env: {},
    host: { ...currentHost({}), cwd: fileURLToPath(new URL('.', import.meta.url)) },
    stdout: (s: string) => {
      out += s;
    },
    stderr: (s: string) => {
      err += s;
    },
  };
  const submit = makeRegister({ createClient: async (config) => createLocalClient(await loadRegistry(config)) });
  const code = await runCli(argv, io, {
    extraCommands: () => Promise.resolve([registerListTasks, submit]),
    runSupervisor: () => Promise.reject(new Error('the worker must not start in these tests')),
  });
  return { code, out, err };
}

void t.test('list-tasks prints a table of the registry', async (t) => {
  const r = await cli(['list-tasks']);
  t.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+KIND\s+QUEUE\s+RETRIES\s+TIMEOUT\s+DESCRIPTION$/);
  t.match(r.out, /^add_numbers\s+task\s+-\s+0\s+-\s+add_numbers\(a, b\)/m);
  t.equal(lines.length, 8, 'header + 7 built-ins');
});

void t.test('list-tasks --json with a task module, and --no-builtins', async (t) => {
  const r = await cli(['list-tasks', '--json', '--tasks', fixture]);
  t.equal(r.code, 0, r.err);
  const rows = JSON.parse(r.out) as TaskRow[];
  t.match(
    rows.find((x) => x.name === 'conformance_timeout'),
    { kind: 'task', timeoutMs: 500, retries: 0, origin: fixture },
  );
  t.match(
    rows.find((x) => x.name === 'conformance_flaky'),
    { retries: 3 },
  );
  t.match(
    rows.find((x) => x.name === 'conformance_dag'),
    { kind: 'workflow', retries: null, timeoutMs: null },
  );
  t.ok(rows.some((x) => x.name === 'echo' && x.origin === 'builtin'));

  const table = await cli(['--tasks', fixture, 'list-tasks']);
  t.match(table.out, /^conformance_timeout\s+task\s+-\s+0\s+0\.5s\s+time limit 500 ms/m);

  const none = await cli(['list-tasks', '--json', '--no-builtins']);
  t.same(JSON.parse(none.out), []);
});

void t.test('a bad task module is a config error (78) in one line', async (t) => {
  const r = await cli(['list-tasks', '--tasks', badModule]);
  t.equal(r.code, 78);
  t.equal(
    r.err,
    `task-backend-worker: task module ${badModule}:1:7 (from --tasks): failed to import: Error: database unreachable at import time\n`,
  );
  t.equal(r.err.trimEnd().split('\n').length, 1);
});

void t.test('submit prints the id, and with --wait the JSON result', async (t) => {
  const plain = await cli(['submit', 'add_numbers', '2', '3']);
  t.equal(plain.code, 0, plain.err);
  t.match(plain.out, /^[0-9a-f-]{36}\n$/);

  const r = await cli(['submit', 'add_numbers', '2', '3', '--wait']);
  t.equal(r.code, 0, r.err);
  const [id, value] = r.out.trimEnd().split('\n');
  t.match(id, /^[0-9a-f-]{36}$/);
  t.equal(value, '5');

  const words = await cli(['submit', 'echo', 'hello', '--wait']);
  t.equal(words.out.trimEnd().split('\n')[1], '"Echo: hello"', 'a bare word is a string');

  const kw = await cli([
    'submit',
    'process_data',
    '{"a": 1, "b": "x"}',
    '--kwargs',
    '{"operation": "transform"}',
    '--wait',
  ]);
  t.equal(kw.code, 0, kw.err);
  t.match(JSON.parse(kw.out.trimEnd().split('\n')[1] as string), { transformed: { a: '1', b: 'X' } });

  const wf = await cli(['--tasks', fixture, 'submit', 'conformance_dag', '2', '3', '--wait', '--timeout', '10']);
  t.equal(wf.out.trimEnd().split('\n')[1], '"15 | Result is 5"');
});

void t.test('submit failures and refusals', async (t) => {
  const failed = await cli(['--tasks', fixture, 'submit', 'conformance_fail_typed', 'x', '--wait']);
  t.equal(failed.code, 1);
  t.match(failed.err, /conformance_fail_typed [0-9a-f-]+ failed: ValueError: bad value: x/);

  // The task usually exists in a module this client was not told about: say how to make it known.
  const unknown = await cli(['submit', 'multiply', '6', '7']);
  t.equal(unknown.code, 64);
  t.equal(
    unknown.err,
    'task-backend-worker: unknown task "multiply": without --tasks this client knows only the built-in tasks; ' +
      'pass --tasks ./tasks.mjs (or TASK_MODULES) naming the module that defines it, or --any-name to send it ' +
      'anyway (the worker may know it)\n',
  );
  const withModules = await cli(['--tasks', fixture, 'submit', 'multiply']);
  t.equal(withModules.code, 64);
  t.match(
    withModules.err,
    /^task-backend-worker: unknown task "multiply": neither the built-ins nor .*conformance\.mjs define it \(known: add_numbers, .*\); check the name, or --any-name to send it anyway/,
  );
  // --any-name sends it anyway, as Celery's send_task does; here the in-process worker does not know it either.
  const anyName = await cli(['submit', 'multiply', '6', '7', '--any-name', '--wait']);
  t.equal(anyName.code, 1, anyName.err);
  t.match(anyName.out, /^[0-9a-f-]{36}\n$/, 'sent: an id is printed');
  t.match(anyName.err, /multiply [0-9a-f-]+ failed: NotRegistered/);

  const badKw = await cli(['submit', 'echo', '--kwargs', '[1]']);
  t.equal(badKw.code, 64);
  t.match(badKw.err, /--kwargs.*must be a JSON object/);

  const badCountdown = await cli(['submit', 'echo', 'x', '--countdown', '-1']);
  t.equal(badCountdown.code, 64);

  const timedOut = await cli(['submit', 'simulate_work', '5', '--wait', '--timeout', '0.1']);
  t.equal(timedOut.code, 1);
  t.match(timedOut.err, /failed: TimeoutError: /);
});

void t.test('parseArg: JSON when it parses, else the string', async (t) => {
  t.same(['5', '"5"', '[1,2]', '{"a":1}', 'true', 'null', 'hello', '1e3', '{bad'].map(parseArg), [
    5,
    '5',
    [1, 2],
    { a: 1 },
    true,
    null,
    'hello',
    1000,
    '{bad',
  ]);
});
