// Black box: the built binary (bin/task-backend-worker → dist/src/cli/main.js) as users run it. Bad input → the
// documented exit code and exactly one stderr line, never a secret; --help lists every setting, signal and exit
// code; and one real run: env file exported to the children, JSON logs without secrets, TERM to the whole
// process group → clean exit and no process left.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { longFlag } from '../../src/config/compile.js';
import { SETTINGS } from '../../src/config/settings.js';
import { EXIT } from '../../src/exit-codes.js';
import { alive, fixture, ROOT, until } from './_helpers.js';

const BIN = join(ROOT, 'bin', 'task-backend-worker');
const SECRETS = ['hunter2', 'tok-very-secret', 'apikey-very-secret'];
// As users run it: none of the caller's TASK_*/CELERY_* settings, and no tap loaders — tap's processinfo injects
// NODE_OPTIONS into every child it spawns, so the binary is started through `env -u NODE_OPTIONS` (which keeps
// NODE_CHANNEL_FD, the IPC channel pm2-style readiness uses).
const BASE_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
};
const viaEnv = (args: string[]): string[] => ['-u', 'NODE_OPTIONS', BIN, ...args];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const env = { ...BASE_ENV, ...opts.env };
    execFile('/usr/bin/env', viaEnv(args), { env, cwd: opts.cwd ?? dir, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tbw-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'bad.env'), 'TASK_WORKER_CONCURRENCY=2\nthis line is not an assignment\n');
const badDotEnv = mkdtempSync(join(dir, 'dotenv-'));
writeFileSync(join(badDotEnv, '.env'), 'CELERY_BROKER_URL=kafka://user:hunter2@rabbit//\n');

