// The CLI in-process, with its seams (supervisor, worker-entry check, task check) replaced: what reaches
// runSupervisor, what is refused before it, and the one-line errors and exit codes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import t from 'tap';
import type { WorkerConfig } from '../../src/config/types.js';
import type { HostInfo } from '../../src/config/table-types.js';
import { commandConfig, commandIo } from '../../src/cli/program.js';
import { defaultDeps, runCli, SUBCOMMANDS, wantsSubcommands, type CliDeps } from '../../src/cli/run.js';
import { BACKEND_SDKS, missingSdk } from '../../src/backends/sdk.js';
import { CELERY_CHILD_NODE_FLAGS } from '../../src/config/settings.js';

interface Run {
  code: number;
  out: string;
  err: string;
  config: WorkerConfig | null;
  applied: Record<string, string> | null;
}

async function run(
  argv: string[],
  opts: { env?: Record<string, string>; cwd?: string; deps?: Partial<CliDeps> } = {},
): Promise<Run> {
  let out = '';
  let err = '';
  let config: WorkerConfig | null = null;
  let applied: Record<string, string> | null = null;
  const host: HostInfo = {
    hostname: 'box',
    cpuCount: 4,
    stdoutIsTTY: false,
    cwd: opts.cwd ?? '/nonexistent-dir',
    tmpdir: '/tmp',
    runtimeDir: null,
    uid: 1,
  };
  const code = await runCli(
    argv,
    {
      env: opts.env ?? {},
      host,
      stdout: (s) => {
        out += s;
      },
      stderr: (s) => {
        err += s;
      },
    },
    {
      runSupervisor: async (c) => {
        config = c;
        return 0;
      },
      workerEntryExists: () => true,
      missingSdk: () => null,
      checkTasks: async () => {},
      applyEnv: (vars) => {
        applied = vars;
      },
      extraCommands: async () => [],
      ...opts.deps,
    },
  );
  return { code, out, err, config, applied };
}

void t.test('flags reach runSupervisor as a compiled config', async (t) => {
  const r = await run([
    '--backend=temporal',
    '-c',
    '3',
    '-Q',
    'a,b',
    '--tasks',
    'x.js',
    '--tasks',
    'y.js',
    '--no-builtins',
    '-E',
    '-l',
    'debug',
  ]);
  t.equal(r.code, 0, r.err);
  t.equal(r.err, '');
  t.match(r.config, {
    backend: 'temporal',
    concurrency: 3,
    queues: ['a', 'b'],
    builtins: false,
    logLevel: 'debug',
    taskModules: ['/nonexistent-dir/x.js', '/nonexistent-dir/y.js'],
    celery: { sendEvents: true },
  });
  const d = await run([]);
  t.match(
    d.config,
    { backend: 'celery', concurrency: 4, builtins: true, celery: { sendEvents: false } },
    'implicit commander defaults do not count as flags',
  );
});

