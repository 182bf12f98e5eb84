#!/usr/bin/env node
// Brings node_modules in line with package-lock.json (`npm ci`) when they are missing or differ from it, so lint,
// the type-check, the format check and the tests work from a fresh clone; when they match it only reads the two
// lock files (tens of milliseconds). "Match": npm's own record of what it installed (node_modules/.package-lock.json)
// has every non-optional package of the lock file at the locked version, and nothing the lock file lacks.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function packages(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8')).packages ?? null;
  } catch {
    return null;
  }
}

export function inSync(locked, installed) {
  if (locked === null || installed === null) return false;
  for (const [path, entry] of Object.entries(locked)) {
    if (path === '' || entry.optional === true) continue;
    if (installed[path]?.version !== entry.version) return false;
  }
  return Object.keys(installed).every((path) => path in locked);
}

const locked = packages(join(root, 'package-lock.json'));
if (locked === null) {
  console.error('scripts/node-modules.mjs: package-lock.json is missing or unreadable');
  process.exit(1);
}
if (!inSync(locked, packages(join(root, 'node_modules', '.package-lock.json')))) {
  console.error('node_modules missing or not as package-lock.json says: npm ci');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}
