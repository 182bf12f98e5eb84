// scripts/provision.sh, the installer behind the README's two commands: a no-op (exit 0) when everything is
// there, and, as a user who can neither be root nor use sudo, the exact commands to run and exit 78.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { ROOT } from './_helpers.js';

const execFileP = promisify(execFile);
const SCRIPT = join(ROOT, 'scripts', 'provision.sh');
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));

function run(cmd: string, args: string[], env: Record<string, string | undefined>, cwd?: string) {
  return execFileP(cmd, args, { env, cwd, timeout: 120_000 }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => e,
  );
}

void t.test('everything present: both modes succeed without installing anything', async (t) => {
  for (const mode of ['dev', 'test']) {
    const r = await run('bash', [SCRIPT, mode], cleanEnv);
    t.equal(r.code, 0, `${mode}: ${r.stderr}`);
    t.notMatch(r.stderr, /installing|npm ci/, `${mode}: nothing to install`);
    t.match(r.stderr, mode === 'dev' ? /ready for npm run dev/ : /ready for npm test: go1\.\d+/);
  }
});

void t.test('a missing package without root or sudo: the exact commands, exit 78', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-prov-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A copy of the script nobody can read (the clone may live under /root, mode 0700); in dev mode it stops at the
  // package check, before it needs anything else of the repository.
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(SCRIPT, join(dir, 'scripts', 'provision.sh'));
  // A dpkg-query that knows no package.
  writeFileSync(join(dir, 'dpkg-query'), '#!/bin/sh\nexit 1\n');
  chmodSync(join(dir, 'dpkg-query'), 0o755);
  const path = `${dir}:${join(process.execPath, '..')}:/usr/bin:/bin`;
  const env = { PATH: path, HOME: dir };
  // As nobody: not root, and sudo (if installed at all) cannot run without a password or a terminal.
  const r = await run(
    '/usr/sbin/runuser',
    ['-u', 'nobody', '--', 'env', `PATH=${path}`, `HOME=${dir}`, 'bash', join(dir, 'scripts', 'provision.sh'), 'dev'],
    env,
    dir,
  );
  t.equal(r.code, EXIT.CONFIG);
  t.equal(
    r.stderr,
    'provision: missing: redis-server; installing them needs root. Run as root, then the same npm command again:\n' +
      '  apt-get update\n' +
      '  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server\n',
  );
});
