// The control socket's directory check: what it accepts (ours, 0700, or a symlink of ours to such a directory) and
// what it refuses (writable by others, directly or through a symlink; not a directory).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ControlSocketUnsafe, ensureSocketDir } from '../../src/ops/control-socket.js';

const root = mkdtempSync(join(tmpdir(), 'tbw-sockdir-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const uid = process.getuid?.() ?? null;

void t.test('a missing directory is created 0700', async (t) => {
  const dir = join(root, 'fresh', 'sub');
  ensureSocketDir(dir, uid);
  const { statSync } = await import('node:fs');
  t.equal(statSync(dir).mode & 0o777, 0o700);
});

void t.test('a directory others can write is refused, naming its mode', async (t) => {
  const dir = join(root, 'open');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  t.throws(() => ensureSocketDir(dir, uid), { name: ControlSocketUnsafe.name, message: /mode 777/ });
});

void t.test('a symlink of ours is judged by its target', async (t) => {
  const safe = join(root, 'safe');
  mkdirSync(safe, { mode: 0o755 });
  symlinkSync(safe, join(root, 'to-safe'));
  t.doesNotThrow(() => ensureSocketDir(join(root, 'to-safe'), uid), 'a link to a directory only we can write');
  symlinkSync(join(root, 'open'), join(root, 'to-open'));
  t.throws(() => ensureSocketDir(join(root, 'to-open'), uid), { message: /writable by its group or others/ });
});

void t.test('a file where the directory should be is refused', async (t) => {
  const f = join(root, 'file');
  writeFileSync(f, '');
  t.throws(() => ensureSocketDir(f, uid));
});

void t.test('a directory of another user is refused, naming both uids', async (t) => {
  const dir = join(root, 'theirs');
  mkdirSync(dir, { mode: 0o700 });
  t.throws(() => ensureSocketDir(dir, 4242), { message: /not to this user \(uid 4242\)/ });
});