void t.test('env file: ./.env by default, --env-file, TASK_ENV_FILE; variables exported to children', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tbw-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, '.env'), 'TASK_WORKER_CONCURRENCY=5\nMY_TASK_SETTING=x\n');
  await writeFile(path.join(dir, 'other.env'), 'TASK_WORKER_CONCURRENCY=6\n');
  await writeFile(path.join(dir, 'bad.env'), 'TASK_WORKER_CONCURRENCY=6\nthis is not an assignment\n');
  const a = await run([], { cwd: dir });
  t.equal(a.config?.concurrency, 5);
  t.same(a.applied, { TASK_WORKER_CONCURRENCY: '5', MY_TASK_SETTING: 'x' });
  t.equal((await run(['--env-file', 'other.env'], { cwd: dir })).config?.concurrency, 6);
  t.equal((await run([], { cwd: dir, env: { TASK_ENV_FILE: 'other.env' } })).config?.concurrency, 6);
  t.equal(
    (await run([], { cwd: dir, env: { TASK_WORKER_CONCURRENCY: '7' } })).config?.concurrency,
    7,
    'env beats env file',
  );
  t.equal(
    (await run(['-c', '8'], { cwd: dir, env: { TASK_WORKER_CONCURRENCY: '7' } })).config?.concurrency,
    8,
    'flag beats env',
  );
  const missing = await run(['--env-file', 'nope.env'], { cwd: dir });
  t.equal(missing.code, 78);
  t.equal(
    missing.err,
    'task-backend-worker: invalid env file "nope.env" (from --env-file): expected a readable env file (ENOENT)\n',
  );
  t.equal(missing.config, null, 'the supervisor never starts');
  const dirAsFile = await run(['--env-file', dir], { cwd: dir });
  t.equal(dirAsFile.code, 78);
  t.match(dirAsFile.err, /expected a readable env file \(EISDIR\)/);
  const bad = await run(['--env-file', 'bad.env'], { cwd: dir });
  t.equal(bad.code, 78);
  t.match(
    bad.err,
    /^task-backend-worker: invalid env file "bad.env" \(from --env-file\): expected KEY=VALUE lines \(line 2: expected KEY=VALUE\)\n$/,
  );
  t.equal((await run([], { cwd: '/nonexistent-dir' })).code, 0, 'no ./.env is fine');
});

void t.test('usage errors: one line, exit 64', async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ['--concurency', '3'],
      /^task-backend-worker: unknown option '--concurency' \(Did you mean --concurrency\?\) \(see task-backend-worker --help\)\n$/,
    ],
    [['-c'], /^task-backend-worker: option '-c, --concurrency <n>' argument missing/],
    [['-c', 'zero'], /^task-backend-worker: invalid --concurrency "zero": expected an integer/],
    [['--autoscale', '2,5'], /invalid --autoscale "2,5": expected max,min/],
    [['stray'], /^task-backend-worker: unknown command or argument "stray" \(see task-backend-worker --help\)\n$/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    t.equal(r.code, 64, argv.join(' '));
    t.match(r.err, re);
    t.equal(r.err.split('\n').length, 2, 'exactly one line');
    t.equal(r.config, null);
  }
});

// Shape-valid (header.payload.signature with a tenant in "sub"); no server ever sees it.
const WELL_FORMED_JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZW5hbnQtMSJ9.c2ln';

void t.test('config errors: exit 78; missing worker entry and bad task modules refused before any child', async (t) => {
  const env = await run([], { env: { TASK_BACKEND_TYPE: 'sqs' } });
  t.equal(env.code, 78);
  t.match(
    env.err,
    /invalid TASK_BACKEND_TYPE "sqs" \(from the environment\): expected one of celery, temporal, hatchet/,
  );
  const noEntry = await run(['--backend', 'hatchet'], {
    env: { HATCHET_CLIENT_TOKEN: WELL_FORMED_JWT },
    deps: { workerEntryExists: () => false },
  });
  t.equal(noEntry.code, 78);
  t.match(
    noEntry.err,
    /invalid --backend "hatchet": expected a backend built into this install \(no worker entry workers\/hatchet.js\)/,
  );
  t.equal(noEntry.config, null);
  // The SDK of the chosen backend is an optional peer dependency: absent → one line naming what to install.
  const noSdk = await run(['--backend', 'temporal'], {
    deps: {
      missingSdk: (backend, source) =>
        missingSdk(backend, source, () => {
          throw new Error('not found');
        }),
    },
  });
  t.equal(noSdk.code, 78);
  t.equal(
    noSdk.err,
    'task-backend-worker: backend "temporal" (from flag --backend) needs @temporalio/worker, @temporalio/client, ' +
      '@temporalio/activity, @temporalio/common, not installed: npm install @temporalio/worker@1.24.0 ' +
      '@temporalio/client@1.24.0 @temporalio/activity@1.24.0 @temporalio/common@1.24.0 (add -g for a global install)\n',
  );
  t.equal(noSdk.config, null, 'no pool started');
  const badTasks = await run(['--tasks', 'broken.js'], {
    deps: {
      checkTasks: async () => {
        throw new Error('cannot load broken.js:\n  SyntaxError');
      },
    },
  });
  t.equal(badTasks.code, 78);
  t.match(
    badTasks.err,
    /^task-backend-worker: task modules \/nonexistent-dir\/broken.js \(from --tasks\) did not load: Error: cannot load broken.js: SyntaxError\n$/,
  );
  const boom = await run([], {
    deps: {
      runSupervisor: async () => {
        throw new Error('kaput');
      },
    },
  });
  t.equal(boom.code, 1);
  t.equal(boom.err, 'task-backend-worker: kaput\n');
  t.equal(
    (await run([], { deps: { runSupervisor: async () => 4 } })).code,
    4,
    'the supervisor exit code is the CLI exit code',
  );
});

