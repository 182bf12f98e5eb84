// Real processes: start → ready, a crash replaced with a new pid, warm shutdown → exit 0 with no child left.
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { alive, byMsg, startPool, tmp, until } from './_helpers.js';

void t.test('pool becomes ready, replaces a crashed child, shuts down warm with exit 0', async (t) => {
  const once = join(tmp(), 'crashed');
  const p = startPool(
    t,
    'crash-later',
    { concurrency: 2 },
    { env: { ...process.env, FAKE_ONCE_FILE: once, FAKE_CRASH_AFTER_MS: '300' } },
  );
  await p.seen('ready');
  const crash = await p.waitFor(byMsg('child exited unexpectedly'));
  t.equal(crash.code, 1, 'crash exit code logged');
  t.match(String(crash.hint), /uncaught error/);
  const slot = crash.child as number;
  await p.waitFor(byMsg('child ready', (l) => l.child === slot && l.gen !== crash.gen));
  const snap = p.h.snapshot();
  t.equal(snap.phase, 'running');
  t.equal(snap.children.length, 2);
  const replaced = snap.children.find((c) => c.index === slot);
  t.equal(replaced?.restarts, 1, 'snapshot counts the restart');
  t.equal(replaced?.state, 'ready');
  t.not(replaced?.pid, crash.pid, 'a new process');
  t.notOk(alive(crash.pid as number), 'crashed child is gone');
  t.ok(
    p.lines.some((l) => l.msg === 'fake crash after ready' || (l.msg === 'uncaught exception' && l.child === slot)),
    'the child’s own fatal line was relayed',
  );

  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
  t.same(p.lifecycle, ['ready', 'stopping']);
  t.equal(p.lines.filter((l) => l.msg === 'child drained').length, 2, 'both children drained');
  t.ok(
    p.pids.every((pid) => !alive(pid)),
    'no child left',
  );
});

void t.test('heartbeats reach the snapshot', async (t) => {
  const p = startPool(
    t,
    'ok',
    { concurrency: 1, heartbeatIntervalMs: 50 },
    { env: { ...process.env, FAKE_TASK_EVERY_MS: '20' } },
  );
  await p.seen('ready');
  const c = await until(
    () => p.h.snapshot().children.find((x) => (x.processed ?? 0) > 0),
    10_000,
    'heartbeat in snapshot',
  );
  t.ok((c.rss ?? 0) > 10 * 1024 * 1024, 'rss reported in bytes');
  t.ok(c.lastHeartbeatAt !== null);
  p.signals.emit('SIGINT');
  t.equal(await p.h.done, EXIT.OK, 'SIGINT from the signal source stops warm');
});