void t.test('--version and --help', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await run(['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout, `${pkg.version}\n`);
  const h = await run(['--help']);
  t.equal(h.code, 0);
  t.equal(h.stderr, '');
  for (const row of SETTINGS) {
    if (row.flag !== undefined) t.ok(h.stdout.includes(longFlag(row.flag)), `--help lists ${longFlag(row.flag)}`);
    for (const env of row.env) t.ok(h.stdout.includes(env), `--help lists ${env}`);
  }
  for (const sig of ['TERM', 'QUIT', 'HUP', 'TTIN', 'TTOU', 'USR2'])
    t.match(h.stdout, new RegExp(`^  .*${sig}.*  `, 'm'), `signal ${sig}`);
  for (const code of Object.values(EXIT)) t.match(h.stdout, new RegExp(`^  ${code}\\s+\\S`, 'm'), `exit code ${code}`);
  for (const cmd of ['config', 'list-tasks', 'submit', 'status'])
    t.match(h.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `command ${cmd}`);
});

void t.test('bad input: one line on stderr, the documented exit code, no secret', async (t) => {
  const cases: {
    name: string;
    args: string[];
    env?: Record<string, string>;
    cwd?: string;
    code: number;
    line: RegExp;
  }[] = [
    { name: 'unknown flag', args: ['--concurency', '3'], code: 64, line: /unknown option '--concurency'/ },
    { name: 'unknown command', args: ['frobnicate'], code: 64, line: /unknown command or argument "frobnicate"/ },
    { name: 'flag without value', args: ['--backend'], code: 64, line: /option '--backend <name>' argument missing/ },
    {
      name: 'unknown backend (flag)',
      args: ['--backend', 'sqs'],
      code: 64,
      line: /invalid --backend "sqs": expected one of celery, temporal, hatchet/,
    },
    {
      name: 'unknown backend (env)',
      args: [],
      env: { TASK_BACKEND_TYPE: 'sqs' },
      code: 78,
      line: /invalid TASK_BACKEND_TYPE "sqs" \(from the environment\)/,
    },
    {
      name: 'concurrency 0',
      args: ['--concurrency', '0'],
      code: 64,
      line: /invalid --concurrency "0": expected an integer from 1/,
    },
    {
      name: 'autoscale max<min',
      args: ['--autoscale', '2,5'],
      code: 64,
      line: /invalid --autoscale "2,5": expected max,min/,
    },
    {
      name: 'bad duration (env)',
      args: [],
      env: { TASK_SHUTDOWN_TIMEOUT: 'soon' },
      code: 78,
      line: /invalid TASK_SHUTDOWN_TIMEOUT "soon" \(from the environment\): expected a duration/,
    },
    { name: 'bad size', args: ['--max-memory-per-child', 'lots'], code: 64, line: /expected a size such as 512MiB/ },
    {
      name: 'unreadable env file',
      args: [],
      env: { TASK_ENV_FILE: join(dir, 'missing.env') },
      code: 78,
      line: /invalid env file ".*missing.env" \(from TASK_ENV_FILE\): expected a readable env file \(ENOENT\)/,
    },
    // Node 20 itself would claim this flag (exit 9); the launcher hands it to the CLI.
    {
      name: 'missing env file (flag)',
      args: ['--env-file', 'missing.env'],
      code: 78,
      line: /invalid env file "missing.env" \(from --env-file\): expected a readable env file \(ENOENT\)/,
    },
    {
      name: 'missing env file (--env-file=)',
      args: ['--env-file=missing.env'],
      code: 78,
      line: /invalid env file "missing.env" \(from --env-file\)/,
    },
    {
      name: 'env file that does not parse',
      args: ['--env-file', 'bad.env'],
      code: 78,
      line: /invalid env file "bad.env" \(from --env-file\): expected KEY=VALUE lines \(line 2/,
    },
    {
      name: 'bad URL with a password in ./.env',
      args: [],
      cwd: badDotEnv,
      code: 78,
      line: /invalid CELERY_BROKER_URL "kafka:\/\/user:\*\*\*@rabbit\/\/" \(from env file .env\): expected a URL/,
    },
    {
      name: 'bad URL with a password (flag)',
      args: ['--result-backend', 'http://:hunter2@x'],
      code: 64,
      line: /"http:\/\/:\*\*\*@x"/,
    },
    {
      name: 'hatchet without a token',
      args: ['--backend', 'hatchet'],
      code: 78,
      line: /missing HATCHET_CLIENT_TOKEN: expected an API token/,
    },
    {
      name: 'missing task module',
      args: ['--tasks', './no-such-tasks.js'],
      env: { HATCHET_CLIENT_TOKEN: 'tok-very-secret' },
      code: 78,
      line: /task module .*no-such-tasks.js \(from --tasks\): file not found$/m,
    },
  ];
  const results = await Promise.all(cases.map((c) => run(c.args, { env: c.env ?? {}, cwd: c.cwd ?? dir })));
  cases.forEach((c, i) => {
    const r = results[i] as Result;
    t.equal(r.code, c.code, `${c.name}: exit ${c.code}`);
    t.match(r.stderr, /^task-backend-worker: [^\n]+\n$/, `${c.name}: exactly one line`);
    t.match(r.stderr, c.line, `${c.name}: ${r.stderr.trim()}`);
    t.equal(r.stdout, '', `${c.name}: nothing on stdout`);
    for (const s of SECRETS) t.notOk(r.stderr.includes(s), `${c.name}: no secret`);
  });
});

void t.test('config: where each value came from, secrets redacted', async (t) => {
  const r = await run(['config', '-c', '3'], {
    env: {
      HATCHET_CLIENT_TOKEN: 'tok-very-secret',
      TEMPORAL_API_KEY: 'apikey-very-secret',
      CELERY_BROKER_URL: 'redis://:hunter2@r:6379/0',
    },
  });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^TASK_WORKER_CONCURRENCY\s+= 3\s+# flag --concurrency$/m);
  t.match(r.stdout, /^CELERY_BROKER_URL\s+= redis:\/\/:\*\*\*@r:6379\/0\s+# env CELERY_BROKER_URL$/m);
  for (const s of SECRETS) t.notOk(r.stdout.includes(s), `no ${s}`);
});

/** Processes whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

void t.test('a real run: env file reaches the children, logs carry no secret, TERM to the group exits 0', async (t) => {
  const cwd = mkdtempSync(join(dir, 'run-'));
  writeFileSync(
    join(cwd, '.env'),
    [
      'TASK_WORKER_CONCURRENCY=2',
      'TASK_LOG_LEVEL=debug',
      'MY_TASK_SETTING=from-env-file',
      'CELERY_BROKER_URL=redis://:hunter2@127.0.0.1:1/0',
      'HATCHET_CLIENT_TOKEN=tok-very-secret',
    ].join('\n'),
  );
  const args = ['--heartbeat-interval', '200ms', '--control-socket', join(cwd, 'ctl.sock')];
  // `env` execs the binary, so the pid stays the supervisor's and the IPC channel reaches it.
  const child = spawn('/usr/bin/env', viaEnv(args), {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...BASE_ENV, TBW_WORKER_ENTRY: fixture('ok') },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const pid = child.pid as number;
  t.teardown(() => {
    if (alive(pid)) process.kill(-pid, 'SIGKILL');
  });
  // pm2-style readiness: the supervisor says 'ready' on its IPC channel once every child is ready.
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => {
      if (m === 'ready') resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code} before ready: ${out}`)));
  });
  const kids = childrenOf(pid);
  t.equal(kids.length, 2, 'concurrency from the env file');
  for (const k of kids) {
    const environ = readFileSync(`/proc/${k}/environ`, 'utf8').split('\0');
    t.ok(environ.includes('MY_TASK_SETTING=from-env-file'), `child ${k} sees the env file`);
  }
  process.kill(-pid, 'SIGTERM'); // the whole group, as Ctrl-C or systemd would
  t.equal(await exited, 0, 'clean warm shutdown');
  await until(() => kids.every((k) => !alive(k)), 5000, 'children gone');
  const lines = out.trim().split('\n');
  t.ok(lines.length > 0);
  t.ok(
    lines.every((l) => {
      try {
        JSON.parse(l);
        return true;
      } catch {
        return false;
      }
    }),
    'JSON logs when not on a TTY',
  );
  for (const s of SECRETS) t.notOk(out.includes(s), `no ${s} in the logs`);
});