void t.test('--help, --version, config subcommand', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /Exit codes:/);
  const version = await run(['--version']);
  t.equal(version.code, 0);
  t.match(version.out, /^\d+\.\d+\.\d+\n$/);
  const cfg = await run(['-c', '2', 'config'], {
    env: { HATCHET_CLIENT_TOKEN: 'supersecret', CELERY_BROKER_URL: 'redis://:pw123@r/0' },
  });
  t.equal(cfg.code, 0, cfg.err);
  t.match(cfg.out, /^TASK_WORKER_CONCURRENCY\s+= 2\s+# flag --concurrency$/m);
  t.match(cfg.out, /^HATCHET_CLIENT_TOKEN\s+= \[REDACTED\]\s+# env HATCHET_CLIENT_TOKEN$/m);
  t.match(cfg.out, /^TASK_SHUTDOWN_TIMEOUT\s+= 30s\s+# default$/m, 'values as they are written in an env file');
  t.notMatch(cfg.out, /celery\.brokerUrl|shutdownTimeoutMs/, 'no internal field paths');
  t.notMatch(cfg.out, /supersecret|pw123/);
  t.equal(cfg.config, null, 'config does not start the pool');
  const json = await run(['config', '--json', '--backend', 'hatchet']);
  t.equal(json.code, 0, 'config works without credentials');
  t.match(JSON.parse(json.out), { backend: 'hatchet', hatchet: { token: null } });
});

void t.test('subcommands from other modules get the same config and I/O', async (t) => {
  let seen: WorkerConfig | null = null;
  const register = (program: Command): void => {
    program
      .command('probe')
      .option('--json')
      .action(async (_o, cmd: Command) => {
        seen = await commandConfig(cmd);
        commandIo(cmd).stdout('probed\n');
      });
  };
  const r = await run(['probe', '--backend', 'temporal', '-Q', 'q1'], {
    deps: { extraCommands: async () => [register] },
  });
  t.equal(r.code, 0, r.err);
  t.equal(r.out, 'probed\n');
  t.match(seen, { backend: 'temporal', queues: ['q1'] }, 'root flags after the subcommand name still apply');
  t.equal(r.config, null);
});

void t.test('subcommand modules load only when argv may name one or asks for help', async (t) => {
  t.same(await defaultDeps.extraCommands(['--backend', 'celery', '-c', '8']), [], 'running the pool loads none');
  t.notOk(wantsSubcommands(['-Q', 'default', '--concurrency', '2']));
  for (const argv of [
    ['list-tasks'],
    ['submit', 'add_numbers', '1', '2'],
    ['--help'],
    ['-h'],
    ['help'],
    ['-c', '2', 'status'],
  ]) {
    t.ok(wantsSubcommands(argv), argv.join(' '));
  }
  // SUBCOMMANDS is the list the loader trusts: it must name exactly what the loaded modules register.
  const program = new Command();
  for (const register of await defaultDeps.extraCommands(['--help'])) register(program);
  t.same(program.commands.map((c) => c.name()).sort(), [...SUBCOMMANDS].sort());
  const help = await run(['--help'], { deps: { extraCommands: defaultDeps.extraCommands } });
  for (const name of SUBCOMMANDS) t.match(help.out, name, `--help lists ${name}`);
  const typo = await run(['lsit-tasks'], { deps: { extraCommands: defaultDeps.extraCommands } });
  t.equal(typo.code, 64, 'a misspelt subcommand is still a usage error');
  t.match(typo.err, /unknown command or argument "lsit-tasks"/);
});

void t.test(
  'backend SDKs: the check resolves the real packages here, and its versions are the package peers',
  async (t) => {
    for (const backend of ['celery', 'temporal', 'hatchet'] as const) {
      t.equal(missingSdk(backend, 'default'), null, `${backend}: its SDK resolves in this checkout`);
    }
    const pkg = JSON.parse(await (await import('node:fs/promises')).readFile('package.json', 'utf8')) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies: Record<string, string>;
    };
    const listed = Object.values(BACKEND_SDKS).flat();
    t.same(
      Object.fromEntries(listed.map((s) => [s.pkg, s.version])),
      pkg.peerDependencies,
      'every backend SDK is a peer dependency, same version',
    );
    for (const s of listed) {
      t.equal(pkg.peerDependenciesMeta[s.pkg]?.optional, true, `${s.pkg} is optional`);
      t.notOk(s.pkg in pkg.dependencies, `${s.pkg} is not a hard dependency`);
    }
    const hatchetOnly = missingSdk('hatchet', 'env TASK_BACKEND_TYPE', (e) => {
      if (e.startsWith('@hatchet-dev/')) throw new Error('not found');
      return e;
    });
    t.equal(
      hatchetOnly,
      'backend "hatchet" (from env TASK_BACKEND_TYPE) needs @hatchet-dev/typescript-sdk, not installed: ' +
        'npm install @hatchet-dev/typescript-sdk@1.33.2 (add -g for a global install)',
    );
  },
);

