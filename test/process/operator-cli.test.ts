// What an operator sees, read from the real binary's output: typos in setting names (one warning line each, or
// exit 78 with --strict-env), errors in the user's own words and the same in every command, a broken task module
// with file:line:col, a dead broker or no pool for submit/status (one line, exit 69, no library output), and
// --env-file / --env through npx and through node itself.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { typeScriptHint } from '../../src/tasks/loader.js';
import { fixture, ROOT, until } from './_helpers.js';

const BIN = join(ROOT, 'bin', 'task-backend-worker');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
// As users run it: none of the caller's settings, no tap loaders (NODE_OPTIONS would give node a TS loader).
const BASE_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      '/usr/bin/env',
      ['-u', 'NODE_OPTIONS', file, ...args],
      { env: { ...BASE_ENV, ...opts.env }, cwd: opts.cwd ?? dir, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
const run = (args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> =>
  exec(BIN, args, opts);
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

const dir = mkdtempSync(join(tmpdir(), 'tbw-operator-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

void t.test(
  'typos in setting names: one warning line each, the same in every command; --strict-env exits 78',
  async (t) => {
    writeFileSync(
      join(dir, 'typo.env'),
      'CELERY_BROKER_ULR=redis://127.0.0.1:1/0\nTASK_WORKER_CONCURENCY=3\nDATABASE_URL=postgres://db\n',
    );
    const env = { TASK_ENV_FILE: 'typo.env', HATCHET_CLIENT_TOKN: 'x' };
    const warnings = [
      'task-backend-worker: warning: CELERY_BROKER_ULR in env file typo.env is not a setting and is ignored; did you mean CELERY_BROKER_URL?',
      'task-backend-worker: warning: TASK_WORKER_CONCURENCY in env file typo.env is not a setting and is ignored; did you mean TASK_WORKER_CONCURRENCY?',
      'task-backend-worker: warning: HATCHET_CLIENT_TOKN in the environment is not a setting and is ignored; did you mean HATCHET_CLIENT_TOKEN?',
    ];
    for (const args of [['config'], ['list-tasks']]) {
      const r = await run(args, { env });
      t.equal(r.code, 0, `${args[0]}: runs`);
      t.same(lines(r.stderr), warnings, `${args[0]}: one warning line per unknown name, nothing else`);
      if (args[0] === 'config')
        t.match(r.stdout, /^TASK_WORKER_CONCURRENCY\s+= \d+\s+# default$/m, 'a typo sets nothing');
    }
    const strict = await run(['config', '--strict-env'], { env });
    t.equal(strict.code, EXIT.CONFIG);
    t.same(lines(strict.stderr), [
      'task-backend-worker: unknown names refused by --strict-env: CELERY_BROKER_ULR in env file typo.env (did you mean CELERY_BROKER_URL?), TASK_WORKER_CONCURENCY in env file typo.env (did you mean TASK_WORKER_CONCURRENCY?), HATCHET_CLIENT_TOKN in the environment (did you mean HATCHET_CLIENT_TOKEN?)',
    ]);
    t.equal(strict.stdout, '');

    // The worker itself: the same lines before it starts, then the pool runs.
    const cp = spawn(
      '/usr/bin/env',
      ['-u', 'NODE_OPTIONS', BIN, '--log-format', 'json', '--control-socket', join(dir, 'w.sock')],
      {
        cwd: dir,
        env: { ...BASE_ENV, ...env, TBW_WORKER_ENTRY: fixture('ok'), TASK_BACKEND_TYPE: 'temporal' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.teardown(() => void cp.kill('SIGKILL'));
    let out = '';
    let err = '';
    cp.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    cp.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    await until(() => out.includes('"child ready"'), 20_000, 'a ready child');
    t.same(lines(err), warnings, 'the worker: the same warning lines on stderr');
    t.match(out, /"msg":"child ready"/);
    cp.kill('SIGTERM');
    t.equal(await new Promise((r) => cp.once('exit', r)), EXIT.OK);
  },
);

void t.test('a bad value gets the same line, naming what the user typed, in every command', async (t) => {
  writeFileSync(join(dir, 'bad-url.env'), 'CELERY_BROKER_URL=kafka://user:hunter2@rabbit//\n');
  const line =
    'task-backend-worker: invalid CELERY_BROKER_URL "kafka://user:***@rabbit//" (from env file bad-url.env): expected a URL starting with redis://, rediss://, amqp://, amqps:// or pyamqp://';
  for (const args of [[], ['config'], ['list-tasks'], ['submit', 'add_numbers', '1', '2'], ['status']]) {
    const r = await run(['--env', 'bad-url.env', ...args]);
    t.equal(r.code, EXIT.CONFIG, `${args[0] ?? 'worker'}: exit 78`);
    t.same(lines(r.stderr), [line], `${args[0] ?? 'worker'}: exactly the one line`);
    t.notMatch(r.stderr, /celery\.brokerUrl|hunter2/);
  }
  const flag = await run(['submit', 'add_numbers', '1', '2', '--broker', 'ftp://x']);
  t.equal(flag.code, EXIT.USAGE);
  t.same(lines(flag.stderr), [
    'task-backend-worker: invalid --broker "ftp://x": expected a URL starting with redis://, rediss://, amqp://, amqps:// or pyamqp://',
  ]);
});

void t.test('a task module that does not load: file:line:col and the first line of the error', async (t) => {
  writeFileSync(join(dir, 'syntax.mjs'), "import { defineTask } from 'x';\n\nexport const a = {\n  foo bar\n};\n");
  writeFileSync(
    join(dir, 'settings.mjs'),
    '// reads its settings at import time\nconst url = process.env.DATABASE_URL;\nif (!url) throw new Error("DATABASE_URL is not set");\nexport default [];\n',
  );
  writeFileSync(join(dir, 'tasks.ts'), 'export const n: number = 1;\n');
  const cases: [string, string, string][] = [
    ['syntax.mjs', ':4:7', "failed to import: SyntaxError: Unexpected identifier 'bar'"],
    ['settings.mjs', ':3:17', 'failed to import: Error: DATABASE_URL is not set'],
  ];
  for (const [file, at, problem] of cases) {
    for (const args of [
      ['--tasks', file],
      ['list-tasks', '--tasks', file],
    ]) {
      const r = await run(args);
      t.equal(r.code, EXIT.CONFIG, `${file} ${args[0]}: exit 78`);
      t.same(lines(r.stderr), [`task-backend-worker: task module ${join(dir, file)}${at} (from --tasks): ${problem}`]);
    }
  }
  const fromEnv = await run(['list-tasks'], { env: { TASK_MODULES: 'settings.mjs' } });
  t.same(lines(fromEnv.stderr), [
    `task-backend-worker: task module ${join(dir, 'settings.mjs')}:3:17 (from TASK_MODULES in the environment): failed to import: Error: DATABASE_URL is not set`,
  ]);
  const ts = await run(['list-tasks', '--tasks', 'tasks.ts']);
  t.equal(ts.code, EXIT.CONFIG);
  t.same(lines(ts.stderr), [
    `task-backend-worker: task module ${join(dir, 'tasks.ts')} (from --tasks): ${typeScriptHint(process.version)}`,
  ]);
});

void t.test('submit and status with nothing to talk to: one line naming it, exit 69', async (t) => {
  const port = await deadPort();
  const url = `redis://:hunter2@127.0.0.1:${port}/0`;
  const shown = `redis://:***@127.0.0.1:${port}/0`;
  for (const extra of [[], ['--wait']]) {
    const r = await run(['submit', 'add_numbers', '2', '3', ...extra], { env: { CELERY_BROKER_URL: url } });
    t.equal(r.code, EXIT.UNAVAILABLE, `submit ${extra.join(' ')}: exit 69`);
    t.same(lines(r.stderr), [
      `task-backend-worker: cannot reach the Celery broker at ${shown} (ECONNREFUSED after 3 attempts); is it running? (set by CELERY_BROKER_URL in the environment)`,
    ]);
    t.equal(r.stdout, '', 'no id: nothing was sent');
    t.notMatch(r.stderr, /ioredis|Unhandled|maxRetriesPerRequest|hunter2/);
  }
  const byFlag = await run(['submit', 'echo', 'x', '-b', `redis://127.0.0.1:${port}/0`]);
  t.equal(byFlag.code, EXIT.UNAVAILABLE);
  t.match(byFlag.stderr, /\(set by --broker\)\n$/);

  const sock = join(dir, 'nobody.sock');
  const status = await run(['status', '--control-socket', sock]);
  t.equal(status.code, EXIT.UNAVAILABLE);
  t.same(lines(status.stderr), [
    `task-backend-worker: no pool is running (nothing listens on ${sock}) (socket set by --control-socket); is the worker running?`,
  ]);
});

void t.test('submit to a dead Temporal or Hatchet server: one line, exit 69, no SDK output', async (t) => {
  const port = await deadPort();
  // A well-formed Hatchet token whose claims point at the dead port (no server ever sees it).
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${b64({ alg: 'HS256' })}.${b64({ sub: 'tenant-1', grpc_broadcast_address: `127.0.0.1:${port}`, server_url: `http://127.0.0.1:${port}` })}.c2ln`; // prettier-ignore
  const [temporal, hatchet] = await Promise.all([
    run(['submit', 'add_numbers', '2', '3', '--backend', 'temporal', '--temporal-address', `127.0.0.1:${port}`]),
    run(['submit', 'add_numbers', '2', '3', '--backend', 'hatchet'], {
      env: { HATCHET_CLIENT_TOKEN: token, HATCHET_CLIENT_TLS_STRATEGY: 'none' },
    }),
  ]);
  t.equal(temporal.code, EXIT.UNAVAILABLE);
  t.same(lines(temporal.stderr), [
    `task-backend-worker: cannot reach the Temporal server at 127.0.0.1:${port} (Failed to connect before the deadline); is it running? (set by --temporal-address)`,
  ]);
  t.equal(hatchet.code, EXIT.UNAVAILABLE);
  t.same(lines(hatchet.stderr), [
    `task-backend-worker: cannot reach the Hatchet engine at 127.0.0.1:${port} (ECONNREFUSED); is it running? (set by HATCHET_CLIENT_TOKEN in the environment)`,
  ]);
  t.notMatch(hatchet.stderr, /tenant-1|c2ln/, 'never the token');
});

void t.test('submit of a name this client does not know says how to make it known', async (t) => {
  const r = await run(['submit', 'multiply', '6', '7']);
  t.equal(r.code, EXIT.USAGE);
  t.same(lines(r.stderr), [
    'task-backend-worker: unknown task "multiply": without --tasks this client knows only the built-in tasks; pass --tasks ./tasks.mjs (or TASK_MODULES) naming the module that defines it, or --any-name to send it anyway (the worker may know it)',
  ]);
  // --any-name gets past the check: it is sent (here to a dead broker, so exit 69 rather than 64).
  const port = await deadPort();
  const any = await run(['submit', 'multiply', '6', '7', '--any-name', '-b', `redis://127.0.0.1:${port}/0`]);
  t.equal(any.code, EXIT.UNAVAILABLE);
});

void t.test('--env-file and --env through npx, and --env where node itself starts the CLI', async (t) => {
  writeFileSync(join(dir, 'w.env'), 'TASK_WORKER_CONCURRENCY=3\n');
  const concurrency = /^TASK_WORKER_CONCURRENCY\s+= 3\s+# env file w\.env \(TASK_WORKER_CONCURRENCY\)$/m;
  const npx = (args: string[]): Promise<Result> =>
    exec('npx', ['--no-install', '--prefix', ROOT, 'task-backend-worker', ...args]);
  for (const flag of ['--env-file', '--env']) {
    const r = await npx([flag, 'w.env', 'config']);
    t.equal(r.code, 0, `npx ${flag}: ${r.stderr}`);
    t.match(r.stdout, concurrency, `npx ${flag} reads the file`);
  }
  // npx is npm running under node with the whole command line: Node 20 takes --env-file for itself before npm
  // starts (a missing file is node's exit 9). --env is never Node's: a missing file is our line and exit 78.
  const claimedByNpx = await npx(['--env-file', 'missing.env', 'config']);
  t.same([claimedByNpx.code, lines(claimedByNpx.stderr)], [9, ['node: missing.env: not found']]);
  const missing = await npx(['--env', 'missing.env', 'config']);
  t.equal(missing.code, EXIT.CONFIG);
  t.same(lines(missing.stderr), [
    'task-backend-worker: invalid env file "missing.env" (from --env): expected a readable env file (ENOENT)',
  ]);
  // node dist/src/cli/main.js (pm2's way): Node claims --env-file itself; --env is never Node's.
  const direct = await exec(process.execPath, [MAIN, '--env', 'w.env', 'config']);
  t.equal(direct.code, 0, direct.stderr);
  t.match(direct.stdout, concurrency);
  const claimed = await exec(process.execPath, [MAIN, '--env-file', 'missing.env', 'config']);
  t.equal(claimed.code, 9, 'why --env exists: node takes --env-file for itself');
  const directMissing = await exec(process.execPath, [MAIN, '--env', 'missing.env', 'config']);
  t.equal(directMissing.code, EXIT.CONFIG);
});
