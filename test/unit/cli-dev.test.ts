// `dev` prints a submit command that runs as printed: the bare name only when PATH finds this very install.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { selfCommand } from '../../src/cli/dev.js';

void t.test('selfCommand: name on PATH only for this install, else a path from the cwd', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-self-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clone = join(dir, 'clone');
  mkdirSync(join(clone, 'bin'), { recursive: true });
  const launcher = join(clone, 'bin', 'task-backend-worker');
  writeFileSync(launcher, '#!/bin/sh\n');
  chmodSync(launcher, 0o755);
  const other = join(dir, 'other-bin');
  mkdirSync(other);
  writeFileSync(join(other, 'task-backend-worker'), '#!/bin/sh\n');
  chmodSync(join(other, 'task-backend-worker'), 0o755);
  const global = join(dir, 'global-bin');
  mkdirSync(global);
  symlinkSync(launcher, join(global, 'task-backend-worker'));

  t.equal(selfCommand(launcher, '/usr/bin', clone), './bin/task-backend-worker', 'from the clone root');
  t.equal(selfCommand(launcher, '/usr/bin', join(clone, 'bin')), './task-backend-worker');
  t.equal(selfCommand(launcher, '/usr/bin', join(dir, 'elsewhere')), launcher, 'outside the clone: absolute');
  t.equal(selfCommand(launcher, other, clone), './bin/task-backend-worker', 'another install on PATH is not ours');
  t.equal(
    selfCommand(launcher, `${other}:${global}`, dir),
    './clone/bin/task-backend-worker',
    'PATH finds the other first',
  );
  t.equal(selfCommand(launcher, global, dir), 'task-backend-worker', 'a global install of this package: its name');
});