void t.test('--child-node-flags: default per backend, replaced by the user, checked with node', async (t) => {
  const celery = await run([]);
  t.equal(celery.config?.childNodeFlags, CELERY_CHILD_NODE_FLAGS, 'celery children get the smaller inlining budget');
  t.equal((await run(['--backend', 'temporal'])).config?.childNodeFlags, null, 'temporal: none');
  const hatchet = await run(['config', '--json', '--backend', 'hatchet']);
  t.equal((JSON.parse(hatchet.out) as WorkerConfig).childNodeFlags, null, 'hatchet: none');
  const none = await run([], { env: { TASK_CHILD_NODE_FLAGS: 'none' } });
  t.equal(none.code, 0, none.err);
  t.equal(none.config?.childNodeFlags, null, '"none" = V8 defaults');
  const own = await run(['--child-node-flags', '--max-semi-space-size=32  --stack-trace-limit=20']);
  t.equal(own.code, 0, own.err);
  t.equal(own.config?.childNodeFlags, '--max-semi-space-size=32  --stack-trace-limit=20', 'replaces the default');

  const word = await run(['--child-node-flags', '--stack-trace-limit=20 max-semi-space-size=32']);
  t.equal(word.code, 64, 'a bad flag value is a usage error');
  t.equal(word.config, null, 'the pool never starts');
  t.match(word.err, /invalid --child-node-flags ".*": expected flags node accepts, space-separated/);
  t.match(word.err, /"max-semi-space-size=32" is not a flag/);

  const bad = await run([], { env: { TASK_CHILD_NODE_FLAGS: '--no-such-v8-flag-here' } });
  t.equal(bad.code, 78, 'from the environment: a configuration error');
  t.equal(bad.config, null);
  t.match(bad.err, /invalid TASK_CHILD_NODE_FLAGS "--no-such-v8-flag-here" \(from the environment\)/);
  t.match(bad.err, /bad option: --no-such-v8-flag-here/, "node's own words");
});
