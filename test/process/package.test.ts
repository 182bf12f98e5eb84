// The npm package as users get it: packed from a copy of the tree without dist/ (so `prepack` must build),
// installed into a temporary app (`npm i <tgz>`) and globally (`npm i -g --prefix`), run with a task module that
// lives outside both, and a Celery task end to end through the installed binary on a real Redis, submitted by the
// real Python Celery client. Also: what the tarball lists, and that every runtime dependency is imported by dist/.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { startRedis } from '../helpers/redis.js';
import { ROOT } from './_helpers.js';

const execFileP = promisify(execFile);
const VENV_PYTHON = join(ROOT, '.tbw', 'venv', 'bin', 'python');
// As users run it: without tap's loaders (NODE_OPTIONS) and npm's script variables.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('npm_') && k !== 'INIT_CWD'),
);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

t.setTimeout(420_000);

function run(cmd: string, args: string[], cwd: string, timeout = 180_000) {
  return execFileP(cmd, args, { cwd, env: cleanEnv, timeout, maxBuffer: 32 << 20 });
}

/** `npm pack --dry-run --json` of the tree as it is (dist/ already built by `npm test`): the file list. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  const [info] = JSON.parse(stdout) as { files: { path: string }[] }[];
  return (info?.files ?? []).map((f) => f.path);
}

void t.test(
  'npm pack lists the runtime only: no bench, no test helpers, no source maps; README links resolve',
  async (t) => {
    const files = await packedFiles();
    const offending = files.filter(
      (f) => /^(bench|test)\//.test(f) || /^dist\/(bench|test)\//.test(f) || f.endsWith('.map'),
    );
    t.same(offending, [], 'nothing from bench/ or test/, no maps');
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/task-backend-worker',
      'dist/src/cli/main.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/workers/celery.js',
      'dist/temporal/workflow-bundle.js',
      'deploy/task-backend-worker.service',
      'ecosystem.config.cjs',
      'sample.env',
      'docs/operations.md',
    ]) {
      t.ok(files.includes(f), `ships ${f}`);
    }
    // Every relative link of the README must be a file in the package (npm shows the README without the repo).
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1] as string)
      .filter((l) => !/^[a-z]+:/.test(l));
    t.ok(links.length > 5, `README has relative links (${links.length})`);
    t.same(
      links.filter((l) => !files.includes(l)),
      [],
      'every relative README link is shipped',
    );
  },
);

/** Bare specifiers imported by a JS file: static and dynamic imports, and createRequire(...)('x') calls. */
function importedPackages(text: string): Set<string> {
  // Whole-line comments (// and JSDoc) may quote imports; code never starts a line that way.
  const code = text
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\/\*|\*)/.test(l))
    .join('\n');
  const out = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\)\s*\(\s*|\brequire\s*\(\s*)['"]([^'"./][^'"]*)['"]/g;
  for (const m of code.matchAll(re)) {
    const spec = m[1] as string;
    if (spec.startsWith('node:')) continue;
    const parts = spec.split('/');
    out.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string));
  }
  return out;
}

void t.test(
  'every runtime dependency is imported by the shipped code, which imports only declared packages',
  async (t) => {
    // The JS the package ships (the prebuilt workflow bundle is self-contained webpack output: not scanned).
    const files = (await packedFiles()).filter((f) => f.endsWith('.js') && !f.startsWith('dist/temporal/'));
    t.ok(files.length > 50, `scanned ${files.length} shipped files`);
    const imported = new Set<string>();
    for (const f of files) for (const p of importedPackages(readFileSync(join(ROOT, f), 'utf8'))) imported.add(p);
    for (const dep of Object.keys(PKG.dependencies)) t.ok(imported.has(dep), `${dep} is imported at run time`);
    const declared = new Set([...Object.keys(PKG.dependencies), ...Object.keys(PKG.peerDependencies)]);
    t.same([...imported].filter((p) => !declared.has(p)).sort(), [], 'no undeclared import');
    // The scanner itself has teeth.
    t.same(
      [
        ...importedPackages(
          `// import x from 'c'\nimport a from 'x'; await import('@s/y/z'); createRequire(u)('w'); import 'node:fs';`,
        ),
      ].sort(),
      ['@s/y', 'w', 'x'],
    );
  },
);

