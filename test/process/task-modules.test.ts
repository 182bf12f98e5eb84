// Task modules anywhere, through the built binary: a module outside any project imports 'task-backend-worker'
// (resolved to this install), TypeScript modules load where Node (or a loader) can, else one line says how.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { ROOT } from './_helpers.js';

const execFileP = promisify(execFile);
const BIN = join(ROOT, 'bin', 'task-backend-worker');
// As users run it: without tap's loaders (NODE_OPTIONS).
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));

async function listTasks(file: string, env: Record<string, string | undefined> = cleanEnv, cwd = tmpdir()) {
  return execFileP(BIN, ['list-tasks', '--no-builtins', '--tasks', file], { env, cwd, timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

const SOURCE = (name: string, annotate: boolean) => `import { defineTask } from 'task-backend-worker';
const factor${annotate ? ': number' : ''} = 2;
export const ${name} = defineTask({ name: '${name}', async run([x]${annotate ? ': unknown[]' : ''}) { return Number(x) * factor; } });
`;

void t.test('a module outside any project imports the package it is loaded by', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-anywhere-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tasks.mjs'), SOURCE('double', false));
  const r = await listTasks(join(dir, 'tasks.mjs'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^double\s+task/m);
  // A genuinely missing package is still an error naming it (the hook maps only this package).
  writeFileSync(join(dir, 'other.mjs'), `import x from 'no-such-package-tbw';\nexport default x;\n`);
  const bad = await listTasks(join(dir, 'other.mjs'));
  t.equal(bad.code, EXIT.CONFIG);
  t.match(bad.stderr, /Cannot find package 'no-such-package-tbw'/);
});

void t.test(
  'TypeScript task modules: loaded where Node strips types or a loader is given, else one line',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tbw-anywhere-ts-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'tasks.mts'), SOURCE('triple', true));
    const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
    const plain = await listTasks(join(dir, 'tasks.mts'));
    if (stripsTypes) {
      t.equal(plain.code, 0, `Node ${process.version} strips types: ${plain.stderr}`);
      t.match(plain.stdout, /^triple\s+task/m);
    } else {
      t.equal(plain.code, EXIT.CONFIG, `Node ${process.version} has no type stripping`);
      t.equal(plain.stderr.split('\n').length, 2, 'one line');
      t.match(
        plain.stderr,
        new RegExp(`Node ${process.version.replace(/\./g, '\\.')} cannot load TypeScript: use Node >= 22\\.18`),
      );
    }
    // With a TypeScript loader (tsx, a devDependency here, resolved from the cwd) it loads on any Node.
    const withTsx = await listTasks(join(dir, 'tasks.mts'), { ...cleanEnv, NODE_OPTIONS: '--import tsx' }, ROOT);
    t.equal(withTsx.code, 0, withTsx.stderr);
    t.match(withTsx.stdout, /^triple\s+task/m);
  },
);
