// The child runtime loads the backend module before `init` arrives (so it overlaps the IPC round trip and the
// task-module load). A module that fails that early must still be a boot failure (fatal, exit 3, no restart
// loop), never an unhandled rejection that reads as a crash.
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { byMsg, ROOT, startPool } from './_helpers.js';

void t.test('a backend module that cannot load before init → EXIT.BOOT_FAILURE with the reason', async (t) => {
  const p = startPool(
    t,
    'ok',
    { concurrency: 2 },
    { workerEntry: join(ROOT, 'test', 'process', 'supervisor-badload-child.mjs') },
  );
  t.equal(await p.h.done, EXIT.BOOT_FAILURE);
  const fatal = p.lines.filter((l) => l.level === 60 && l.msg === 'pool giving up');
  t.equal(fatal.length, 1, 'one fatal line');
  t.match(String(fatal[0]?.reason), /cannot boot \(Error: Cannot find module .*no-such-backend-module/);
  t.notOk(p.lines.some(byMsg('unhandled rejection')), 'no unhandled rejection in the child');
  t.ok(p.pids.length <= 2, `no restart (forked ${p.pids.length})`);
});