void t.test(
  'packed from a tree without dist/, installed in an app and globally, runs tasks from anywhere',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-pkg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));

    // A copy of the tracked tree (what a clean clone has): no dist/, so only prepack can build it.
    const tree = join(dir, 'tree');
    const { stdout: listed } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
    for (const rel of listed.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)))) {
      mkdirSync(dirname(join(tree, rel)), { recursive: true });
      cpSync(join(ROOT, rel), join(tree, rel));
    }
    t.notOk(existsSync(join(tree, 'dist')), 'the copy has no dist/');
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
    const { stdout: packOut } = await run('npm', ['pack', '--json', '--pack-destination', dir], tree, 300_000);
    const [packed] = JSON.parse(packOut.slice(packOut.indexOf('['))) as { filename: string }[];
    const tgz = join(dir, packed?.filename ?? 'missing.tgz');
    t.ok(existsSync(tgz), `prepack built and npm pack wrote ${relative(dir, tgz)}`);

    // A task module outside the app and outside the global prefix.
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    const tasks = join(elsewhere, 'tasks.mjs');
    writeFileSync(
      tasks,
      `import { defineTask } from 'task-backend-worker';\n` +
        `export const mul = defineTask({ name: 'pkg_mul', async run([a, b]) { return a * b; } });\n`,
    );

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tgz], app);
    const appBin = join(app, 'node_modules', '.bin', 'task-backend-worker');
    const list = await run(appBin, ['list-tasks', '--tasks', tasks], app);
    t.match(list.stdout, /^pkg_mul\s+task/m, 'app install: list-tasks loads a module living outside the app');
    t.match(list.stdout, /^add_numbers\s+task/m, 'built-ins too');
    t.notOk(existsSync(join(app, 'node_modules', '@temporalio')), 'the Temporal SDK is not installed by default');
    t.notOk(existsSync(join(app, 'node_modules', 'celery-node')), 'celery-node (a benchmark anchor) is not installed');
    const noSdk = await run(appBin, ['--backend', 'temporal'], app).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    t.equal(noSdk.code, EXIT.CONFIG, '--backend temporal without its SDK: exit 78');
    t.match(
      noSdk.stderr,
      /^task-backend-worker: backend "temporal" \(from flag --backend\) needs @temporalio\/worker.*npm install @temporalio\/worker@1\.24\.0/,
    );
    t.equal(noSdk.stderr.split('\n').length, 2, 'one line');

    const prefix = join(dir, 'global');
    await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tgz], dir);
    const globalBin = join(prefix, 'bin', 'task-backend-worker');
    const glist = await run(globalBin, ['list-tasks', '--no-builtins', '--tasks', tasks], elsewhere);
    t.match(glist.stdout, /^pkg_mul\s+task/m, 'global install: the same module loads');

    // End to end through the globally installed binary: a real Redis, a real Python Celery client.
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const pool = spawn(
      globalBin,
      ['-c', '1', '--tasks', tasks, '-b', redis.url, '--log-format', 'json', '-n', `pkg-test-${process.pid}@localhost`],
      {
        cwd: elsewhere,
        env: { ...cleanEnv, TASK_CONTROL_SOCKET: join(dir, 'pool.sock') },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = once(pool, 'exit');
    t.teardown(() => {
      pool.kill('SIGKILL');
    });
    const running = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the installed pool did not reach running within 60 s')), 60_000);
      createInterface({ input: pool.stdout }).on('line', (line) => {
        if (line.includes('"msg":"pool state changed"') && line.includes('"to":"running"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => reject(new Error('the installed pool exited before running')));
    });
    await running;
    const py = await run(
      VENV_PYTHON,
      [
        '-c',
        "import sys; from celery import Celery; app = Celery(broker=sys.argv[1], backend=sys.argv[1]); print(app.send_task('pkg_mul', args=[6, 7]).get(timeout=30))",
        redis.url,
      ],
      dir,
      60_000,
    );
    t.equal(
      py.stdout.trim(),
      '42',
      'Python Celery got the result of the outside module task run by the installed pool',
    );
    const viaSubmit = await run(
      globalBin,
      ['submit', 'pkg_mul', '3', '5', '--wait', '-b', redis.url, '--tasks', tasks],
      dir,
    );
    t.match(viaSubmit.stdout, /^15$/m, 'and the installed submit runs it end to end');
    pool.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    t.equal(code, EXIT.OK, 'warm shutdown');
  },
);
